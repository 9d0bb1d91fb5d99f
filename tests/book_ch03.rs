//! Cross-check of the engine's inference against an independent implementation: the sample
//! network of "Deep Learning from Scratch" ch. 3 (784-50-100-10, sigmoid, softmax), whose
//! author reports accuracy 0.9352 on the MNIST test set with these exact weights. The file
//! (tests/fixtures, MIT licence) keeps the book's names and its x · W layout, W [in, out],
//! which is also the engine's in-memory layout.

use std::path::Path;

use ndarray::{Array1, Array2};
use nnlab::data::load_dataset;
use nnlab::nn::layer::{ActivationLayer, Dense, Layer};
use nnlab::nn::{Activation, ActivationName, Loss, MatMul, ModelSpec, Network};
use nnlab::train::evaluate;
use safetensors::SafeTensors;

fn tensor(file: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = file.tensor(name).unwrap();
    let values = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (t.shape().to_vec(), values)
}

fn dense(file: &SafeTensors, w: &str, b: &str) -> Dense {
    let (shape, values) = tensor(file, w);
    let (_, bias) = tensor(file, b);
    Dense::new(
        Array2::from_shape_vec((shape[0], shape[1]), values).unwrap(),
        Array1::from(bias),
    )
}

#[test]
fn the_books_chapter_3_network_scores_its_published_accuracy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("tests/fixtures/book-ch03-784-50-100-10-sigmoid.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let sigmoid = || Layer::Activation(ActivationLayer::new(Activation::Sigmoid));
    let layers = vec![
        Layer::Dense(dense(&file, "W1", "b1")),
        sigmoid(),
        Layer::Dense(dense(&file, "W2", "b2")),
        sigmoid(),
        Layer::Dense(dense(&file, "W3", "b3")),
    ];
    let spec = ModelSpec::mlp(784, &[50, 100], 10, ActivationName::Sigmoid);
    let net = Network::from_layers(spec, layers);
    let (_, test) = load_dataset("mnist", &root.join("data"), 0).unwrap();
    let all: Vec<usize> = (0..test.len()).collect();
    let eval = evaluate(&net, &test, &all, Loss::CrossEntropy, &MatMul::single());
    // The book computes in float32 too (NumPy); allow one image's worth of rounding.
    assert!((eval.accuracy - 0.9352).abs() <= 1.5e-4, "accuracy {}", eval.accuracy);
    // And the saved-model round trip keeps every output.
    let reloaded = nnlab::nn::io::from_safetensors(&nnlab::nn::io::to_safetensors(&net)).unwrap();
    assert_eq!(
        evaluate(&reloaded, &test, &all, Loss::CrossEntropy, &MatMul::single()),
        eval
    );
}
