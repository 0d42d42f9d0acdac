//! NumPy `.npy` files in and out, so arrays move between Python and rkeras.
//!
//! Reading accepts what `numpy.save` writes for numeric arrays: format versions 1 to 3,
//! little- or big-endian floats (`f2` excluded), signed and unsigned integers and booleans,
//! C or Fortran order. Everything becomes an `f32` [`Tensor`] in C order. Writing produces
//! version 1.0 `<f4` files, atomically.
//!
//! The header is a Python dict literal; this module parses the three keys numpy writes
//! instead of depending on a full Python-literal parser.

use crate::{Error, Result, Tensor};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The element types `read_npy` converts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Float,
    Int,
    Uint,
    Bool,
}

#[derive(Debug, PartialEq)]
struct Header {
    kind: Kind,
    size: usize,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
}

/// The value of `'key':` in the header dict, up to the next top-level comma or the end.
fn field<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let at = dict
        .find(&format!("'{key}'"))
        .or_else(|| dict.find(&format!("\"{key}\"")))?;
    let rest = dict[at + key.len() + 2..].trim_start().strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

fn parse_header(dict: &str) -> std::result::Result<Header, String> {
    let descr = field(dict, "descr").ok_or("the header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let bad_type =
        || format!("dtype '{descr}' is not a numeric type rkeras reads (float, int, uint, bool)");
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(bad_type)?;
    let code = chars.next().ok_or_else(bad_type)?;
    let size: usize = chars.as_str().parse().map_err(|_| bad_type())?;
    let kind = match (code, size) {
        ('f', 4 | 8) => Kind::Float,
        ('i', 1 | 2 | 4 | 8) => Kind::Int,
        ('u', 1 | 2 | 4 | 8) => Kind::Uint,
        ('b', 1) => Kind::Bool,
        _ => return Err(bad_type()),
    };
    let big_endian = match order {
        '<' | '|' | '=' => false,
        '>' => size > 1,
        _ => return Err(bad_type()),
    };
    let fortran = match field(dict, "fortran_order") {
        Some("False") => false,
        Some("True") => true,
        other => return Err(format!("'fortran_order' is {other:?}, not True or False")),
    };
    let shape_text = field(dict, "shape").ok_or("the header has no 'shape'")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("'shape' is {shape_text}, not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("'shape' holds {s}, not a size"))
        })
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    Ok(Header {
        kind,
        size,
        big_endian,
        fortran,
        shape,
    })
}

fn decode(h: &Header, b: &[u8]) -> f32 {
    let mut buf = [0u8; 8];
    buf[..h.size].copy_from_slice(b);
    if h.big_endian {
        buf[..h.size].reverse();
    }
    match (h.kind, h.size) {
        (Kind::Float, 4) => f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]),
        (Kind::Float, _) => f64::from_le_bytes(buf) as f32,
        (Kind::Bool, _) => f32::from(buf[0] != 0),
        (Kind::Uint, _) => u64::from_le_bytes(buf) as f32,
        (Kind::Int, n) => {
            // Sign-extend from n bytes.
            let shift = 64 - 8 * n as u32;
            ((i64::from_le_bytes(buf) << shift) >> shift) as f32
        }
    }
}

/// Parses `.npy` bytes into an `f32` tensor in C order.
fn from_bytes(bytes: &[u8]) -> std::result::Result<Tensor, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a .npy file (no \\x93NUMPY magic)")?;
    let (&major, rest) = rest.split_first().ok_or("truncated header")?;
    let (_minor, rest) = rest.split_first().ok_or("truncated header")?;
    let (len, rest) = match major {
        1 if rest.len() >= 2 => (u16::from_le_bytes([rest[0], rest[1]]) as usize, &rest[2..]),
        2 | 3 if rest.len() >= 4 => (
            u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize,
            &rest[4..],
        ),
        1..=3 => return Err("truncated header".into()),
        v => {
            return Err(format!(
                "format version {v} is not one numpy writes (1 to 3)"
            ))
        }
    };
    if rest.len() < len {
        return Err("truncated header".into());
    }
    let dict = std::str::from_utf8(&rest[..len]).map_err(|_| "the header is not text")?;
    let h = parse_header(dict)?;
    let data = &rest[len..];
    let count = h
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("the shape overflows")?;
    let need = count.checked_mul(h.size).ok_or("the shape overflows")?;
    if data.len() != need {
        return Err(format!(
            "shape {:?} of {}-byte values needs {need} bytes of data, the file has {}",
            h.shape,
            h.size,
            data.len()
        ));
    }
    let mut out: Vec<f32> = data.chunks_exact(h.size).map(|b| decode(&h, b)).collect();
    if h.fortran && h.shape.len() > 1 {
        out = fortran_to_c(&out, &h.shape);
    }
    Tensor::new(h.shape, out).map_err(|e| e.to_string())
}

/// Reorders a column-major array into row-major.
fn fortran_to_c(src: &[f32], shape: &[usize]) -> Vec<f32> {
    // Fortran strides: the first axis moves fastest.
    let mut fstride = vec![1usize; shape.len()];
    for i in 1..shape.len() {
        fstride[i] = fstride[i - 1] * shape[i - 1];
    }
    let mut idx = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(src.len());
    for _ in 0..src.len() {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.push(src[off]);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

/// Reads a `.npy` file (as `numpy.save` writes it) as an `f32` tensor.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("rkeras-npy-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let x = rkeras::Tensor::new(vec![2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
/// rkeras::data::write_npy(dir.join("x.npy"), &x)?;
/// let back = rkeras::data::read_npy(dir.join("x.npy"))?;
/// assert_eq!(back.shape(), &[2, 3]);
/// assert_eq!(back.data(), x.data());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The file cannot be read, is not a `.npy` file, holds a non-numeric dtype, or its data
/// does not match its shape. The error names the file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    from_bytes(&bytes).map_err(|message| Error::Format {
        path: path.to_path_buf(),
        message,
    })
}

/// `.npy` bytes (version 1.0, `<f4`, C order) for `x`.
fn to_bytes(x: &Tensor) -> Vec<u8> {
    let dims: Vec<String> = x.shape().iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + dict + '\n', padded to 64 bytes.
    let unpadded = MAGIC.len() + 4 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len() + 4 * x.data().len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    for v in x.data() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes `x` as a `.npy` file (`float32`, C order) that `numpy.load` reads; atomically.
///
/// ```no_run
/// let y = rkeras::Tensor::new(vec![1, 2], vec![0.25, 0.75])?;
/// rkeras::data::write_npy("y.npy", &y)?;
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// The file cannot be written.
pub fn write_npy(path: impl AsRef<Path>, x: &Tensor) -> Result<()> {
    crate::fsio::write_atomic(path.as_ref(), &to_bytes(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `numpy.save` writes for `header` followed by `data`.
    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut dict = header.to_string();
        let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
        dict.push_str(&" ".repeat(pad));
        dict.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn writes_exactly_what_numpy_writes() {
        // `np.save(f, np.arange(6, dtype='<f4').reshape(2, 3))`, header bytes from numpy 2.
        let x = Tensor::new(vec![2, 3], (0..6).map(|v| v as f32).collect()).expect("tensor");
        let bytes = to_bytes(&x);
        let expected = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &x.data()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        assert_eq!(bytes, expected);
        assert_eq!((bytes.len() - 24) % 64, 0, "header padded to 64 bytes");
        let one = Tensor::new(vec![3], vec![1.0, 2.0, 3.0]).expect("tensor");
        let back = from_bytes(&to_bytes(&one)).expect("reads");
        assert_eq!(back.shape(), &[3]);
    }

    #[test]
    fn reads_every_numeric_dtype_and_fortran_order() {
        let f8: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = from_bytes(&npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
            &f8,
        ))
        .expect("f8");
        assert_eq!(t.data(), &[1.5, -2.0]);
        let be: Vec<u8> = [7i32, -3].iter().flat_map(|v| v.to_be_bytes()).collect();
        let t = from_bytes(&npy(
            "{'descr': '>i4', 'fortran_order': False, 'shape': (1, 2), }",
            &be,
        ))
        .expect("i4");
        assert_eq!(t.data(), &[7.0, -3.0]);
        let t = from_bytes(&npy(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
            &[0, 128, 255],
        ))
        .expect("u1");
        assert_eq!(t.data(), &[0.0, 128.0, 255.0]);
        let t = from_bytes(&npy(
            "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }",
            &[0xff, 5],
        ))
        .expect("i1");
        assert_eq!(t.data(), &[-1.0, 5.0]);
        // A 2x3 array [[0,1,2],[3,4,5]] stored column by column.
        let f: Vec<u8> = [0f32, 3., 1., 4., 2., 5.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = from_bytes(&npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &f,
        ))
        .expect("fortran");
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.data(), &[0., 1., 2., 3., 4., 5.]);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |b: &[u8]| from_bytes(b).expect_err("bad");
        assert!(err(b"PK\x03\x04").contains("magic"));
        let e = err(&npy(
            "{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }",
            &[0; 20],
        ));
        assert!(e.contains("'<U5'"), "{e}");
        let e = err(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
            &[0; 8],
        ));
        assert!(e.contains("needs 16 bytes"), "{e}");
        let e = err(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
            &[],
        ));
        assert!(e.contains("overflows"), "{e}");
        assert!(err(MAGIC).contains("truncated"));
    }
}
