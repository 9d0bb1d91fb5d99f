//! The lecture's small problems: logic-gate truth tables and seeded 2-D point clouds.
//!
//! Every toy set has 2 f32 features and 2 classes, and is a pure function of the RNG state,
//! so a run can be reproduced from its seed.

use ndarray::Array2;
use rand::RngExt;
use rand_distr::StandardNormal;

use super::dataset::{Dataset, Features};
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    And,
    Or,
    Nand,
    Xor,
}

impl Gate {
    pub const ALL: [Gate; 4] = [Gate::And, Gate::Or, Gate::Nand, Gate::Xor];

    pub fn from_name(name: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Gate::And => "and",
            Gate::Or => "or",
            Gate::Nand => "nand",
            Gate::Xor => "xor",
        }
    }

    pub fn output(self, a: bool, b: bool) -> bool {
        match self {
            Gate::And => a && b,
            Gate::Or => a || b,
            Gate::Nand => !(a && b),
            Gate::Xor => a != b,
        }
    }
}

/// The truth table: rows (0,0), (0,1), (1,0), (1,1) with the gate's output as label.
pub fn gate_dataset(gate: Gate) -> Dataset {
    let inputs = [(false, false), (false, true), (true, false), (true, true)];
    let features = Array2::from_shape_fn((4, 2), |(r, c)| {
        let (a, b) = inputs[r];
        if [a, b][c] { 1.0 } else { 0.0 }
    });
    Dataset {
        name: gate.name().to_string(),
        features: Features::F32(features),
        labels: inputs.iter().map(|&(a, b)| gate.output(a, b) as u8).collect(),
        classes: 2,
        image_shape: None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toy {
    /// Uniform points in [-1,1]^2, class 1 where x*y > 0, then jittered.
    XorCloud,
    /// Class 0 inside radius 0.5, class 1 in the ring 0.7..1.0.
    Circle,
    /// Two interleaved spirals of 1.5 turns.
    Spiral,
    /// Two overlapping gaussian blobs.
    Gaussian,
}

impl Toy {
    pub const ALL: [Toy; 4] = [Toy::XorCloud, Toy::Circle, Toy::Spiral, Toy::Gaussian];

    pub fn from_name(name: &str) -> Option<Toy> {
        Toy::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Toy::XorCloud => "xor-cloud",
            Toy::Circle => "circle",
            Toy::Spiral => "spiral",
            Toy::Gaussian => "gaussian",
        }
    }
}

const JITTER: f32 = 0.05;

fn normal(rng: &mut Rng) -> f32 {
    rng.sample::<f32, _>(StandardNormal)
}

/// Sample `i` of the toy problem `kind`: (x, y, label).
fn sample(kind: Toy, i: usize, rng: &mut Rng) -> (f32, f32, u8) {
    use std::f32::consts::PI;
    // Except for xor-cloud (labelled by position), labels alternate: exactly balanced, also
    // for any prefix of the set.
    let label = (i % 2) as u8;
    match kind {
        Toy::XorCloud => {
            let x = rng.random::<f32>() * 2.0 - 1.0;
            let y = rng.random::<f32>() * 2.0 - 1.0;
            let label = (x * y > 0.0) as u8;
            (x + JITTER * normal(rng), y + JITTER * normal(rng), label)
        }
        Toy::Circle => {
            // sqrt of a uniform area fraction: points uniform over the disc or ring.
            let (r0, r1) = if label == 0 { (0.0f32, 0.5f32) } else { (0.7, 1.0) };
            let r = (r0 * r0 + rng.random::<f32>() * (r1 * r1 - r0 * r0)).sqrt();
            let a = rng.random::<f32>() * 2.0 * PI;
            (
                r * a.cos() + JITTER * normal(rng),
                r * a.sin() + JITTER * normal(rng),
                label,
            )
        }
        Toy::Spiral => {
            let t = rng.random::<f32>();
            let a = t * 3.0 * PI + label as f32 * PI;
            let r = 0.05 + 0.95 * t;
            (
                r * a.cos() + 0.03 * normal(rng),
                r * a.sin() + 0.03 * normal(rng),
                label,
            )
        }
        Toy::Gaussian => {
            let c = if label == 0 { -0.5 } else { 0.5 };
            (c + 0.35 * normal(rng), c + 0.35 * normal(rng), label)
        }
    }
}

/// `n` points of the toy problem `kind`, drawn from `rng`.
pub fn toy_dataset(kind: Toy, n: usize, rng: &mut Rng) -> Dataset {
    let mut features = Array2::<f32>::zeros((n, 2));
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y, label) = sample(kind, i, rng);
        features[[i, 0]] = x;
        features[[i, 1]] = y;
        labels.push(label);
    }
    Dataset {
        name: kind.name().to_string(),
        features: Features::F32(features),
        labels,
        classes: 2,
        image_shape: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn gate_tables_follow_the_lecture_row_order() {
        let expect = [
            (Gate::And, [0, 0, 0, 1]),
            (Gate::Or, [0, 1, 1, 1]),
            (Gate::Nand, [1, 1, 1, 0]),
            (Gate::Xor, [0, 1, 1, 0]),
        ];
        for (gate, labels) in expect {
            let d = gate_dataset(gate);
            assert_eq!(d.labels, labels, "{gate:?}");
            assert_eq!(d.classes, 2);
            let rows: Vec<Vec<f32>> = (0..4).map(|i| d.row_f32(i)).collect();
            assert_eq!(
                rows,
                vec![vec![0.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0], vec![1.0, 1.0]]
            );
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for g in Gate::ALL {
            assert_eq!(Gate::from_name(g.name()), Some(g));
        }
        for t in Toy::ALL {
            assert_eq!(Toy::from_name(t.name()), Some(t));
        }
        assert_eq!(Toy::from_name("xor-cloud"), Some(Toy::XorCloud));
        assert_eq!(Gate::from_name("xnor"), None);
        assert_eq!(Toy::from_name("moons"), None);
    }

    #[test]
    fn toy_sets_are_deterministic_for_a_seed_and_differ_between_seeds() {
        for kind in Toy::ALL {
            let a = toy_dataset(kind, 200, &mut rng_from_seed(7));
            let b = toy_dataset(kind, 200, &mut rng_from_seed(7));
            let c = toy_dataset(kind, 200, &mut rng_from_seed(8));
            assert_eq!(a, b, "{kind:?}");
            assert_ne!(a.features, c.features, "{kind:?}");
        }
    }

    #[test]
    fn toy_sets_have_two_features_two_classes_and_are_roughly_balanced() {
        for kind in Toy::ALL {
            let d = toy_dataset(kind, 1000, &mut rng_from_seed(1));
            assert_eq!((d.len(), d.feature_count(), d.classes), (1000, 2, 2));
            let ones = d.labels.iter().filter(|&&l| l == 1).count();
            assert!((400..=600).contains(&ones), "{kind:?}: {ones} of 1000 in class 1");
            assert!(d.labels.iter().all(|&l| l < 2));
        }
    }

    #[test]
    fn each_toy_set_has_its_intended_geometry() {
        let mean_of = |d: &Dataset, f: &dyn Fn(f32, f32) -> f32, label: u8| {
            let rows: Vec<Vec<f32>> = (0..d.len())
                .filter(|&i| d.labels[i] == label)
                .map(|i| d.row_f32(i))
                .collect();
            rows.iter().map(|r| f(r[0], r[1])).sum::<f32>() / rows.len() as f32
        };
        let rng = &mut rng_from_seed(3);
        let xor = toy_dataset(Toy::XorCloud, 1000, rng);
        let agree = (0..1000).filter(|&i| {
            let r = xor.row_f32(i);
            (r[0] * r[1] > 0.0) as u8 == xor.labels[i]
        });
        assert!(agree.count() > 900, "jitter should flip only points near the axes");
        let circle = toy_dataset(Toy::Circle, 1000, rng);
        let radius = |x: f32, y: f32| (x * x + y * y).sqrt();
        assert!(mean_of(&circle, &radius, 0) < 0.45 && mean_of(&circle, &radius, 1) > 0.75);
        let gauss = toy_dataset(Toy::Gaussian, 1000, rng);
        assert!(mean_of(&gauss, &|x, _| x, 0) < -0.4 && mean_of(&gauss, &|x, _| x, 1) > 0.4);
        // The spirals are point-symmetric twins: each class centred near the origin.
        let spiral = toy_dataset(Toy::Spiral, 1000, rng);
        assert!(mean_of(&spiral, &radius, 0) > 0.3 && mean_of(&spiral, &radius, 1) > 0.3);
        assert_eq!(spiral.labels[..4], [0, 1, 0, 1]);
    }
}
