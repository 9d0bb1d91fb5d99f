//! Tests of image augmentation.

use super::*;
use crate::rng::rng_from_seed;
use ndarray::Array2;

const N: usize = 28;

/// A soft 6x6 blob in the middle of a 28x28 image, values in [0, 1].
fn blob() -> Vec<f32> {
    let mut img = vec![0.0; N * N];
    for y in 11..17 {
        for x in 10..16 {
            img[y * N + x] = if (12..15).contains(&y) { 1.0 } else { 0.5 };
        }
    }
    img
}

fn random_image(seed: u64) -> Vec<f32> {
    let mut rng = rng_from_seed(seed);
    (0..N * N).map(|_| rng.random::<f32>()).collect()
}

fn ink(img: &[f32]) -> f32 {
    img.iter().sum()
}

fn centre_of_mass(img: &[f32]) -> (f32, f32) {
    let (mut mx, mut my) = (0.0, 0.0);
    for (i, &v) in img.iter().enumerate() {
        mx += (i % N) as f32 * v;
        my += (i / N) as f32 * v;
    }
    (mx / ink(img), my / ink(img))
}

fn run(src: &[f32], cfg: &AugmentConfig, seed: u64) -> Vec<f32> {
    let mut dst = vec![f32::NAN; src.len()];
    augment_image(src, &mut dst, N, N, cfg, &mut rng_from_seed(seed));
    dst
}

fn strong() -> AugmentConfig {
    AugmentConfig {
        max_shift_px: 3.0,
        max_rotation_deg: 20.0,
        max_scale: 0.2,
        max_shear_deg: 15.0,
        brightness: 0.3,
        contrast: 0.5,
        noise_std: 0.2,
    }
}

#[test]
fn the_all_zero_config_is_exactly_the_identity() {
    let img = random_image(1);
    assert_eq!(run(&img, &AugmentConfig::default(), 5), img);
    let mut batch = Array2::from_shape_vec((1, N * N), img.clone()).unwrap();
    augment_batch(
        &mut batch.view_mut(),
        N,
        N,
        &AugmentConfig::default(),
        &mut rng_from_seed(5),
    );
    assert_eq!(batch.row(0).to_vec(), img);
}

#[test]
fn a_shift_moves_the_centre_of_mass_by_at_most_the_maximum() {
    let img = blob();
    let before = centre_of_mass(&img);
    let cfg = AugmentConfig {
        max_shift_px: 1.0,
        ..Default::default()
    };
    let mut moved = false;
    for seed in 0..20 {
        let out = run(&img, &cfg, seed);
        let after = centre_of_mass(&out);
        let (dx, dy) = (after.0 - before.0, after.1 - before.1);
        assert!(
            dx.abs() <= 1.0 + 1e-3 && dy.abs() <= 1.0 + 1e-3,
            "seed {seed}: moved ({dx}, {dy})"
        );
        assert!((ink(&out) - ink(&img)).abs() < 1e-3, "a pure shift keeps all ink");
        moved |= dx.abs() > 0.1 || dy.abs() > 0.1;
    }
    assert!(moved, "some shift should be visible");
}

#[test]
fn a_rotation_preserves_total_ink_approximately() {
    let img = blob();
    let cfg = AugmentConfig {
        max_rotation_deg: 45.0,
        ..Default::default()
    };
    for seed in 0..10 {
        let out = run(&img, &cfg, seed);
        let ratio = ink(&out) / ink(&img);
        assert!((0.9..1.1).contains(&ratio), "seed {seed}: ink ratio {ratio}");
        let (cx, cy) = centre_of_mass(&out);
        let (bx, by) = centre_of_mass(&img);
        // The blob's centre (12.5, 13.5) is near the image centre (13.5, 13.5): rotation
        // about the centre moves it at most 1 px.
        assert!((cx - bx).hypot(cy - by) < 1.0 + 1e-3);
    }
    assert_ne!(run(&img, &cfg, 0), img, "a rotation should change the image");
}

#[test]
fn scaling_up_adds_ink_and_scaling_down_removes_it() {
    let img = blob();
    let cfg = AugmentConfig {
        max_scale: 0.3,
        ..Default::default()
    };
    let (mut grew, mut shrank) = (false, false);
    for seed in 0..20 {
        let ratio = ink(&run(&img, &cfg, seed)) / ink(&img);
        assert!((0.65f32.powi(2)..1.35f32.powi(2)).contains(&ratio), "ink ratio {ratio}");
        grew |= ratio > 1.05;
        shrank |= ratio < 0.95;
    }
    assert!(grew && shrank);
}

#[test]
fn outputs_stay_in_the_unit_interval_under_strong_settings() {
    let cfg = strong();
    for seed in 0..20 {
        let out = run(&random_image(seed), &cfg, seed);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)), "seed {seed}");
    }
}

#[test]
fn augmentation_is_deterministic_for_a_seed() {
    let img = blob();
    assert_eq!(run(&img, &strong(), 3), run(&img, &strong(), 3));
    assert_ne!(run(&img, &strong(), 3), run(&img, &strong(), 4));
}

#[test]
fn a_batch_gets_the_same_results_as_image_by_image_also_for_strided_views() {
    let images = [blob(), random_image(9)];
    let mut rng = rng_from_seed(11);
    let expected: Vec<Vec<f32>> = images
        .iter()
        .map(|img| {
            let mut out = vec![0.0; N * N];
            augment_image(img, &mut out, N, N, &strong(), &mut rng);
            out
        })
        .collect();
    let mut batch = Array2::from_shape_fn((2, N * N), |(r, c)| images[r][c]);
    augment_batch(&mut batch.view_mut(), N, N, &strong(), &mut rng_from_seed(11));
    assert_eq!(batch.row(1).to_vec(), expected[1]);
    // Column-major storage: rows are not contiguous, the fallback path must agree.
    let mut fortran = Array2::<f32>::zeros((N * N, 2));
    for (r, img) in images.iter().enumerate() {
        fortran.column_mut(r).assign(&ndarray::ArrayView1::from(img));
    }
    augment_batch(
        &mut fortran.view_mut().reversed_axes(),
        N,
        N,
        &strong(),
        &mut rng_from_seed(11),
    );
    assert_eq!(fortran.column(0).to_vec(), expected[0]);
    assert_eq!(fortran.column(1).to_vec(), expected[1]);
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_fields() {
    let cfg: AugmentConfig = serde_json::from_str(r#"{"max_shift_px": 2.0}"#).unwrap();
    assert_eq!(
        cfg,
        AugmentConfig {
            max_shift_px: 2.0,
            ..Default::default()
        }
    );
    assert!(serde_json::from_str::<AugmentConfig>(r#"{"max_shift": 2.0}"#).is_err());
}
