//! Numbers sent for prediction, parsed straight into flat `f32` storage with their caps
//! checked while parsing: a body can never make the server hold more than `MAX_VALUES`
//! values or `MAX_ROWS` rows, whatever its shape (a 15 MiB body of one-value rows would
//! otherwise be millions of small vectors, ~300 MB).

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

mod fast;
pub use fast::parse_inputs_only;

/// Rows per request (native and V2).
pub const MAX_ROWS: usize = 10_000;
/// Values per request: 10,000 MNIST rows (31 MB as f32).
pub const MAX_VALUES: usize = MAX_ROWS * 784;
/// Rows of one image (`images`).
pub const MAX_IMAGE_ROWS: usize = 1024;

/// Ok when every value is finite, else a 422 naming the first that is not (`field[i]`): a
/// JSON number beyond f32's range parses as infinite. For native and V2 predictions alike.
/// `field` is only formatted for the error (`format_args!` for a row's name costs nothing
/// on the predict path).
pub fn check_finite(values: &[f32], field: impl std::fmt::Display) -> Result<(), crate::api::AppError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(crate::api::AppError::invalid(
            format!("{field}[{i}]"),
            "must be a finite number",
        )),
    }
}

/// Ok when `n` rows is within 1..=`MAX_ROWS`, else a 422 naming `field`.
pub fn check_row_count(field: &str, n: usize) -> Result<(), crate::api::AppError> {
    if n == 0 || n > MAX_ROWS {
        return Err(crate::api::AppError::invalid(
            field,
            format!("give 1..={MAX_ROWS} rows, got {n}"),
        ));
    }
    Ok(())
}

/// A row of exactly `width` finite values, else a 422 naming `field` (formatted only then).
pub fn check_row(values: &[f32], width: usize, field: impl std::fmt::Display) -> Result<&[f32], crate::api::AppError> {
    if values.len() != width {
        return Err(crate::api::AppError::invalid(
            field.to_string(),
            format!("has {} values, the model takes {width}", values.len()),
        ));
    }
    check_finite(values, field)?;
    Ok(values)
}

/// Rows of numbers, ragged as sent (each row is checked against the model later), stored
/// flat. A value beyond f32's range becomes infinite and is refused by the finiteness check.
#[derive(Debug, Default)]
pub struct Rows {
    values: Vec<f32>,
    ends: Vec<usize>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.values[start..self.ends[i]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[f32]> {
        (0..self.len()).map(|i| self.row(i))
    }

    /// All values, row after row (their storage, without a copy).
    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    fn push_row<'de, A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        if self.len() == MAX_ROWS {
            return Err(de::Error::custom(format!("at most {MAX_ROWS} rows")));
        }
        let more = seq.next_element_seed(Numbers(&mut self.values))?.is_some();
        if more {
            self.ends.push(self.values.len());
        }
        Ok(more)
    }
}

/// Pushes one array of numbers onto a flat buffer, refusing past `MAX_VALUES`.
struct Numbers<'a>(&'a mut Vec<f32>);

impl<'de> DeserializeSeed<'de> for Numbers<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Numbers<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<f64>()? {
            if self.0.len() == MAX_VALUES {
                return Err(de::Error::custom(format!("at most {MAX_VALUES} values in all")));
            }
            self.0.push(v as f32);
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowsVisitor;
        impl<'de> Visitor<'de> for RowsVisitor {
            type Value = Rows;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of rows of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
                let mut rows = Rows::default();
                while rows.push_row(&mut seq)? {}
                Ok(rows)
            }
        }
        d.deserialize_seq(RowsVisitor)
    }
}

/// Images, each an array of rows of numbers, stored as one `Rows` and the row count of each.
#[derive(Debug, Default)]
pub struct Images {
    rows: Rows,
    ends: Vec<usize>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The rows of image `i`.
    pub fn image(&self, i: usize) -> impl Iterator<Item = &[f32]> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (start..self.ends[i]).map(|r| self.rows.row(r))
    }
}

/// Pushes one image's rows.
struct ImageRows<'a>(&'a mut Rows);

impl<'de> DeserializeSeed<'de> for ImageRows<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ImageRows<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an image: an array of rows of numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let first = self.0.len();
        while self.0.push_row(&mut seq)? {
            if self.0.len() - first > MAX_IMAGE_ROWS {
                return Err(de::Error::custom(format!("at most {MAX_IMAGE_ROWS} rows per image")));
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Images {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ImagesVisitor;
        impl<'de> Visitor<'de> for ImagesVisitor {
            type Value = Images;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of images")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Images, A::Error> {
                let mut images = Images::default();
                loop {
                    if images.len() == MAX_ROWS {
                        return Err(de::Error::custom(format!("at most {MAX_ROWS} images")));
                    }
                    if seq.next_element_seed(ImageRows(&mut images.rows))?.is_none() {
                        return Ok(images);
                    }
                    images.ends.push(images.rows.len());
                }
            }
        }
        d.deserialize_seq(ImagesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_shape_in_flat_storage() {
        let rows: Rows = serde_json::from_str("[[1, 2.5], [], [3]]").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.row(0), &[1.0, 2.5]);
        assert!(rows.row(1).is_empty());
        assert_eq!(rows.row(2), &[3.0]);
        let images: Images = serde_json::from_str("[[[1, 2], [3, 4]], [[5]]]").unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(
            images.image(0).collect::<Vec<_>>(),
            vec![&[1.0, 2.0][..], &[3.0, 4.0][..]]
        );
        assert_eq!(images.image(1).collect::<Vec<_>>(), vec![&[5.0][..]]);
    }

    #[test]
    fn too_many_rows_stop_the_parse_at_the_cap() {
        let body = format!("[{}[0]]", "[0],".repeat(MAX_ROWS));
        let err = serde_json::from_str::<Rows>(&body).unwrap_err();
        assert!(err.to_string().contains("at most 10000 rows"), "{err}");
        let body = format!("[[{}0]]", "0,".repeat(MAX_VALUES));
        let err = serde_json::from_str::<Rows>(&body).unwrap_err();
        assert!(err.to_string().contains("values in all"), "{err}");
        let body = format!("[[{}[0]]]", "[0],".repeat(MAX_IMAGE_ROWS));
        let err = serde_json::from_str::<Images>(&body).unwrap_err();
        assert!(err.to_string().contains("rows per image"), "{err}");
    }

    #[test]
    fn a_value_beyond_f32_becomes_infinite_for_the_finiteness_check_to_refuse() {
        let rows: Rows = serde_json::from_str("[[1e39]]").unwrap();
        assert!(rows.row(0)[0].is_infinite());
        assert!(serde_json::from_str::<Rows>(r#"[["a"]]"#).is_err());
    }
}
