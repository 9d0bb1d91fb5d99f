//! The in-memory dataset: a feature matrix (u8 pixels or f32 values), labels and metadata.
//!
//! Images stay u8 in RAM (MNIST is 47 MB as u8, 188 MB as f32); they are converted to f32
//! one mini-batch at a time by `gather_into`.

use ndarray::{Array2, ArrayViewMut2, Axis};

/// One row per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    /// Pixels 0..=255; the network sees value / 255.
    U8(Array2<u8>),
    /// Values used as they are.
    F32(Array2<f32>),
}

impl Features {
    pub fn nrows(&self) -> usize {
        match self {
            Features::U8(a) => a.nrows(),
            Features::F32(a) => a.nrows(),
        }
    }

    pub fn ncols(&self) -> usize {
        match self {
            Features::U8(a) => a.ncols(),
            Features::F32(a) => a.ncols(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub features: Features,
    pub labels: Vec<u8>,
    pub classes: usize,
    /// (rows, cols) when each feature row is an image, for augmentation and display.
    pub image_shape: Option<(usize, usize)>,
}

const INV_255: f32 = 1.0 / 255.0;

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn feature_count(&self) -> usize {
        self.features.ncols()
    }

    /// Writes the rows `indices` into `out` (shape `[indices.len(), feature_count]`) as f32
    /// and replaces the contents of `labels_out` with their labels.
    ///
    /// Panics if `out` has the wrong shape or an index is out of range: both are bugs in
    /// the caller, not bad input data.
    pub fn gather_into(&self, indices: &[usize], out: &mut ArrayViewMut2<f32>, labels_out: &mut Vec<u8>) {
        let width = self.feature_count();
        assert_eq!(
            out.dim(),
            (indices.len(), width),
            "gather_into: output shape does not match [batch, features]"
        );
        labels_out.clear();
        labels_out.extend(indices.iter().map(|&i| self.labels[i]));
        for (mut dst, &i) in out.axis_iter_mut(Axis(0)).zip(indices) {
            // Fast path: both rows contiguous, so the loop is a plain slice zip the
            // compiler vectorises. The fallback covers views with odd strides.
            match (&self.features, dst.as_slice_mut()) {
                (Features::U8(a), Some(d)) => match a.row(i).to_slice() {
                    Some(s) => d.iter_mut().zip(s).for_each(|(d, &v)| *d = v as f32 * INV_255),
                    None => d.iter_mut().zip(a.row(i)).for_each(|(d, &v)| *d = v as f32 * INV_255),
                },
                (Features::F32(a), Some(d)) => match a.row(i).to_slice() {
                    Some(s) => d.copy_from_slice(s),
                    None => d.iter_mut().zip(a.row(i)).for_each(|(d, &v)| *d = v),
                },
                (Features::U8(a), None) => dst.iter_mut().zip(a.row(i)).for_each(|(d, &v)| *d = v as f32 * INV_255),
                (Features::F32(a), None) => dst.assign(&a.row(i)),
            }
        }
    }

    /// Row `i` as f32 (u8 pixels divided by 255).
    pub fn row_f32(&self, i: usize) -> Vec<f32> {
        match &self.features {
            Features::U8(a) => a.row(i).iter().map(|&v| v as f32 * INV_255).collect(),
            Features::F32(a) => a.row(i).to_vec(),
        }
    }

    /// A new dataset with the rows `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let features = match &self.features {
            Features::U8(a) => Features::U8(a.select(Axis(0), indices)),
            Features::F32(a) => Features::F32(a.select(Axis(0), indices)),
        };
        Dataset {
            name: self.name.clone(),
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
            image_shape: self.image_shape,
        }
    }

    /// The first `n` rows (all of them if there are fewer), e.g. for quick runs.
    pub fn take_first(&self, n: usize) -> Dataset {
        let indices: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&indices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array, s};

    fn pixels() -> Dataset {
        Dataset {
            name: "tiny".into(),
            features: Features::U8(array![[0, 255, 51], [102, 0, 255], [255, 255, 0]]),
            labels: vec![7, 1, 3],
            classes: 10,
            image_shape: None,
        }
    }

    #[test]
    fn gather_converts_pixels_to_unit_range_in_index_order() {
        let d = pixels();
        let mut out = Array2::<f32>::from_elem((2, 3), -1.0);
        let mut labels = vec![9, 9, 9, 9];
        d.gather_into(&[2, 0], &mut out.view_mut(), &mut labels);
        assert_eq!(labels, vec![3, 7]);
        assert_eq!(out.row(0).to_vec(), vec![1.0, 1.0, 0.0]);
        assert_eq!(out.row(1)[1], 1.0);
        assert!((out.row(1)[2] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn gather_into_a_strided_view_writes_the_same_values() {
        let d = pixels();
        let mut big = Array2::<f32>::zeros((2, 6));
        let mut labels = Vec::new();
        d.gather_into(&[1, 2], &mut big.slice_mut(s![.., ..;2]), &mut labels);
        assert!((big[[0, 0]] - 0.4).abs() < 1e-6);
        assert_eq!(big[[0, 4]], 1.0);
        assert_eq!(big[[0, 1]], 0.0, "odd columns must be untouched");
        assert_eq!(labels, vec![1, 3]);
    }

    #[test]
    fn gather_copies_f32_features_unchanged() {
        let d = Dataset {
            name: "t".into(),
            features: Features::F32(array![[0.5, -2.0], [3.0, 4.0]]),
            labels: vec![0, 1],
            classes: 2,
            image_shape: None,
        };
        let mut out = Array2::<f32>::zeros((1, 2));
        let mut labels = Vec::new();
        d.gather_into(&[0], &mut out.view_mut(), &mut labels);
        assert_eq!(out.row(0).to_vec(), vec![0.5, -2.0]);
        assert_eq!(d.row_f32(1), vec![3.0, 4.0]);
    }

    #[test]
    #[should_panic(expected = "output shape")]
    fn gather_into_a_wrongly_shaped_batch_panics_with_a_clear_message() {
        let d = pixels();
        let mut out = Array2::<f32>::zeros((2, 2));
        d.gather_into(&[0, 1], &mut out.view_mut(), &mut Vec::new());
    }

    #[test]
    fn subset_and_take_first_keep_rows_labels_and_metadata() {
        let d = pixels();
        let sub = d.subset(&[2, 2, 0]);
        assert_eq!(sub.len(), 3);
        assert_eq!(sub.labels, vec![3, 3, 7]);
        assert_eq!(sub.row_f32(2), d.row_f32(0));
        assert_eq!(sub.classes, 10);
        let first = d.take_first(10);
        assert_eq!(first, d);
        let one = d.take_first(1);
        assert_eq!(one.len(), 1);
        assert_eq!(one.feature_count(), 3);
        assert!(d.take_first(0).is_empty());
    }
}
