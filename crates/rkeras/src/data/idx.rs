//! Reader for IDX files (the MNIST format), plain or gzip-compressed.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes: its dimensions and values.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxU8 {
    /// Dimensions (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// Row-major values.
    pub data: Vec<u8>,
}

/// Largest IDX payload accepted (guards against hostile headers).
const MAX_BYTES: usize = 1 << 32;

/// Reads an IDX file of `u8` values; `.gz` files are decompressed.
///
/// # Errors
/// A missing or unreadable file, a bad magic number, a non-`u8` type, or a payload whose
/// length does not match the header, each naming the file.
pub fn read_u8(path: &Path) -> Result<IdxU8> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file)
            .take(MAX_BYTES as u64 + 1024)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    } else {
        std::io::BufReader::new(file)
            .take(MAX_BYTES as u64 + 1024)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    parse_u8(&bytes).map_err(|message| Error::Format {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses IDX bytes of `u8` values.
///
/// # Errors
/// As [`read_u8`], as a message.
pub fn parse_u8(bytes: &[u8]) -> std::result::Result<IdxU8, String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (bad magic number)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "IDX type 0x{:02x} is not unsigned byte (0x08)",
            bytes[2]
        ));
    }
    let nd = bytes[3] as usize;
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err("truncated IDX header".into());
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_BYTES);
    let Some(n) = n else {
        return Err(format!("IDX dimensions {dims:?} are too large"));
    };
    if bytes.len() - header != n {
        return Err(format!(
            "IDX payload has {} bytes, the header {dims:?} announces {n}",
            bytes.len() - header
        ));
    }
    Ok(IdxU8 {
        dims,
        data: bytes[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_and_rejects() {
        let mut b = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend([1, 2, 3, 4, 5, 6]);
        let a = parse_u8(&b).expect("ok");
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data[5], 6);
        assert!(parse_u8(&b[..10]).is_err());
        assert!(parse_u8(&b[..15]).is_err());
        assert!(parse_u8(&[0, 0, 9, 1, 0, 0, 0, 1, 0]).is_err());
        assert!(parse_u8(&[0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255]).is_err());
        let e = read_u8(Path::new("/nonexistent/x.gz")).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/x.gz"));
    }
}
