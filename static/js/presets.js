// presets.js — the lecture's experiments as JobSpecs. Single presets fill the training form;
// comparison presets submit several jobs at once and open the comparison overlay. MNIST
// presets use a few thousand samples and few epochs so that they finish in seconds to tens
// of seconds on a small machine.

const deep = (units, layers) => Array(layers).fill(units);
const small = { dataset: 'mnist', train_samples: 10000, validation_split: 0.1, epochs: 5 };

export const SINGLE = {
  xor: {
    title: 'XOR with a small MLP',
    about: 'The 4-row XOR table, which no single perceptron can fit: 8 tanh units learn it.',
    spec: { dataset: 'xor', hidden_layers: [8], activation: 'tanh', init: 'xavier', optimizer: 'adam',
      learning_rate: 0.05, batch_size: 4, epochs: 300, validation_split: 0, seed: 7 },
  },
  softmax: {
    title: 'Softmax regression 784→10',
    about: 'No hidden layer: logits z = Wx + b and a softmax, the lecture’s MNIST baseline.',
    spec: { ...small, hidden_layers: [], optimizer: 'adam', learning_rate: 0.001, batch_size: 128 },
  },
  mlp: {
    title: 'MNIST MLP 784-128-10',
    about: 'One ReLU hidden layer with He initialization and Adam: a good digit reader in seconds.',
    spec: { ...small, hidden_layers: [128], activation: 'relu', init: 'he', optimizer: 'adam', learning_rate: 0.001 },
  },
  spiral: {
    title: 'Two spirals (2-D)',
    about: 'A toy set whose decision boundary you can look at in the lecture corner.',
    spec: { dataset: 'spiral', hidden_layers: [32, 32], activation: 'relu', optimizer: 'adam', learning_rate: 0.01,
      batch_size: 32, epochs: 200, validation_split: 0.1 },
  },
  circle: {
    title: 'Circle (2-D)',
    about: 'Inside versus outside a circle: needs a curved boundary, so at least one hidden layer.',
    spec: { dataset: 'circle', hidden_layers: [16], activation: 'tanh', init: 'xavier', optimizer: 'adam',
      learning_rate: 0.02, batch_size: 32, epochs: 100, validation_split: 0.1 },
  },
  augment: {
    title: 'MNIST with augmentation',
    about: 'Random shifts, rotations and scaling of the training digits (lecture §9).',
    spec: { ...small, hidden_layers: [128], epochs: 4,
      augment: { max_shift_px: 2, max_rotation_deg: 10, max_scale: 0.1, max_shear_deg: 0, brightness: 0, contrast: 0, noise_std: 0 } },
  },
};

// Measured: ReLU climbs to ~0.91 validation accuracy, steadily; sigmoid stays at chance with
// its first layer's gradient ~0.4% of the last layer's.
const vanishingBase = { ...small, train_samples: 10000, epochs: 6, batch_size: 128, hidden_layers: deep(64, 5), optimizer: 'sgd', learning_rate: 0.05 };
const initBase = { ...small, train_samples: 5000, epochs: 4, hidden_layers: deep(64, 4), activation: 'relu', optimizer: 'momentum', learning_rate: 0.01 };
// The train/test gap is the lesson: both are measured every epoch (eval mode, test set).
// The book's overfitting set-up (ch. 6): a 7-layer net of 100 ReLU units, plain SGD 0.01 in
// batches of 100, 300 digits (240 train, 60 validation), 200 epochs. L2 0.05 is the book's
// λ = 0.1: it writes the penalty ½λΣw², nnlab λΣw² (the lecture's).
const overfitBase = { dataset: 'mnist', train_samples: 300, validation_split: 0.2, hidden_layers: deep(100, 6), epochs: 200,
  batch_size: 100, optimizer: 'sgd', learning_rate: 0.01, eval_train_accuracy: true, epoch_test_metrics: true };
const bnBase = { ...small, train_samples: 5000, epochs: 4, hidden_layers: deep(64, 4), activation: 'sigmoid', init: 'xavier', optimizer: 'sgd', learning_rate: 0.05 };

export const COMPARISONS = {
  vanishing: {
    title: 'Vanishing gradients: deep sigmoid vs deep ReLU',
    about: '5 hidden layers of 64, plain SGD. Compare the per-layer gradient norms: the sigmoid net’s lower layers barely move (σ′ ≤ ¼ per layer).',
    jobs: [
      { label: 'sigmoid', spec: { ...vanishingBase, activation: 'sigmoid', init: 'xavier' } },
      { label: 'relu', spec: { ...vanishingBase, activation: 'relu', init: 'he' } },
    ],
  },
  init: {
    title: 'Weight initialization: zeros, N(0,1), N(0,0.01), Xavier, He',
    about: '4 ReLU layers of 64 with momentum SGD. All-zero weights never break symmetry; N(0,1) explodes; N(0,0.01) starts nearly dead.',
    jobs: [
      { label: 'zeros', spec: { ...initBase, init: 'zeros' } },
      { label: 'N(0,1)', spec: { ...initBase, init: 'normal', init_std: 1 } },
      { label: 'N(0,0.01)', spec: { ...initBase, init: 'normal', init_std: 0.01 } },
      { label: 'Xavier', spec: { ...initBase, init: 'xavier' } },
      { label: 'He', spec: { ...initBase, init: 'he' } },
    ],
  },
  optimizers: {
    title: 'Optimizers, as in the book: SGD, Momentum, AdaGrad, Adam',
    about: 'The book’s 784-100x4-10 ReLU net, batch 128 in the same order for all (one seed): SGD 0.01 is the slowest; '
      + 'Momentum, AdaGrad and Adam (0.001) pull ahead within the first hundred iterations (see the per-iteration chart). '
      + 'Measured on 10,000 digits, 4 epochs: test accuracy 0.84, 0.93, 0.94, 0.94.',
    jobs: [['sgd', 0.01], ['momentum', 0.01], ['adagrad', 0.01], ['adam', 0.001]].map(([optimizer, learning_rate]) => ({
      label: optimizer,
      spec: { ...small, train_samples: 10000, epochs: 4, batch_size: 128, hidden_layers: deep(100, 4), activation: 'relu',
        init: 'he', optimizer, learning_rate, seed: 1 },
    })),
  },
  optimizers_all: {
    title: 'Optimizers: all eight',
    about: 'One hidden layer of 64 on 5,000 digits, each optimizer with a learning rate that suits it (AdaDelta’s 1.0 is Zeiler’s step).',
    jobs: [
      ['sgd', 0.1], ['momentum', 0.01], ['nag', 0.01], ['adagrad', 0.01],
      ['rmsprop', 0.001], ['adadelta', 1.0], ['adam', 0.001], ['nadam', 0.001],
    ].map(([optimizer, learning_rate]) => ({
      label: optimizer,
      spec: { ...small, train_samples: 5000, epochs: 4, hidden_layers: [64], optimizer, learning_rate },
    })),
  },
  loss: {
    title: 'Cross-entropy vs MSE on softmax outputs',
    about: 'One ReLU layer of 64, plain SGD 0.1, the same batches: with MSE the gradient through the softmax is damped '
      + 'and learning starts slowly. Measured: validation accuracy after epoch 1, 0.85 (cross-entropy) against 0.56 (MSE).',
    jobs: ['cross_entropy', 'mse'].map((loss) => ({
      label: loss,
      spec: { ...small, epochs: 6, batch_size: 128, hidden_layers: [64], activation: 'relu', init: 'he',
        optimizer: 'sgd', learning_rate: 0.1, loss, seed: 1 },
    })),
  },
  batch: {
    title: 'Full-batch gradient descent vs mini-batch SGD',
    about: 'The same net and learning rate (0.1): full-batch GD takes one step per epoch over all 9,000 training digits, '
      + 'mini-batch SGD 71 steps of 128. Per epoch, mini-batches win by far (0.50 against 0.91 after 6 epochs, measured); '
      + 'the per-iteration chart shows why.',
    jobs: [[9000, 'full batch'], [128, 'mini-batch 128']].map(([batch_size, label]) => ({
      label,
      spec: { ...small, epochs: 6, batch_size, hidden_layers: [64], activation: 'relu', init: 'he',
        optimizer: 'sgd', learning_rate: 0.1, seed: 1 },
    })),
  },
  overfitting: {
    title: 'Overfitting on 300 samples, with and without L2 and dropout',
    about: 'The book’s 6x100 ReLU net, SGD 0.01, on 240 training digits: it learns them all (train accuracy 1.0) while test accuracy '
      + 'stays near 0.74. L2 (0.05, the book’s λ = 0.1) and dropout 0.2 hold training accuracy down and narrow the train–test gap '
      + '(measured, 3 seeds: 0.25–0.26 plain, 0.18–0.22 with L2, 0.20–0.24 with dropout) at much the same test accuracy: '
      + 'no regularizer makes up for the missing data.',
    jobs: [
      { label: 'plain', spec: { ...overfitBase } },
      { label: 'L2 0.05', spec: { ...overfitBase, l2: 0.05 } },
      { label: 'dropout 0.2', spec: { ...overfitBase, dropout: 0.2 } },
    ],
  },
  batchnorm: {
    title: 'Batch normalization on/off',
    about: '4 sigmoid layers with plain SGD: batch norm keeps each layer’s inputs centred and trains much faster.',
    jobs: [
      { label: 'no batch norm', spec: { ...bnBase, batch_norm: false } },
      { label: 'batch norm', spec: { ...bnBase, batch_norm: true } },
    ],
  },
};
