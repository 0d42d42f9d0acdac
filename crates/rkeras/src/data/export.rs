//! Writing images out as a folder per class (`DIR/<class>/<index>.png`), the layout
//! [`image_dataset_from_directory`](super::image_dataset_from_directory) reads back.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file format of exported images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Lossless PNG (`.png`).
    Png,
    /// JPEG at the encoder's default quality (`.jpg`; 1 or 3 channels).
    Jpeg,
    /// PNG and JPEG alternately, by index (a mixed folder, to exercise loaders).
    Alternate,
}

/// Writes 8-bit pixels (`h * w * c` values, `c` in 1, 3, 4) as a PNG file, atomically
/// (a temporary file renamed into place).
///
/// # Errors
/// A channel count other than 1, 3 or 4, a size mismatch, or a write failure.
pub fn save_png(path: &Path, pixels: &[u8], h: usize, w: usize, c: usize) -> Result<()> {
    save_image(path, pixels, h, w, c, image::ImageFormat::Png)
}

/// Writes 8-bit pixels as a PNG or JPEG file (by `format`), atomically.
///
/// # Errors
/// As [`save_png`]; JPEG with 4 channels.
pub fn save_image(
    path: &Path,
    pixels: &[u8],
    h: usize,
    w: usize,
    c: usize,
    format: image::ImageFormat,
) -> Result<()> {
    let color = match c {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        4 => image::ExtendedColorType::Rgba8,
        _ => {
            return Err(Error::arg(
                "channels",
                "",
                format!("image export takes 1, 3 or 4 channels, received {c}"),
            ))
        }
    };
    if pixels.len() != h * w * c {
        return Err(Error::Data(format!(
            "{} pixel values do not make a {h}x{w}x{c} image",
            pixels.len()
        )));
    }
    // A temporary name in the same folder, then a rename: no half-written image.
    let tmp = path.with_extension("part");
    image::save_buffer_with_format(&tmp, pixels, w as u32, h as u32, color, format).map_err(
        |e| Error::Format {
            path: tmp.clone(),
            message: format!("cannot write {format:?}: {e}"),
        },
    )?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// Writes every sample of `x` (`(N, H, W, C)`, values times `scale` give 0..255) as
/// `dir/<class_names[label]>/<index>.png`; returns the number of files written.
///
/// ```no_run
/// use rkeras::data::{export, fashion_mnist};
/// let (train, _test) = fashion_mnist::load_data()?;
/// let labels: Vec<usize> = train.y.data().iter().map(|v| *v as usize).collect();
/// // Class names become folder names: "T-shirt/top" needs another spelling.
/// let names: Vec<String> = fashion_mnist::CLASS_NAMES.iter().map(|s| s.replace('/', "_")).collect();
/// export::write_image_folder("fmnist", &train.x, &labels, &names, 255.0)?;
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// Shapes that do not fit, a label without a class name, or a write failure.
pub fn write_image_folder(
    dir: impl AsRef<Path>,
    x: &Tensor,
    labels: &[usize],
    class_names: &[String],
    scale: f32,
) -> Result<usize> {
    write_image_folder_as(dir, x, labels, class_names, scale, ExportFormat::Png)
}

/// [`write_image_folder`] in another file format.
///
/// # Errors
/// As [`write_image_folder`].
pub fn write_image_folder_as(
    dir: impl AsRef<Path>,
    x: &Tensor,
    labels: &[usize],
    class_names: &[String],
    scale: f32,
    format: ExportFormat,
) -> Result<usize> {
    let dir = dir.as_ref();
    let [n, h, w, c] = <[usize; 4]>::try_from(x.shape()).map_err(|_| {
        Error::Data(format!(
            "expected images of shape (N, H, W, C), received {:?}",
            x.shape()
        ))
    })?;
    if labels.len() != n {
        return Err(Error::Data(format!(
            "{} labels for {n} images",
            labels.len()
        )));
    }
    for name in class_names {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(Error::arg(
                "class_names",
                "",
                format!("\"{name}\" cannot be a folder name (empty, \".\", \"..\" or a path separator); e.g. write \"{}\"", name.replace(['/', '\\'], "_")),
            ));
        }
        std::fs::create_dir_all(dir.join(name)).map_err(|e| io(&dir.join(name), e))?;
    }
    let digits = n.max(1).to_string().len();
    let mut pixels = vec![0u8; h * w * c];
    for (i, (img, &label)) in x.data().chunks(h * w * c).zip(labels).enumerate() {
        let class = class_names.get(label).ok_or_else(|| {
            Error::Data(format!(
                "label {label} of image {i} has no class name ({} names given)",
                class_names.len()
            ))
        })?;
        for (p, v) in pixels.iter_mut().zip(img) {
            *p = (v * scale).round().clamp(0.0, 255.0) as u8;
        }
        let jpeg = match format {
            ExportFormat::Png => false,
            ExportFormat::Jpeg => true,
            ExportFormat::Alternate => i % 2 == 1,
        };
        let (ext, f) = if jpeg {
            ("jpg", image::ImageFormat::Jpeg)
        } else {
            ("png", image::ImageFormat::Png)
        };
        let path = dir.join(class).join(format!("{i:0digits$}.{ext}"));
        save_image(&path, &pixels, h, w, c, f)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_png_per_image_in_class_folders() {
        let dir = std::env::temp_dir().join(format!("rkeras-export-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let x = Tensor::new(vec![3, 2, 2, 1], (0..12).map(|v| v as f32 / 11.0).collect())
            .expect("tensor");
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            write_image_folder(&dir, &x, &[0, 1, 1], &names, 255.0).expect("write"),
            3
        );
        assert!(dir.join("a/0.png").is_file());
        assert!(dir.join("b/2.png").is_file());
        assert!(write_image_folder(&dir, &x, &[0, 2, 1], &names, 255.0).is_err());
        let slash = vec!["T-shirt/top".to_string(), "b".to_string()];
        let e = write_image_folder(&dir, &x, &[0, 1, 1], &slash, 255.0).expect_err("slash");
        assert!(e.to_string().contains("T-shirt_top"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
