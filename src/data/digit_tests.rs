//! Tests of drawn-digit preprocessing.

use super::*;

const CANVAS: usize = 280;

/// A light-on-dark canvas with ink 1.0 in the given rectangles (x0, y0, x1, y1 exclusive).
fn canvas(rects: &[(usize, usize, usize, usize)]) -> Vec<f32> {
    let mut img = vec![0.0; CANVAS * CANVAS];
    for &(x0, y0, x1, y1) in rects {
        for y in y0..y1 {
            img[y * CANVAS + x0..y * CANVAS + x1].fill(1.0);
        }
    }
    img
}

fn inverted(img: &[f32]) -> Vec<f32> {
    img.iter().map(|v| 1.0 - v).collect()
}

/// A hollow box, off-centre, with strokes 12 px thick.
fn hollow_box() -> Vec<f32> {
    canvas(&[
        (40, 30, 200, 42),
        (40, 170, 200, 182),
        (40, 30, 52, 182),
        (188, 30, 200, 182),
    ])
}

/// A "1": a vertical bar near the right edge.
fn bar() -> Vec<f32> {
    canvas(&[(200, 60, 216, 240)])
}

fn ink_box(out: &[f32]) -> (usize, usize, usize, usize) {
    bounding_box(out, SIDE).expect("output has ink")
}

fn check_mnist_like(out: &[f32]) {
    assert_eq!(out.len(), 784);
    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    let (x0, y0, x1, y1) = ink_box(out);
    assert!(x1 - x0 < BOX && y1 - y0 < BOX, "bounding box larger than 20x20");
    assert_eq!((x1 - x0 + 1).max(y1 - y0 + 1), BOX, "longer side should be exactly 20");
    let (cx, cy) = centre_of_mass(out, SIDE);
    assert!(
        (cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0,
        "centre of mass ({cx}, {cy})"
    );
}

#[test]
fn a_blank_image_is_an_error() {
    let err = preprocess_digit(&vec![0.0; 100], 10, 10).unwrap_err();
    assert!(matches!(err, DataError::BlankImage));
    let white = preprocess_digit(&vec![1.0; 100], 10, 10).unwrap_err();
    assert!(matches!(white, DataError::BlankImage), "white paper is blank too");
}

#[test]
fn a_buffer_that_does_not_match_the_size_is_an_error() {
    assert!(matches!(
        preprocess_digit(&[0.5; 10], 3, 3),
        Err(DataError::ImageSize { len: 10, .. })
    ));
    assert!(matches!(preprocess_digit(&[], 0, 0), Err(DataError::ImageSize { .. })));
    assert!(preprocess_digit(&[0.5; 4], usize::MAX, 2).is_err());
}

#[test]
fn dark_on_light_and_light_on_dark_drawings_give_the_same_result() {
    for img in [hollow_box(), bar()] {
        let a = preprocess_digit(&img, CANVAS, CANVAS).unwrap();
        let b = preprocess_digit(&inverted(&img), CANVAS, CANVAS).unwrap();
        assert_eq!(a, b);
        check_mnist_like(&a);
    }
}

#[test]
fn a_box_fills_20_by_20_and_is_centred_by_mass() {
    let out = preprocess_digit(&hollow_box(), CANVAS, CANVAS).unwrap();
    check_mnist_like(&out);
    let (x0, y0, x1, y1) = ink_box(&out);
    // 160x152 scales to 20x19; centring by mass puts it at 4..24 horizontally.
    assert_eq!((x1 - x0 + 1, y1 - y0 + 1), (20, 19));
    assert_eq!(x0, 4);
    assert_eq!(out[14 * SIDE + 14], 0.0, "the box is hollow");
}

#[test]
fn a_bar_keeps_its_aspect_ratio() {
    let out = preprocess_digit(&bar(), CANVAS, CANVAS).unwrap();
    let (x0, y0, x1, y1) = ink_box(&out);
    assert_eq!(y1 - y0 + 1, 20);
    let width = x1 - x0 + 1;
    assert!(width <= 3, "a 16x180 bar should be about 2 px wide");
}

#[test]
fn a_thin_stroke_survives_shrinking_at_full_intensity() {
    // A 2 px diagonal line across a 280 px canvas: 14x shrink.
    let mut img = vec![0.0; CANVAS * CANVAS];
    for i in 20..260 {
        img[i * CANVAS + i] = 1.0;
        img[i * CANVAS + i + 1] = 1.0;
    }
    let out = preprocess_digit(&img, CANVAS, CANVAS).unwrap();
    check_mnist_like(&out);
    assert_eq!(out.iter().cloned().fold(0.0, f32::max), 1.0);
    let diagonal_ink = (0..20).filter(|&k| out[(4 + k) * SIDE + 4 + k] > 0.3).count();
    assert!(
        diagonal_ink >= 18,
        "stroke broke up: {diagonal_ink} of 20 diagonal pixels inked"
    );
}

#[test]
fn faint_specks_and_grey_paper_are_treated_as_background() {
    let clean = preprocess_digit(&bar(), CANVAS, CANVAS).unwrap();
    // Grey paper (0.85) with dark ink, plus a faint smudge in a corner.
    let mut paper: Vec<f32> = bar().iter().map(|v| 0.85 - 0.85 * v).collect();
    paper[5 * CANVAS + 5] = 0.8;
    let out = preprocess_digit(&paper, CANVAS, CANVAS).unwrap();
    for (a, b) in clean.iter().zip(&out) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn a_small_digit_is_enlarged_to_the_20_px_box() {
    // 8x10 px of ink on a 28x28 canvas: enlarged by bilinear interpolation.
    let mut img = vec![0.0; 28 * 28];
    for y in 3..13 {
        for x in 2..10 {
            img[y * 28 + x] = 1.0;
        }
    }
    let out = preprocess_digit(&img, 28, 28).unwrap();
    check_mnist_like(&out);
    let (x0, y0, x1, y1) = ink_box(&out);
    assert_eq!((x1 - x0 + 1, y1 - y0 + 1), (16, 20));
}

#[test]
fn raw_keeps_the_digit_where_it_was_drawn_and_box_centres_its_box() {
    // The "1" sits at x 200..216, y 60..240 of a 280 canvas: a tenth of the canvas is 2.8 px.
    let raw = preprocess_digit_as(&bar(), CANVAS, CANVAS, Preprocess::Raw).unwrap();
    let (x0, y0, x1, y1) = ink_box(&raw);
    assert_eq!((x0, x1), (20, 21), "raw keeps the bar at 200/10..216/10");
    assert_eq!((y0, y1), (6, 23));
    let boxed = preprocess_digit_as(&bar(), CANVAS, CANVAS, Preprocess::Box).unwrap();
    let (x0, y0, x1, y1) = ink_box(&boxed);
    // 16x180 scaled to 20 high is 2 wide; the 2x20 box centred: x 13..14, y 4..23.
    assert_eq!((x0, y0, x1, y1), (13, 4, 14, 23));
    let mnist = preprocess_digit_as(&bar(), CANVAS, CANVAS, Preprocess::Mnist).unwrap();
    assert_eq!(mnist, preprocess_digit(&bar(), CANVAS, CANVAS).unwrap());
}

#[test]
fn box_and_centre_of_mass_differ_for_a_lopsided_digit() {
    // A heavy bar on the left of a thin frame: the box is centred at 14, the mass is not.
    let img = canvas(&[
        (40, 40, 100, 240),
        (40, 40, 240, 44),
        (40, 236, 240, 240),
        (236, 40, 240, 240),
    ]);
    let boxed = preprocess_digit_as(&img, CANVAS, CANVAS, Preprocess::Box).unwrap();
    let mnist = preprocess_digit_as(&img, CANVAS, CANVAS, Preprocess::Mnist).unwrap();
    let (bx, _) = centre_of_mass(&boxed, SIDE);
    let (mx, _) = centre_of_mass(&mnist, SIDE);
    assert!(bx < 10.0, "the box's centre of mass is left of centre: {bx}");
    // MNIST placement moves the mass towards 14 as far as the border allows (4 px here).
    assert!((mx - bx - 4.0).abs() < 1e-3, "box {bx}, MNIST {mx}");
    for how in [Preprocess::Raw, Preprocess::Box, Preprocess::Mnist] {
        assert!(matches!(
            preprocess_digit_as(&vec![0.0; 100], 10, 10, how),
            Err(DataError::BlankImage)
        ));
    }
}
