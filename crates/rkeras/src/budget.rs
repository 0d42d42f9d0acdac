//! The memory budget: every size that comes from a file, a flag or a config (an input shape,
//! a weight's shape, a batch of images) is checked against it before anything is allocated,
//! so a hostile or mistaken size is an error that names the value and the limit, never an
//! abort of the process.
//!
//! The limit is the machine's memory plus its swap (`/proc/meminfo`), or 1 TiB where that
//! cannot be read: nothing larger can ever be allocated.

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// The most bytes one allocation (or one set of buffers) may take on this machine.
///
/// ```
/// assert!(rkeras::budget::memory_limit() > 0);
/// ```
pub fn memory_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| read_meminfo().unwrap_or(1 << 40))
}

/// `MemTotal + SwapTotal`, in bytes.
fn read_meminfo() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let total = kib("MemTotal:")?;
    Some((total + kib("SwapTotal:").unwrap_or(0)).saturating_mul(1024))
}

/// The number of elements of `shape`, or `None` when it overflows.
///
/// ```
/// assert_eq!(rkeras::budget::elements(&[2, 3]), Some(6));
/// assert_eq!(rkeras::budget::elements(&[usize::MAX, 2]), None);
/// ```
pub fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Checks that `count` values of `bytes_each` bytes fit in [`memory_limit`]; `what` names
/// them for the error ("the kernel of layer \"dense\" (shape [..])"); `None` stands for a
/// count that overflowed.
///
/// ```
/// use rkeras::budget::{check, elements};
/// assert!(check(|| "a small buffer".into(), elements(&[32, 64, 64, 3]), 4).is_ok());
/// let e = check(|| "--size 100000".into(), elements(&[100_000; 4]), 4).unwrap_err();
/// assert!(e.to_string().starts_with("--size 100000 needs"));
/// ```
///
/// # Errors
/// [`Error::Memory`] with `what`, the size and the limit.
pub fn check(what: impl FnOnce() -> String, count: Option<usize>, bytes_each: usize) -> Result<()> {
    let limit = memory_limit();
    let bytes = count.and_then(|c| c.checked_mul(bytes_each));
    match bytes {
        Some(b) if (b as u128) <= limit as u128 => Ok(()),
        _ => Err(Error::Memory {
            what: what(),
            bytes: bytes.map_or_else(|| "more than 2^64".into(), human),
            limit: human(limit as usize),
        }),
    }
}

/// A vector of `n` zeros, checked against the budget and allocated fallibly.
///
/// # Errors
/// [`Error::Memory`] when `n` floats exceed the budget or cannot be allocated.
pub(crate) fn zeros(what: impl Fn() -> String, n: usize) -> Result<Vec<f32>> {
    check(&what, Some(n), 4)?;
    let refused = || Error::Memory {
        what: what(),
        bytes: human(n.saturating_mul(4)),
        limit: "what the system could allocate now".into(),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    // A zeroed allocation (calloc): large ones come as fresh pages the system maps when
    // first written, so a buffer the caller fills (or never uses) is not written twice.
    let layout = std::alloc::Layout::array::<f32>(n).map_err(|_| refused())?;
    // SAFETY: `layout` has a non-zero size; a null pointer (refused allocation) is checked.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f32>();
    if ptr.is_null() {
        return Err(refused());
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of `n` f32s (so
    // capacity `n`), and all-zero bytes are `n` valid `0.0` values.
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// `1.2 GiB`, `512 B`.
fn human(bytes: usize) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {} ({bytes} bytes)", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_past_the_machine_are_errors_that_name_them() {
        assert_eq!(elements(&[2, 3, 4]), Some(24));
        assert_eq!(elements(&[usize::MAX, 2]), None);
        assert!(check(|| "small".into(), Some(1000), 4).is_ok());
        let e = check(
            || "the kernel of layer \"dense\"".into(),
            Some(usize::MAX / 2),
            4,
        )
        .expect_err("too large")
        .to_string();
        assert!(e.contains("the kernel of layer \"dense\""), "{e}");
        assert!(e.contains("more than 2^64"), "{e}");
        let big = (memory_limit() / 4 + 1) as usize;
        let e = zeros(|| "a buffer".into(), big)
            .expect_err("over the limit")
            .to_string();
        assert!(e.contains("a buffer") && e.contains("GiB"), "{e}");
        assert_eq!(zeros(|| "ok".into(), 3).expect("small"), vec![0.0; 3]);
    }

    #[test]
    fn sizes_read_as_people_do() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 30), "3.0 GiB (3221225472 bytes)");
    }
}
