//! Fashion-MNIST from the IDX files of Debian's `dataset-fashion-mnist` package
//! (`/usr/share/datasets/fashion-mnist`), or any folder holding the same four files.

use super::idx::read_u8;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::{Path, PathBuf};

/// Where Debian installs the files.
pub const DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The ten class names, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Images and labels of one split.
#[derive(Clone, Debug)]
pub struct Split {
    /// Images `(N, 28, 28, 1)`, scaled to `[0, 1]` (as the Keras example prepares them).
    pub x: Tensor,
    /// Class indices `(N,)` in `0..10`.
    pub y: Tensor,
}

/// The default directory: `$RKERAS_FASHION_MNIST` if set, else [`DEFAULT_DIR`].
pub fn default_dir() -> PathBuf {
    crate::settings::settings()
        .fashion_mnist_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Loads `(train, test)` from [`default_dir`].
///
/// ```no_run
/// let (train, test) = rkeras::data::fashion_mnist::load_data()?;
/// assert_eq!(train.x.shape(), &[60000, 28, 28, 1]);
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// As [`load_data_from`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_from(&default_dir())
}

/// Loads `(train, test)` from `dir`, which holds `train-images-idx3-ubyte.gz`,
/// `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`
/// (or the same names without `.gz`).
///
/// # Errors
/// A missing file (the message says how to install the dataset), a corrupt file, or images
/// and labels of different counts.
pub fn load_data_from(dir: &Path) -> Result<(Split, Split)> {
    Ok((
        load_split(dir, "train", 255.0)?,
        load_split(dir, "t10k", 255.0)?,
    ))
}

/// As [`load_data_from`], with the pixels left in 0..255 as Keras's
/// `keras.datasets.fashion_mnist.load_data()` returns them: for a model that rescales its
/// inputs itself (a `Rescaling(1/255)` layer).
///
/// ```no_run
/// let (train, _test) = rkeras::data::fashion_mnist::load_raw_from("/usr/share/datasets/fashion-mnist".as_ref())?;
/// assert!(train.x.data().iter().any(|&v| v > 1.0));
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// As [`load_data_from`].
pub fn load_raw_from(dir: &Path) -> Result<(Split, Split)> {
    Ok((
        load_split(dir, "train", 1.0)?,
        load_split(dir, "t10k", 1.0)?,
    ))
}

fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.exists() {
        return Ok(gz);
    }
    let plain = dir.join(name);
    if plain.exists() {
        return Ok(plain);
    }
    Err(Error::Io {
        path: gz,
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "Fashion-MNIST file not found. Install it with `sudo apt-get install dataset-fashion-mnist` \
             (Debian/Ubuntu), or set RKERAS_FASHION_MNIST to a folder holding the four IDX files",
        ),
    })
}

/// One split, pixels divided by `divisor`.
fn load_split(dir: &Path, prefix: &str, divisor: f32) -> Result<Split> {
    let ipath = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lpath = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_u8(&ipath)?;
    let labels = read_u8(&lpath)?;
    if images.dims.len() != 3 || labels.dims.len() != 1 || images.dims[0] != labels.dims[0] {
        return Err(Error::Format {
            path: ipath,
            message: format!(
                "images {:?} and labels {:?} do not match",
                images.dims, labels.dims
            ),
        });
    }
    if let Some(bad) = labels.data.iter().position(|&l| l >= 10) {
        return Err(Error::Format {
            path: lpath,
            message: format!("label {} at index {bad} is not in 0..10", labels.data[bad]),
        });
    }
    let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
    let x = Tensor::new(
        vec![n, h, w, 1],
        images.data.iter().map(|&v| v as f32 / divisor).collect(),
    )?;
    let y = Tensor::new(vec![n], labels.data.iter().map(|&v| v as f32).collect())?;
    Ok(Split { x, y })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn missing_files_say_how_to_install() {
        let e = load_data_from(Path::new("/nonexistent-dir")).expect_err("missing");
        let s = e.to_string();
        assert!(
            s.contains("apt-get install dataset-fashion-mnist") && s.contains("/nonexistent-dir"),
            "{s}"
        );
    }
}
