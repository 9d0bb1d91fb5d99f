//! Numbers sent for prediction, parsed straight into flat `f32` storage with their caps
//! checked while parsing: a body can never make the server hold more than `MAX_VALUES`
//! values or `MAX_ROWS` rows, whatever its shape (a 15 MiB body of one-value rows would
//! otherwise be millions of small vectors, ~300 MB).

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

/// Rows per request (native and V2).
pub const MAX_ROWS: usize = 10_000;
/// Values per request: 10,000 MNIST rows (31 MB as f32).
pub const MAX_VALUES: usize = MAX_ROWS * 784;
/// Rows of one image (`images`).
pub const MAX_IMAGE_ROWS: usize = 1024;

/// Ok when every value is finite, else a 422 naming the first that is not (`field[i]`): a
/// JSON number beyond f32's range parses as infinite. For native and V2 predictions alike.
pub fn check_finite(values: &[f32], field: &str) -> Result<(), crate::api::AppError> {
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

/// A row of exactly `width` finite values, else a 422 naming `field`.
pub fn check_row<'a>(values: &'a [f32], width: usize, field: &str) -> Result<&'a [f32], crate::api::AppError> {
    if values.len() != width {
        return Err(crate::api::AppError::invalid(
            field,
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

/// The most common prediction body, `{"inputs": [[n, n, ...], ...]}` and nothing else,
/// parsed in one pass without serde's visitor machinery: on a 784-pixel row this is ~2x
/// faster (the parse was a quarter of a batch-1 prediction's CPU). Values are f64 cast to f32,
/// as `Rows`' deserializer gives (the unit test checks them bit for bit against it). `None`
/// for any other body (other fields, strings, empty rows, over the caps...), which then takes
/// the general path with its errors.
pub fn parse_inputs_only(body: &[u8]) -> Option<Rows> {
    let mut p = Scan { b: body, i: 0 };
    p.expect(b'{')?;
    p.expect(b'"')?;
    if !p.b[p.i..].starts_with(b"inputs\"") {
        return None;
    }
    p.i += 7;
    p.expect(b':')?;
    p.expect(b'[')?;
    // At most one value per two bytes: reserved once rather than grown.
    let mut rows = Rows {
        values: Vec::with_capacity((body.len() / 2).min(MAX_VALUES)),
        ends: Vec::new(),
    };
    loop {
        p.expect(b'[')?;
        loop {
            if rows.values.len() == MAX_VALUES {
                return None;
            }
            rows.values.push(p.number()? as f32);
            match p.next()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
        if rows.ends.len() == MAX_ROWS {
            return None;
        }
        rows.ends.push(rows.values.len());
        match p.next()? {
            b',' => {}
            b']' => break,
            _ => return None,
        }
    }
    p.expect(b'}')?;
    p.skip_ws();
    (p.i == p.b.len()).then_some(rows)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    /// The next byte after whitespace.
    fn next(&mut self) -> Option<u8> {
        self.skip_ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// A JSON number: from its digits and a power of ten when they fit (pixel values do),
    /// else the standard library's parser on the token.
    fn number(&mut self) -> Option<f64> {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            1e19, 1e20, 1e21, 1e22,
        ];
        self.skip_ws();
        let start = self.i;
        let b = self.b;
        let negative = b.get(self.i) == Some(&b'-');
        self.i += usize::from(negative);
        let (mut mantissa, mut digits, mut exp10) = (0u64, 0u32, 0i32);
        let int_start = self.i;
        while let Some(d @ b'0'..=b'9') = b.get(self.i) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            digits += 1;
            self.i += 1;
        }
        let int_len = self.i - int_start;
        // JSON: one or more digits, no leading zero.
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        if b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let frac_start = self.i;
            while let Some(d @ b'0'..=b'9') = b.get(self.i) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                digits += 1;
                exp10 -= 1;
                self.i += 1;
            }
            if self.i == frac_start {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(self.i) {
            self.i += 1;
            let sign = match b.get(self.i) {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            self.i += usize::from(sign != 0);
            let exp_start = self.i;
            let mut e = 0i32;
            while let Some(d @ b'0'..=b'9') = b.get(self.i) {
                e = e.saturating_mul(10).saturating_add(i32::from(d - b'0'));
                self.i += 1;
            }
            if self.i == exp_start {
                return None;
            }
            exp10 = exp10.saturating_add(if sign < 0 { -e } else { e });
        }
        // Up to 19 digits the mantissa is exact in a u64; one rounding to f64 and one
        // multiplication or division by an exact power of ten then stay within an ulp of the
        // correctly rounded value, as serde_json's own default parser does (its result, cast
        // to f32, is what the general path gives).
        let fast = digits <= 19 && exp10.unsigned_abs() <= 22;
        let magnitude = if fast {
            let m = mantissa as f64;
            if exp10 < 0 {
                m / POW10[exp10.unsigned_abs() as usize]
            } else {
                m * POW10[exp10 as usize]
            }
        } else {
            let token = std::str::from_utf8(&b[start + usize::from(negative)..self.i]).ok()?;
            token.parse::<f64>().ok()?
        };
        Some(if negative { -magnitude } else { magnitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path and serde's general path agree bit for bit, or the fast path declines.
    #[test]
    fn the_fast_inputs_parser_agrees_with_the_general_one_or_declines() {
        let general = |body: &str| -> Option<Vec<Vec<u32>>> {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                inputs: Rows,
            }
            let body: Body = serde_json::from_str(body).ok()?;
            Some(
                body.inputs
                    .iter()
                    .map(|r| r.iter().map(|v| v.to_bits()).collect())
                    .collect(),
            )
        };
        let fast = |body: &str| {
            parse_inputs_only(body.as_bytes())
                .map(|r| r.iter().map(|r| r.iter().map(|v| v.to_bits()).collect()).collect())
        };
        let pixels: Vec<String> = (0..=255).map(|b| format!("{}", b as f64 / 255.0)).collect();
        let agreeing = [
            format!("{{\"inputs\": [[{}]]}}", pixels.join(", ")),
            "{\"inputs\":[[0,1],[1,0]]}".to_string(),
            " { \"inputs\" :\n[ [ -0.5 , 1e-3 ,2E+2, 0.0 ] ] } \n".to_string(),
            "{\"inputs\": [[123456789012345678901234567890, 1.7976931348623157e308, 5e-324, 3.4e39]]}".to_string(),
            "{\"inputs\": [[0.1, 0.2, 0.30000000000000004, 9007199254740993, 1e23, 1e-23]]}".to_string(),
        ];
        for body in &agreeing {
            assert!(fast(body).is_some(), "the fast path takes {body}");
            assert_eq!(fast(body), general(body), "{body}");
        }
        let declined = [
            "{\"inputs\": [[1, 2]], \"images\": null}",
            "{\"images\": [[[1]]]}",
            "{\"inputs\": [[]]}",
            "{\"inputs\": []}",
            "{\"inputs\": [[\"1\"]]}",
            "{\"inputs\": [[01]]}",
            "{\"inputs\": [[1.]]}",
            "{\"inputs\": [[.5]]}",
            "{\"inputs\": [[1e]]}",
            "{\"inputs\": [[1, 2]]} x",
            "{\"inputs\": [[1, 2],]}",
            "{\"inputs\": [[1 2]]}",
            "{\"inputs\": [[NaN]]}",
            "[[1]]",
        ];
        for body in declined {
            assert!(fast(body).is_none(), "the fast path declines {body}");
        }
    }

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
