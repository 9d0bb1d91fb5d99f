//! The most common prediction body, `{"inputs": [[n, n, ...], ...]}` and nothing else, parsed
//! in one pass without serde's visitor machinery. The parse was a quarter of a batch-1
//! prediction's server CPU, so it reads digits eight at a time (one 64-bit load, a check that
//! all eight are digits, three multiplications) rather than one by one.

use super::{MAX_ROWS, MAX_VALUES, Rows};

/// The rows of a `{"inputs": [[...], ...]}` body. Values are f64 cast to f32, as `Rows`'
/// deserializer gives (the unit tests check them bit for bit against it). `None` for any other
/// body (other fields, strings, empty rows, over the caps...), which then takes the general
/// path with its errors.
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

/// Eight ASCII digits at `b[i..i + 8]` as their value, else `None` (fewer than eight bytes
/// left, or one of them is not a digit).
#[inline]
fn eight_digits(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    let v = u64::from_le_bytes(chunk);
    // Every byte is 0x30..=0x39: its high nibble is 3, and adding 6 does not carry into it.
    let high = v & 0xF0F0_F0F0_F0F0_F0F0;
    let carried = v.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
    if high | (carried >> 4) != 0x3333_3333_3333_3333 {
        return None;
    }
    // Little-endian: the first digit is the lowest byte. Pairs, then quads, then all eight.
    let v = v - 0x3030_3030_3030_3030;
    let pairs = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads.wrapping_mul(10_000) + (quads >> 32)) & 0xFFFF_FFFF)
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

    /// Digits at the cursor into `mantissa` (wrapping: past 19 digits the caller does not use
    /// it), eight at a time while it can when `chunks`. Answers how many. Fractions take
    /// chunks (a pixel's has 16-18 digits); integer parts are mostly one digit, where a failed
    /// chunk test would cost more than it saves (measured).
    #[inline]
    fn digits(&mut self, mantissa: &mut u64, chunks: bool) -> u32 {
        let start = self.i;
        while let Some(eight) = chunks.then(|| eight_digits(self.b, self.i)).flatten() {
            *mantissa = mantissa.wrapping_mul(100_000_000).wrapping_add(eight);
            self.i += 8;
        }
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.i += 1;
        }
        (self.i - start) as u32
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
        // Zero as JSON writers spell it ("0" from JavaScript, "0.0" from Python) is most of an
        // image's pixels: taken whole when the next byte cannot continue the number.
        let ends = |c: u8| !(c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E'));
        match b.get(start..start + 4) {
            Some(&[b'0', c, ..]) if ends(c) => {
                self.i += 1;
                return Some(0.0);
            }
            Some(&[b'0', b'.', b'0', c]) if ends(c) => {
                self.i += 3;
                return Some(0.0);
            }
            _ => {}
        }
        let negative = b.get(self.i) == Some(&b'-');
        self.i += usize::from(negative);
        let mut mantissa = 0u64;
        let int_start = self.i;
        let int_len = self.digits(&mut mantissa, false);
        // JSON: one or more digits, no leading zero.
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut digits = int_len;
        let mut exp10 = 0i32;
        if b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let frac_len = self.digits(&mut mantissa, true);
            if frac_len == 0 {
                return None;
            }
            digits += frac_len;
            // Clamped only to keep the cast exact: past 22 the standard parser takes the token.
            exp10 = -(frac_len.min(1 << 20) as i32);
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
        // A zero skips the division: its latency was the parse's largest cost, and most
        // pixels are zero.
        let fast = digits <= 19 && exp10.unsigned_abs() <= 22;
        let magnitude = if fast && mantissa == 0 {
            0.0
        } else if fast {
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

    /// What the general path (serde, `Rows`' deserializer) gives for a body, as bits.
    fn general(body: &str) -> Option<Vec<Vec<u32>>> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[allow(dead_code)]
            inputs: Rows,
        }
        let body: Body = serde_json::from_str(body).ok()?;
        Some(
            body.inputs
                .iter()
                .map(|r| r.iter().map(|v| v.to_bits()).collect())
                .collect(),
        )
    }

    fn fast(body: &str) -> Option<Vec<Vec<u32>>> {
        parse_inputs_only(body.as_bytes()).map(|r| r.iter().map(|r| r.iter().map(|v| v.to_bits()).collect()).collect())
    }

    #[test]
    fn eight_digits_reads_eight_ascii_digits_or_declines() {
        assert_eq!(eight_digits(b"12345678", 0), Some(12_345_678));
        assert_eq!(eight_digits(b"x00000009", 1), Some(9));
        assert_eq!(eight_digits(b"99999999", 0), Some(99_999_999));
        for bad in [
            &b"1234567"[..],
            b"1234567.",
            b"/2345678",
            b"1234567:",
            b"12 45678",
            b"1234e678",
        ] {
            assert_eq!(eight_digits(bad, 0), None, "{:?}", std::str::from_utf8(bad));
        }
    }
    /// The fast path and serde's general path agree bit for bit, or the fast path declines.
    #[test]
    fn the_fast_inputs_parser_agrees_with_the_general_one_or_declines() {
        let pixels: Vec<String> = (0..=255).map(|b| format!("{}", b as f64 / 255.0)).collect();
        let agreeing = [
            format!("{{\"inputs\": [[{}]]}}", pixels.join(", ")),
            "{\"inputs\":[[0,1],[1,0]]}".to_string(),
            " { \"inputs\" :\n[ [ -0.5 , 1e-3 ,2E+2, 0.0 ] ] } \n".to_string(),
            "{\"inputs\": [[123456789012345678901234567890, 1.7976931348623157e308, 5e-324, 3.4e39]]}".to_string(),
            "{\"inputs\": [[0.1, 0.2, 0.30000000000000004, 9007199254740993, 1e23, 1e-23]]}".to_string(),
            // Zeros in every spelling, and numbers that only start like the zero shortcut.
            "{\"inputs\": [[0, 0.0, 0.00, 0e1, 0.0e-5, 0.01, 0.05, -0, -0.0, 0 ,0.0 ], [0.0], [0]]}".to_string(),
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
            "{\"inputs\": [[00]]}",
            "{\"inputs\": [[0.0.]]}",
            "{\"inputs\": [[0.]]}",
            "{\"inputs\": [[0.0x]]}",
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

    /// Numbers of every length the chunked digit reader splits differently (1 to 24 digits,
    /// around the 8- and 16-digit chunks and the 19-digit limit), with and without a fraction
    /// and an exponent: the fast path gives serde's bits, or declines (then serde parses).
    #[test]
    fn numbers_of_every_length_agree_bit_for_bit() {
        use rand::RngExt as _;
        let mut rng = crate::rng::rng_from_seed(7);
        let mut checked = 0;
        for _ in 0..4000 {
            let digits = |rng: &mut crate::rng::Rng, n: usize| -> String {
                (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
            };
            let int_len = rng.random_range(1..=12usize);
            let mut int = digits(&mut rng, int_len);
            if int_len > 1 && int.starts_with('0') {
                int.replace_range(0..1, "1");
            }
            let mut number = if rng.random_bool(0.2) { format!("-{int}") } else { int };
            if rng.random_bool(0.8) {
                let frac_len = rng.random_range(1..=20usize);
                number = format!("{number}.{}", digits(&mut rng, frac_len));
            }
            if rng.random_bool(0.3) {
                number = format!("{number}e{}", rng.random_range(-30..=30i32));
            }
            let body = format!("{{\"inputs\": [[{number}, 0.0, {number}]]}}");
            let fast = fast(&body);
            if fast.is_some() {
                checked += 1;
                assert_eq!(fast, general(&body), "{body}");
            }
        }
        assert!(checked > 3000, "the fast path took {checked} of 4000");
    }
}
