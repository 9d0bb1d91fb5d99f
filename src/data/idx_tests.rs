//! Tests of the IDX reader, and helpers that write small IDX files for other tests.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

pub(crate) use super::encode_idx;

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("tempdir is writable");
}

fn assert_invalid(result: Result<IdxArray, DataError>, needle: &str) {
    match result {
        Err(DataError::InvalidIdx { reason, .. }) => {
            assert!(reason.contains(needle), "reason {reason:?} should mention {needle:?}")
        }
        other => panic!("expected InvalidIdx mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn raw_and_gzipped_u8_files_read_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = encode_idx(0x08, &[2, 3], &[1, 2, 3, 4, 5, 250]);
    // Names deliberately lie: detection must use the magic bytes, not the extension.
    let raw = dir.path().join("a.gz");
    let gz = dir.path().join("b.idx");
    write_file(&raw, &bytes);
    write_file(&gz, &gzip(&bytes));
    let expected = IdxArray {
        dims: vec![2, 3],
        data: IdxData::U8(vec![1, 2, 3, 4, 5, 250]),
    };
    assert_eq!(read_idx(&raw).unwrap(), expected);
    assert_eq!(read_idx(&gz).unwrap(), expected);
}

#[test]
fn every_element_type_decodes_big_endian_to_f32() {
    let cases: Vec<(u8, Vec<u8>, Vec<f32>)> = vec![
        (0x09, vec![0xff, 0x05], vec![-1.0, 5.0]),
        (
            0x0B,
            [-300i16, 7].iter().flat_map(|v| v.to_be_bytes()).collect(),
            vec![-300.0, 7.0],
        ),
        (
            0x0C,
            [-70000i32, 3].iter().flat_map(|v| v.to_be_bytes()).collect(),
            vec![-70000.0, 3.0],
        ),
        (
            0x0D,
            [1.5f32, -0.25].iter().flat_map(|v| v.to_be_bytes()).collect(),
            vec![1.5, -0.25],
        ),
        (
            0x0E,
            [2.5f64, -8.0].iter().flat_map(|v| v.to_be_bytes()).collect(),
            vec![2.5, -8.0],
        ),
    ];
    for (code, payload, want) in cases {
        let arr = read_idx_bytes(&encode_idx(code, &[2], &payload)).unwrap();
        assert_eq!(arr.dims, vec![2]);
        assert_eq!(arr.data, IdxData::F32(want), "type code {code:#x}");
    }
}

#[test]
fn zero_samples_are_allowed_but_a_zero_inner_dimension_is_not() {
    let empty = read_idx_bytes(&encode_idx(0x08, &[0, 28, 28], &[])).unwrap();
    assert_eq!(empty.dims, vec![0, 28, 28]);
    assert_eq!(empty.data, IdxData::U8(vec![]));
    assert_invalid(read_idx_bytes(&encode_idx(0x08, &[3, 0], &[])), "dimension 1 is zero");
}

#[test]
fn truncated_payload_is_an_error_not_a_panic() {
    let bytes = encode_idx(0x08, &[2, 3], &[1, 2, 3, 4, 5]);
    assert_invalid(read_idx_bytes(&bytes), "truncated payload");
    assert_invalid(read_idx_bytes(&gzip(&bytes)), "truncated payload");
}

#[test]
fn truncated_header_is_an_error_not_a_panic() {
    let bytes = encode_idx(0x08, &[2, 3], &[1, 2, 3, 4, 5, 6]);
    for len in 0..12 {
        assert_invalid(read_idx_bytes(&bytes[..len]), "truncated header");
    }
}

#[test]
fn truncated_gzip_stream_is_an_error_not_a_panic() {
    let gz = gzip(&encode_idx(0x08, &[100], &[7; 100]));
    for len in [3, 10, gz.len() / 2, gz.len() - 4] {
        assert!(matches!(read_idx_bytes(&gz[..len]), Err(DataError::InvalidIdx { .. })));
    }
}

#[test]
fn wrong_magic_is_rejected() {
    let mut bytes = encode_idx(0x08, &[1], &[1]);
    bytes[1] = 0x01;
    assert_invalid(read_idx_bytes(&bytes), "magic");
}

#[test]
fn unknown_type_code_is_rejected() {
    assert_invalid(read_idx_bytes(&encode_idx(0x0A, &[1], &[1])), "type code 0x0a");
}

#[test]
fn too_many_or_zero_dimensions_are_rejected() {
    assert_invalid(read_idx_bytes(&encode_idx(0x08, &[], &[])), "0 dimensions");
    assert_invalid(read_idx_bytes(&encode_idx(0x08, &[1; 5], &[1])), "5 dimensions");
}

#[test]
fn trailing_bytes_are_rejected() {
    let bytes = encode_idx(0x08, &[2], &[1, 2, 3]);
    assert_invalid(read_idx_bytes(&bytes), "trailing");
    assert_invalid(read_idx_bytes(&gzip(&bytes)), "trailing");
}

#[test]
fn a_header_claiming_huge_dims_fails_without_allocating_them() {
    // 2^32 * 2^32 overflows; 65536^2 * 10 is 4e10 elements: both refused by the limit.
    let overflow = encode_idx(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[0; 16]);
    assert_invalid(read_idx_bytes(&overflow), "more than");
    let huge = encode_idx(0x0E, &[65536, 65536, 10], &[0; 16]);
    assert_invalid(read_idx_bytes(&huge), "more than");
    // Under the limit but far more than the file holds: a truncation error, quickly.
    let big = encode_idx(0x0E, &[1 << 30], &[0; 16]);
    assert_invalid(read_idx_bytes(&big), "truncated payload");
}

#[test]
fn a_missing_file_is_an_io_error_naming_the_path() {
    let err = read_idx(Path::new("/nonexistent/dir/x-idx1-ubyte")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/dir/x-idx1-ubyte"));
}

#[test]
fn errors_from_a_file_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken-labels-idx1-ubyte");
    write_file(&path, &encode_idx(0x08, &[4], &[1]));
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(msg.contains("broken-labels-idx1-ubyte"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn header_only_read_reports_dims_of_a_gzipped_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgs.gz");
    write_file(&path, &gzip(&encode_idx(0x08, &[3, 2, 2], &[0; 12])));
    let h = read_idx_header(&path).unwrap();
    assert_eq!(h.elem, IdxType::U8);
    assert_eq!(h.dims, vec![3, 2, 2]);
    assert_eq!(h.element_count(), 12);
}
