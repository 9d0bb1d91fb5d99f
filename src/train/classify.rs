//! A classifier's report on a labelled set: accuracy, confusion matrix and the items it gets
//! wrong. The same forward pass as the trainer's [`evaluate`](super::evaluate) (inference
//! mode, in chunks), for the model pages and for evaluation on saved drawings.

use ndarray::{Array2, s};

use crate::data::Dataset;
use crate::nn::loss::argmax;
use crate::nn::{MatMul, Network};

/// Rows per forward pass: bounds the memory of a report whatever the set's size.
const CHUNK: usize = 1000;

/// An item the network gets wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// The item's row in the set.
    pub index: usize,
    pub label: u8,
    pub predicted: usize,
    pub probabilities: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    pub count: usize,
    /// Rows classified right (the confusion matrix's diagonal).
    pub correct: u64,
    /// Correct / count (0 for an empty set).
    pub accuracy: f64,
    /// `[true label][predicted]`, `classes` x `classes`.
    pub confusion: Vec<Vec<u64>>,
    /// The first `max_misses` misclassified items, in the set's order.
    pub misses: Vec<Miss>,
}

/// Classifies every row of `data` (ties go to the lower class, as predictions do). Labels
/// must be below the network's class count: the caller checks that the set fits the model.
pub fn classify(net: &Network, data: &Dataset, mm: &MatMul, max_misses: usize) -> ClassReport {
    let classes = net.spec.classes;
    let mut confusion = vec![vec![0u64; classes]; classes];
    let mut misses = Vec::new();
    let mut x = Array2::<f32>::zeros((CHUNK.min(data.len()).max(1), data.feature_count()));
    let mut labels = Vec::new();
    let all: Vec<usize> = (0..data.len()).collect();
    for chunk in all.chunks(CHUNK) {
        data.gather_into(chunk, &mut x.slice_mut(s![..chunk.len(), ..]), &mut labels);
        let p = net.predict_proba(x.slice(s![..chunk.len(), ..]), mm);
        for ((row, &label), &index) in p.rows().into_iter().zip(&labels).zip(chunk) {
            let row = row.as_slice().expect("an owned row");
            let predicted = argmax(row);
            confusion[label as usize][predicted] += 1;
            if predicted != label as usize && misses.len() < max_misses {
                misses.push(Miss {
                    index,
                    label,
                    predicted,
                    probabilities: row.to_vec(),
                });
            }
        }
    }
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    ClassReport {
        count: data.len(),
        correct,
        accuracy: if data.is_empty() {
            0.0
        } else {
            correct as f64 / data.len() as f64
        },
        confusion,
        misses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Gate, gate_dataset};
    use crate::nn::layer::{Dense, Layer};
    use crate::nn::{ActivationName, ModelSpec};
    use ndarray::array;

    /// Softmax regression whose class-1 logit is the lecture's AND unit: x1 + x2 - 1.5.
    fn and_network() -> Network {
        let spec = ModelSpec::mlp(2, &[], 2, ActivationName::Relu);
        let dense = Dense::new(array![[0.0, 1.0], [0.0, 1.0]], array![0.0, -1.5]);
        Network::from_layers(spec, vec![Layer::Dense(dense)])
    }

    #[test]
    fn the_lectures_gate_weights_classify_their_table_without_a_miss_and_a_flipped_label_is_one_miss() {
        let net = and_network();
        let mut table = gate_dataset(Gate::And);
        let report = classify(&net, &table, &MatMul::single(), 10);
        assert_eq!((report.count, report.accuracy), (4, 1.0));
        assert_eq!(report.confusion, vec![vec![3, 0], vec![0, 1]]);
        assert!(report.misses.is_empty());
        table.labels[3] = 0; // (1, 1) now claims to be 0
        let report = classify(&net, &table, &MatMul::single(), 10);
        assert_eq!((report.correct, report.accuracy), (3, 0.75));
        assert_eq!(report.confusion, vec![vec![3, 1], vec![0, 0]]);
        assert_eq!(report.misses.len(), 1);
        assert_eq!(
            (
                report.misses[0].index,
                report.misses[0].label,
                report.misses[0].predicted
            ),
            (3, 0, 1)
        );
    }
}
