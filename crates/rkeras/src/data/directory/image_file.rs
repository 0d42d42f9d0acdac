//! Reading one image file: a cheap validity check of every file before training (magic
//! bytes, header, end marker), and full decoding to 8-bit pixels with 1, 3 or 4 channels,
//! converting like TensorFlow's `decode_image(channels=...)`.

use crate::error::{Error, Result};
use image::{DynamicImage, ImageFormat, ImageReader};
use std::io::Cursor;
use std::path::Path;

/// Decoded pixels, `h * w * c` bytes, row-major HWC.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub pixels: Vec<u8>,
    pub h: usize,
    pub w: usize,
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a file, with a clear error for unreadable ones.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn guess(path: &Path, bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(bad(path, "the file is empty"));
    }
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp | ImageFormat::Gif)) => {
            Ok(f)
        }
        Ok(other) => Err(bad(
            path,
            format!("{other:?} images are not supported (Keras reads BMP, GIF, JPEG and PNG)"),
        )),
        Err(_) => {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(bad(
                path,
                format!(
                    "not an image: unknown file format (first bytes {})",
                    head.join(" ")
                ),
            ))
        }
    }
}

/// Checks that a file looks like a whole, readable image without decoding its pixels:
/// known magic bytes, a header that parses (with a non-zero size), and for PNG and JPEG
/// the end marker, which catches truncated files.
pub(crate) fn check(path: &Path) -> Result<(usize, usize)> {
    let bytes = read(path)?;
    let format = guess(path, &bytes)?;
    let reader = ImageReader::with_format(Cursor::new(&bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| bad(path, format!("corrupt {format:?} header: {e}")))?;
    if w == 0 || h == 0 {
        return Err(bad(path, format!("the image has no pixels ({w}x{h})")));
    }
    // The end marker anywhere after the header: phones append data (a motion-photo video)
    // after a JPEG's end of image, which decoders accept.
    let body = &bytes[bytes.len().min(16)..];
    let ended = match format {
        ImageFormat::Png => body.windows(4).any(|x| x == b"IEND"),
        ImageFormat::Jpeg => body.windows(2).any(|x| x == [0xFF, 0xD9]),
        _ => true,
    };
    if !ended {
        return Err(bad(
            path,
            format!("truncated {format:?} file: the end-of-image marker is missing"),
        ));
    }
    Ok((h as usize, w as usize))
}

/// Decodes `bytes` (the content of `path`) to `channels` 8-bit channels.
pub(crate) fn decode(path: &Path, bytes: &[u8], channels: usize) -> Result<Decoded> {
    let format = guess(path, bytes)?;
    let img = ImageReader::with_format(Cursor::new(bytes), format)
        .decode()
        .map_err(|e| bad(path, format!("cannot decode {format:?} image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let pixels = convert(img, channels, format);
    Ok(Decoded { pixels, h, w })
}

/// Converts to 1 (grayscale), 3 (RGB) or 4 (RGBA) channels the way TensorFlow's decoders
/// do: alpha is dropped (not composited), grey is replicated, opaque alpha is added.
fn convert(img: DynamicImage, channels: usize, format: ImageFormat) -> Vec<u8> {
    match channels {
        1 => match img {
            DynamicImage::ImageLuma8(g) => g.into_raw(),
            other if format == ImageFormat::Jpeg => jpeg_luma(&other.to_rgb8().into_raw()),
            other => png_luma(&other),
        },
        4 => img.to_rgba8().into_raw(),
        _ => img.to_rgb8().into_raw(),
    }
}

/// libjpeg's RGB to Y conversion (ITU-R BT.601, rounded), which TensorFlow's JPEG decoder
/// applies for one channel.
fn jpeg_luma(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let y = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
            (y + 0.5).min(255.0) as u8
        })
        .collect()
}

/// TensorFlow's PNG grey conversion: libpng's `png_set_rgb_to_gray` with TensorFlow's
/// (0.299, 0.587) weights in fixed point, `(9797 R + 19234 G + 3737 B) >> 15`, truncated;
/// grey + alpha keeps grey.
fn png_luma(img: &DynamicImage) -> Vec<u8> {
    if let DynamicImage::ImageLumaA8(g) = img {
        return g.pixels().map(|p| p.0[0]).collect();
    }
    let rgb = img.to_rgb8();
    rgb.pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            ((9797 * r as u32 + 19234 * g as u32 + 3737 * b as u32) >> 15) as u8
        })
        .collect()
}
