//! A strict reader for IDX files (the MNIST format), raw or gzip-compressed.
//!
//! Layout: two zero bytes, a type code, a dimension count, then one big-endian u32 per
//! dimension, then the elements big-endian. The header is validated before any payload is
//! allocated, and the payload is read through `take`, so a corrupt or hostile header can
//! neither panic the reader nor make it allocate more than the file really contains.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::DataError;

/// Refuse headers that claim more elements than this (2^31): far beyond any dataset this
/// crate trains on, and small enough that the element count cannot overflow.
pub const MAX_ELEMENTS: usize = 1 << 31;
const MAX_DIMS: usize = 4;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Element types of the IDX format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxType {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl IdxType {
    fn from_code(code: u8) -> Option<IdxType> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
}

/// The validated header of an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxHeader {
    pub elem: IdxType,
    pub dims: Vec<usize>,
}

impl IdxHeader {
    pub fn element_count(&self) -> usize {
        self.dims.iter().product()
    }
}

/// Element data: u8 kept as is (pixels, labels); every other type converted to f32.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// An n-dimensional array in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: IdxData,
}

/// Reads and validates a whole IDX file; gzip is detected by its magic bytes.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let label = path.display().to_string();
    let reader = open(path)?;
    read_idx_from(reader, &label).map_err(|e| attach_path(e, path))
}

/// An IDX file: the header for type `code` (0x08 unsigned bytes, 0x0D f32) and `dims`,
/// then `payload` verbatim (big-endian values for multi-byte types). For exports and tests.
pub fn encode_idx(code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + payload.len());
    out.extend_from_slice(&[0, 0, code, dims.len() as u8]);
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Reads and validates an IDX file held in memory (raw or gzip).
pub fn read_idx_bytes(bytes: &[u8]) -> Result<IdxArray, DataError> {
    read_idx_from(bytes, "<in-memory IDX>")
}

/// Reads only the header: cheap even for a large gzip file, as only its start is inflated.
pub fn read_idx_header(path: &Path) -> Result<IdxHeader, DataError> {
    let label = path.display().to_string();
    let mut reader = decompressing(open(path)?, &label).map_err(|e| attach_path(e, path))?;
    read_header(&mut reader, &label).map_err(|e| attach_path(e, path))
}

fn open(path: &Path) -> Result<BufReader<File>, DataError> {
    File::open(path).map(BufReader::new).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Plain I/O errors from the parser carry no path; give them the file's.
fn attach_path(e: DataError, path: &Path) -> DataError {
    match e {
        DataError::Io { source, .. } => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    }
}

fn invalid(file: &str, reason: impl Into<String>) -> DataError {
    DataError::InvalidIdx {
        file: file.to_string(),
        reason: reason.into(),
    }
}

/// Format problems (short file, corrupt gzip) are the file's fault and become
/// `InvalidIdx`; anything else is a genuine I/O failure.
fn read_error(file: &str, what: &str, e: std::io::Error) -> DataError {
    use std::io::ErrorKind::*;
    match e.kind() {
        UnexpectedEof => invalid(file, format!("truncated {what}")),
        InvalidData | InvalidInput => invalid(file, format!("corrupt data in {what}: {e}")),
        _ => DataError::Io {
            path: file.into(),
            source: e,
        },
    }
}

fn decompressing<'a, R: Read + 'a>(mut reader: R, file: &str) -> Result<Box<dyn Read + 'a>, DataError> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(file, "header", e)),
        }
    }
    let rejoined = std::io::Cursor::new(head).take(got as u64).chain(reader);
    Ok(if got == 2 && head == GZIP_MAGIC {
        Box::new(MultiGzDecoder::new(rejoined))
    } else {
        Box::new(rejoined)
    })
}

fn read_header(reader: &mut dyn Read, file: &str) -> Result<IdxHeader, DataError> {
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|e| read_error(file, "header", e))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(invalid(
            file,
            format!(
                "magic number starts with {:02x} {:02x}, expected 00 00",
                magic[0], magic[1]
            ),
        ));
    }
    let elem = IdxType::from_code(magic[2])
        .ok_or_else(|| invalid(file, format!("unknown element type code 0x{:02x}", magic[2])))?;
    let ndims = magic[3] as usize;
    if !(1..=MAX_DIMS).contains(&ndims) {
        return Err(invalid(
            file,
            format!("{ndims} dimensions, supported are 1 to {MAX_DIMS}"),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    let mut count: usize = 1;
    for k in 0..ndims {
        let mut b = [0u8; 4];
        reader.read_exact(&mut b).map_err(|e| read_error(file, "header", e))?;
        let d = u32::from_be_bytes(b) as usize;
        // An empty file (zero samples) is legitimate; a zero-width image is not.
        if d == 0 && k > 0 {
            return Err(invalid(file, format!("dimension {k} is zero")));
        }
        count = count
            .checked_mul(d)
            .filter(|&c| c <= MAX_ELEMENTS)
            .ok_or_else(|| invalid(file, format!("header claims more than {MAX_ELEMENTS} elements")))?;
        dims.push(d);
    }
    Ok(IdxHeader { elem, dims })
}

fn read_idx_from(reader: impl Read, file: &str) -> Result<IdxArray, DataError> {
    let mut reader = decompressing(reader, file)?;
    let header = read_header(&mut reader, file)?;
    let count = header.element_count();
    let expected = count * header.elem.size();
    // Capacity is capped: a header may lie about the size, the bytes actually read cannot.
    let mut payload = Vec::with_capacity(expected.min(64 << 20));
    (&mut reader)
        .take(expected as u64)
        .read_to_end(&mut payload)
        .map_err(|e| read_error(file, "payload", e))?;
    if payload.len() < expected {
        return Err(invalid(
            file,
            format!(
                "truncated payload: header {:?} needs {expected} bytes, found {}",
                header.dims,
                payload.len()
            ),
        ));
    }
    let mut extra = [0u8; 1];
    let trailing = reader.read(&mut extra).map_err(|e| read_error(file, "payload", e))?;
    if trailing > 0 {
        return Err(invalid(
            file,
            format!(
                "trailing bytes after the {expected}-byte payload of shape {:?}",
                header.dims
            ),
        ));
    }
    Ok(IdxArray {
        data: decode(header.elem, payload),
        dims: header.dims,
    })
}

fn decode(elem: IdxType, payload: Vec<u8>) -> IdxData {
    fn be<const N: usize>(p: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        p.chunks_exact(N)
            .map(|c| {
                let mut b = [0u8; N];
                b.copy_from_slice(c);
                f(b)
            })
            .collect()
    }
    match elem {
        IdxType::U8 => IdxData::U8(payload),
        IdxType::I8 => IdxData::F32(payload.iter().map(|&b| b as i8 as f32).collect()),
        IdxType::I16 => IdxData::F32(be(&payload, |b| i16::from_be_bytes(b) as f32)),
        IdxType::I32 => IdxData::F32(be(&payload, |b| i32::from_be_bytes(b) as f32)),
        IdxType::F32 => IdxData::F32(be(&payload, f32::from_be_bytes)),
        IdxType::F64 => IdxData::F32(be(&payload, |b| f64::from_be_bytes(b) as f32)),
    }
}

#[cfg(test)]
#[path = "idx_tests.rs"]
pub(crate) mod tests;
