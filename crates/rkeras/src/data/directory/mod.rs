//! `image_dataset_from_directory`: a folder of images, one sub-folder per class, as a
//! dataset that `fit`, `evaluate` and `predict` stream from, exactly as Keras indexes,
//! orders, shuffles and splits it.
//!
//! ```no_run
//! use rkeras::data::image_dataset_from_directory;
//! let (train, val) = image_dataset_from_directory("flowers")
//!     .image_size((64, 64))
//!     .batch_size(32)
//!     .validation_split(0.2)
//!     .seed(123)
//!     .load_both()?;
//! println!("{:?}", train.class_names());
//! # Ok::<(), rkeras::Error>(())
//! ```

pub(crate) mod image_file;
pub mod index;
mod loader;

pub use index::{Ignored, ALLOWED_FORMATS};
pub use loader::{Batch, Epoch};

use crate::error::{Error, Result};
use crate::shape::IntoPair;
use rkeras_kernels::image::Interpolation;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How labels are encoded in the batches (Keras's `label_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelMode {
    /// One class index per image (for `sparse_categorical_crossentropy`).
    Int,
    /// One-hot rows of `num_classes` values (for `categorical_crossentropy`).
    Categorical,
    /// One 0/1 value per image, exactly two classes (for `binary_crossentropy`).
    Binary,
    /// No labels: the dataset yields images only.
    None,
}

/// Pixels per image (Keras's `color_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// One channel.
    Grayscale,
    /// Three channels.
    Rgb,
    /// Four channels.
    Rgba,
}

impl ColorMode {
    /// Number of channels.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// Which part of a split to load (Keras's `subset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subset {
    /// The first `N - int(split * N)` files.
    Training,
    /// The last `int(split * N)` files.
    Validation,
    /// Both, as a pair ([`DirectoryOptions::load_both`]).
    Both,
}

/// Where the labels come from (Keras's `labels`).
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// From the sub-folder names.
    Inferred,
    /// No labels.
    None,
    /// One integer per file, in the sorted order of the file paths of the whole tree.
    List(Vec<i64>),
}

/// How images are fitted to `image_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aspect {
    Stretch,
    Crop,
    Pad,
}

/// The arguments of `image_dataset_from_directory`, as builder methods; finish with
/// [`load`](Self::load) or [`load_both`](Self::load_both). Defaults are Keras's.
#[derive(Clone, Debug)]
pub struct DirectoryOptions {
    directory: PathBuf,
    labels: Labels,
    label_mode: String,
    class_names: Option<Vec<String>>,
    color_mode: String,
    batch_size: Option<usize>,
    image_size: (usize, usize),
    shuffle: bool,
    seed: Option<u64>,
    validation_split: Option<f64>,
    subset: Option<String>,
    interpolation: String,
    follow_links: bool,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    verbose: bool,
    skip_bad_files: bool,
    cache: bool,
    workers: usize,
}

/// Starts describing a dataset of the images under `directory` (Keras's
/// `keras.utils.image_dataset_from_directory`). See [`DirectoryOptions`].
pub fn image_dataset_from_directory(directory: impl AsRef<Path>) -> DirectoryOptions {
    DirectoryOptions {
        directory: directory.as_ref().to_path_buf(),
        labels: Labels::Inferred,
        label_mode: "int".into(),
        class_names: None,
        color_mode: "rgb".into(),
        batch_size: Some(32),
        image_size: (256, 256),
        shuffle: true,
        seed: None,
        validation_split: None,
        subset: None,
        interpolation: "bilinear".into(),
        follow_links: false,
        crop_to_aspect_ratio: false,
        pad_to_aspect_ratio: false,
        verbose: true,
        skip_bad_files: false,
        cache: false,
        workers: 1,
    }
}

impl DirectoryOptions {
    /// `"inferred"` labels (default), none, or an explicit list.
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }
    /// `"int"` (default), `"categorical"`, `"binary"` or `"none"`.
    pub fn label_mode(mut self, mode: &str) -> Self {
        self.label_mode = mode.into();
        self
    }
    /// Classes to use, in this order (a subset of the sub-folders).
    pub fn class_names<S: AsRef<str>>(mut self, names: &[S]) -> Self {
        self.class_names = Some(names.iter().map(|s| s.as_ref().to_string()).collect());
        self
    }
    /// `"grayscale"`, `"rgb"` (default) or `"rgba"`.
    pub fn color_mode(mut self, mode: &str) -> Self {
        self.color_mode = mode.into();
        self
    }
    /// Images per batch (default 32); `None` yields single images.
    pub fn batch_size(mut self, b: impl Into<Option<usize>>) -> Self {
        self.batch_size = b.into();
        self
    }
    /// `(height, width)` every image is resized to (default 256x256); an integer is squared.
    pub fn image_size(mut self, size: impl IntoPair) -> Self {
        self.image_size = size.into_pair();
        self
    }
    /// Shuffle the files (default true); false keeps the sorted order.
    pub fn shuffle(mut self, s: bool) -> Self {
        self.shuffle = s;
        self
    }
    /// Seed of the shuffle and split (numpy's `RandomState`, so Keras's files land in the
    /// same split); also seeds the per-epoch reshuffle.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self
    }
    /// Fraction of the files reserved for validation, in (0, 1); needs a `subset`.
    pub fn validation_split(mut self, s: f64) -> Self {
        self.validation_split = Some(s);
        self
    }
    /// `"training"`, `"validation"` or `"both"`.
    pub fn subset(mut self, s: &str) -> Self {
        self.subset = Some(s.into());
        self
    }
    /// `"bilinear"` (default) or `"nearest"`.
    pub fn interpolation(mut self, s: &str) -> Self {
        self.interpolation = s.into();
        self
    }
    /// Descend into symbolic links to folders (default false).
    pub fn follow_links(mut self, f: bool) -> Self {
        self.follow_links = f;
        self
    }
    /// Crop the largest centred window with the target aspect ratio before resizing.
    pub fn crop_to_aspect_ratio(mut self, f: bool) -> Self {
        self.crop_to_aspect_ratio = f;
        self
    }
    /// Resize to fit and pad with zeros instead of stretching.
    pub fn pad_to_aspect_ratio(mut self, f: bool) -> Self {
        self.pad_to_aspect_ratio = f;
        self
    }
    /// Print the "Found N files" line (default true).
    pub fn verbose(mut self, v: bool) -> Self {
        self.verbose = v;
        self
    }
    /// Skip files that fail the pre-training check (listed and counted) instead of
    /// stopping with an error listing them (the default).
    pub fn skip_bad_files(mut self, s: bool) -> Self {
        self.skip_bad_files = s;
        self
    }
    /// Keep decoded, resized images in memory after their first use.
    pub fn cache(mut self, c: bool) -> Self {
        self.cache = c;
        self
    }
    /// Background threads that decode and resize (default 1; at most the number of cores).
    pub fn workers(mut self, n: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        self.workers = n.clamp(1, cores.max(1));
        self
    }

    /// Loads one dataset: all files, or one `subset` of a `validation_split`.
    ///
    /// # Errors
    /// Keras's argument errors; an unreadable or missing folder; no images; bad image
    /// files (listed, unless `skip_bad_files`); `subset("both")` (use `load_both`).
    pub fn load(self) -> Result<ImageDataset> {
        let mut v = self.load_impl(false)?;
        v.pop()
            .ok_or_else(|| Error::State("no dataset was produced".into()))
    }

    /// Loads the training and validation datasets of a `validation_split`
    /// (Keras's `subset="both"`).
    ///
    /// # Errors
    /// As [`load`](Self::load); no `validation_split`.
    pub fn load_both(mut self) -> Result<(ImageDataset, ImageDataset)> {
        if self.subset.is_none() {
            self.subset = Some("both".into());
        }
        let mut v = self.load_impl(true)?;
        let val = v.pop();
        let train = v.pop();
        match (train, val) {
            (Some(t), Some(v)) => Ok((t, v)),
            _ => Err(Error::State("no dataset was produced".into())),
        }
    }

    fn load_impl(self, both: bool) -> Result<Vec<ImageDataset>> {
        let label_mode = match self.label_mode.to_lowercase().as_str() {
            "int" => LabelMode::Int,
            "categorical" => LabelMode::Categorical,
            "binary" => LabelMode::Binary,
            "none" | "" => LabelMode::None,
            other => {
                return Err(Error::arg(
                    "label_mode",
                    "",
                    format!("`label_mode` argument must be one of \"int\", \"categorical\", \"binary\", or None. Received: label_mode={other}"),
                ))
            }
        };
        if !matches!(self.labels, Labels::Inferred) && self.class_names.is_some() {
            return Err(Error::arg(
                "class_names",
                "",
                "You can only pass `class_names` if `labels=\"inferred\"`.",
            ));
        }
        let color = match self.color_mode.as_str() {
            "grayscale" => ColorMode::Grayscale,
            "rgb" => ColorMode::Rgb,
            "rgba" => ColorMode::Rgba,
            other => {
                return Err(Error::arg(
                    "color_mode",
                    "",
                    format!("`color_mode` must be one of {{\"rgb\", \"rgba\", \"grayscale\"}}. Received: color_mode={other}"),
                ))
            }
        };
        let (h, w) = self.image_size;
        if h == 0 || w == 0 {
            return Err(Error::arg(
                "image_size",
                "",
                format!("Invalid `image_size` value. Expected a tuple of 2 positive integers. Received: image_size=({h}, {w})"),
            ));
        }
        let interpolation = match self.interpolation.to_lowercase().as_str() {
            "bilinear" => Interpolation::Bilinear,
            "nearest" => Interpolation::Nearest,
            other @ ("bicubic" | "area" | "lanczos3" | "lanczos5" | "gaussian" | "mitchellcubic") => {
                return Err(Error::arg(
                    "interpolation",
                    "",
                    format!("\"{other}\" is a Keras interpolation rkeras does not implement yet; use \"bilinear\" or \"nearest\""),
                ))
            }
            other => {
                return Err(Error::arg(
                    "interpolation",
                    "",
                    format!("Argument `interpolation` should be one of ('bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5', 'gaussian', 'mitchellcubic'). Received: interpolation={other}"),
                ))
            }
        };
        if self.crop_to_aspect_ratio && self.pad_to_aspect_ratio {
            return Err(Error::arg(
                "pad_to_aspect_ratio",
                "",
                "Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.",
            ));
        }
        let aspect = if self.crop_to_aspect_ratio {
            Aspect::Crop
        } else if self.pad_to_aspect_ratio {
            Aspect::Pad
        } else {
            Aspect::Stretch
        };
        if self.batch_size == Some(0) {
            return Err(Error::arg(
                "batch_size",
                "",
                "expected a positive integer or None, received 0",
            ));
        }
        // The loader keeps up to PREFETCH + 2 batches per worker: they must fit in memory.
        let buffers = (loader::PREFETCH + 2).saturating_mul(self.workers.max(1));
        crate::budget::check(
            || {
                format!(
                    "{buffers} batches of {} images of image_size=({h}, {w}) with {} channels (the loader's buffers)",
                    self.batch_size.unwrap_or(1),
                    color.channels()
                )
            },
            crate::budget::elements(&[
                buffers,
                self.batch_size.unwrap_or(1),
                h,
                w,
                color.channels(),
            ]),
            4,
        )?;
        // Keras's check_validation_split_arg.
        let split = self.validation_split.filter(|s| *s != 0.0);
        if let Some(s) = split {
            if !(s > 0.0 && s < 1.0) {
                return Err(Error::arg(
                    "validation_split",
                    "",
                    format!("`validation_split` must be between 0 and 1, received: {s:?}"),
                ));
            }
        }
        let subset = match self.subset.as_deref() {
            None => None,
            Some("training") => Some(Subset::Training),
            Some("validation") => Some(Subset::Validation),
            Some("both") => Some(Subset::Both),
            Some(other) => {
                return Err(Error::arg(
                    "subset",
                    "",
                    format!("`subset` must be either \"training\", \"validation\" or \"both\", received: {other}"),
                ))
            }
        };
        if split.is_some() != subset.is_some() {
            return Err(Error::arg(
                "subset",
                "",
                "If `subset` is set, `validation_split` must be set, and inversely.",
            ));
        }
        if split.is_some() && self.shuffle && self.seed.is_none() {
            return Err(Error::arg(
                "seed",
                "",
                "If using `validation_split` and shuffling the data, you must provide a `seed` argument, to make sure that there is no overlap between the training and validation subset.",
            ));
        }
        if (subset == Some(Subset::Both)) != both {
            return Err(Error::arg(
                "subset",
                "",
                if both {
                    "load_both() returns the training and validation subsets; set subset(\"both\") or leave it unset"
                } else {
                    "subset \"both\" returns two datasets: call load_both() instead of load()"
                },
            ));
        }
        let seed = match self.seed {
            Some(s) => u32::try_from(s).map_err(|_| {
                Error::arg(
                    "seed",
                    "",
                    format!("Seed must be between 0 and 2**32 - 1, received {s}"),
                )
            })?,
            None => (crate::rng::next_seed() % 1_000_000) as u32,
        };

        // Index.
        let dir = &self.directory;
        // Keras: `label_mode=None` means no labels at all, so the whole tree is walked.
        let inferred = matches!(self.labels, Labels::Inferred) && label_mode != LabelMode::None;
        let mut idx = index::index(
            dir,
            inferred,
            self.class_names.as_deref(),
            self.follow_links,
        )?;
        let mut label_values: Option<Vec<i64>> = match &self.labels {
            Labels::Inferred => Some(idx.classes.iter().map(|&c| c as i64).collect()),
            Labels::None => None,
            Labels::List(l) => {
                if l.len() != idx.paths.len() {
                    return Err(Error::arg(
                        "labels",
                        "",
                        format!(
                            "Expected the lengths of `labels` to match the number of files in the target directory. len(labels) is {} while we found {} files in directory {}.",
                            l.len(),
                            idx.paths.len(),
                            dir.display()
                        ),
                    ));
                }
                let mut uniq = l.clone();
                uniq.sort_unstable();
                uniq.dedup();
                idx.class_names = uniq.iter().map(|v| v.to_string()).collect();
                Some(l.clone())
            }
        };
        let label_mode = if label_values.is_none() {
            LabelMode::None
        } else {
            label_mode
        };
        if label_mode == LabelMode::None {
            label_values = None;
        }
        // Keras's stdout lines, also kept on the datasets (`messages()`).
        let mut messages = Vec::new();
        // Data-parallel: rank 0 alone prints (every rank keeps the messages).
        let chief = crate::distribution::is_chief();
        let mut say = |line: String| {
            if chief {
                println!("{line}");
            }
            messages.push(line);
        };
        if self.verbose {
            if label_values.is_none() {
                say(format!("Found {} files.", idx.paths.len()));
            } else {
                say(format!(
                    "Found {} files belonging to {} classes.",
                    idx.paths.len(),
                    idx.class_names.len()
                ));
            }
        }
        if !idx.ignored.is_empty() && !idx.paths.is_empty() {
            for line in idx.ignored.describe() {
                eprintln!("Note: ignored {line}");
            }
        }
        if label_mode == LabelMode::Binary && idx.class_names.len() != 2 {
            return Err(Error::arg(
                "label_mode",
                "",
                format!(
                    "When passing `label_mode=\"binary\"`, there must be exactly 2 class_names. Received: class_names={}",
                    index::py_list(&idx.class_names)
                ),
            ));
        }
        if idx.paths.is_empty() {
            return Err(no_images(dir, "", &idx, inferred));
        }

        // Check every file before anything trains.
        let checks = check_all(&idx.paths);
        let bad: Vec<(usize, Error)> = checks
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.err().map(|e| (i, e)))
            .collect();
        if !bad.is_empty() {
            let list: Vec<String> = bad.iter().map(|(_, e)| format!("  {e}")).collect();
            if !self.skip_bad_files {
                return Err(Error::Data(format!(
                    "{} of {} image files cannot be read (fix or remove them, or skip them with skip_bad_files / --skip-bad-files):\n{}",
                    bad.len(),
                    idx.paths.len(),
                    list.join("\n")
                )));
            }
            eprintln!(
                "Skipping {} bad image file(s) of {}:\n{}",
                bad.len(),
                idx.paths.len(),
                list.join("\n")
            );
            let drop: std::collections::HashSet<usize> = bad.iter().map(|(i, _)| *i).collect();
            let keep = |i: &usize| !drop.contains(i);
            idx.paths = idx
                .paths
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep(i))
                .map(|(_, p)| p)
                .collect();
            if let Some(lv) = label_values.as_mut() {
                *lv = lv
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(_, v)| *v)
                    .collect();
            }
            if idx.paths.is_empty() {
                return Err(no_images(dir, "", &idx, inferred));
            }
        }

        // Keras: numpy RandomState(seed) shuffles the paths, a fresh one the labels.
        let mut paths = idx.paths;
        if self.shuffle {
            super::numpy_random::shuffle(&mut paths, seed);
            if let Some(lv) = label_values.as_mut() {
                super::numpy_random::shuffle(lv, seed);
            }
        }
        let num_classes = idx.class_names.len();
        let spec = Arc::new(Spec {
            image_size: (h, w),
            color,
            interpolation,
            aspect,
            label_mode,
            num_classes,
            explicit_labels: matches!(self.labels, Labels::List(_)),
            skip_bad_files: self.skip_bad_files,
        });
        let make = |paths: Vec<PathBuf>, labels: Option<Vec<i64>>, reshuffle: bool| ImageDataset {
            messages: Arc::new(Vec::new()),
            inner: Arc::new(Inner::new(paths, labels, self.cache)),
            spec: spec.clone(),
            class_names: idx.class_names.clone(),
            batch_size: self.batch_size,
            reshuffle: reshuffle && self.shuffle,
            seed,
            workers: self.workers,
            augment: None,
        };
        let Some(split) = split else {
            let mut d = make(paths, label_values, true);
            d.messages = Arc::new(messages);
            return Ok(vec![d]);
        };
        let n = paths.len();
        let num_val = (split * n as f64) as usize;
        // Python slicing: `x[:-0]` is empty and `x[-0:]` is everything.
        let cut = if num_val == 0 { 0 } else { n - num_val };
        let take = |from: usize, to: usize| -> (Vec<PathBuf>, Option<Vec<i64>>) {
            (
                paths[from..to].to_vec(),
                label_values.as_ref().map(|l| l[from..to].to_vec()),
            )
        };
        let mut out = Vec::new();
        if matches!(subset, Some(Subset::Training | Subset::Both)) {
            say(format!("Using {} files for training.", n - num_val));
        }
        if matches!(subset, Some(Subset::Validation | Subset::Both)) {
            say(format!("Using {num_val} files for validation."));
        }

        match subset {
            Some(Subset::Training) => {
                let (p, l) = take(0, cut);
                if p.is_empty() {
                    return Err(no_images(dir, "", &Default::default(), inferred));
                }
                out.push(make(p, l, true));
            }
            Some(Subset::Validation) => {
                let (p, l) = take(cut, n);
                out.push(make(p, l, true));
            }
            _ => {
                let (tp, tl) = take(0, cut);
                let (vp, vl) = take(cut, n);
                if tp.is_empty() {
                    return Err(no_images(dir, "training ", &Default::default(), inferred));
                }
                if vp.is_empty() {
                    return Err(no_images(dir, "validation ", &Default::default(), inferred));
                }
                out.push(make(tp, tl, true));
                out.push(make(vp, vl, false));
            }
        }
        let messages = Arc::new(messages);
        for d in &mut out {
            d.messages = messages.clone();
        }
        Ok(out)
    }
}

fn no_images(dir: &Path, which: &str, idx: &index::Index, inferred: bool) -> Error {
    let mut msg = format!(
        "No {which}images found in directory {}. Allowed formats: {}",
        dir.display(),
        index::allowed_formats_str()
    );
    if inferred && which.is_empty() {
        msg.push_str(
            "\nExpected layout: one sub-folder per class holding that class's images, e.g. DIR/cat/1.jpg, DIR/dog/2.png.",
        );
        if idx.class_names.is_empty() {
            msg.push_str(" No class sub-folders were found.");
        }
    }
    let ignored = idx.ignored.describe();
    if !ignored.is_empty() {
        msg.push_str("\nIgnored:");
        for line in ignored {
            msg.push_str("\n  ");
            msg.push_str(&line);
        }
    }
    Error::Data(msg)
}

/// One image file decoded and resized as `image_dataset_from_directory` would
/// (`keras.utils.load_img` + `img_to_array`): `size.0 x size.1 x channels` values in 0..255.
///
/// ```no_run
/// let pixels = rkeras::data::directory::load_image("cat.jpg", (64, 64), 3)?;
/// assert_eq!(pixels.len(), 64 * 64 * 3);
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// An unreadable or undecodable file (named); a channel count other than 1, 3 or 4.
pub fn load_image(
    path: impl AsRef<Path>,
    size: (usize, usize),
    channels: usize,
) -> Result<Vec<f32>> {
    let path = path.as_ref();
    if !matches!(channels, 1 | 3 | 4) {
        return Err(Error::arg(
            "channels",
            "",
            format!("expected 1, 3 or 4, received {channels}"),
        ));
    }
    let bytes = image_file::read(path)?;
    let d = image_file::decode(path, &bytes, channels)?;
    let mut out = vec![0.0f32; size.0 * size.1 * channels];
    rkeras_kernels::image::resize(
        rkeras_kernels::image::ImageRef::new(&d.pixels, d.h, d.w, channels),
        size.0,
        size.1,
        Interpolation::Bilinear,
        &mut out,
    );
    Ok(out)
}

/// Checks every file on a few threads; one result per path, in order.
fn check_all(paths: &[PathBuf]) -> Vec<Result<()>> {
    use rayon::prelude::*;
    paths
        .par_iter()
        .map(|p| image_file::check(p).map(|_| ()))
        .collect()
}

/// What every dataset of one call shares: how to turn a file into a sample.
#[derive(Debug)]
pub(crate) struct Spec {
    pub image_size: (usize, usize),
    pub color: ColorMode,
    pub interpolation: Interpolation,
    pub aspect: Aspect,
    pub label_mode: LabelMode,
    pub num_classes: usize,
    /// Labels came from an explicit list (values, not class positions).
    pub explicit_labels: bool,
    /// A file that fails to decode while streaming is skipped (and recorded), not an error.
    pub skip_bad_files: bool,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub paths: Vec<PathBuf>,
    pub labels: Option<Vec<i64>>,
    /// Decoded, resized images, filled on first use when caching.
    pub cache: Option<Vec<OnceLock<Arc<[f32]>>>>,
    /// Files that passed the up-front check but failed to decode while streaming, skipped
    /// with `skip_bad_files`: (index, error), each file once.
    pub skipped: std::sync::Mutex<Vec<(usize, String)>>,
    /// Files decoded so far (cache misses), for [`ImageDataset::files_decoded`].
    pub decoded: std::sync::atomic::AtomicUsize,
}

impl Inner {
    /// The files `paths` with their `labels`, an empty cache when `cached`, nothing skipped.
    fn new(paths: Vec<PathBuf>, labels: Option<Vec<i64>>, cached: bool) -> Inner {
        let cache = cached.then(|| (0..paths.len()).map(|_| OnceLock::new()).collect());
        Inner {
            paths,
            labels,
            cache,
            skipped: Default::default(),
            decoded: Default::default(),
        }
    }

    /// The skipped files, usable even after a loader thread panicked while holding them.
    fn skipped(&self) -> std::sync::MutexGuard<'_, Vec<(usize, String)>> {
        self.skipped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A dataset of image files: what [`image_dataset_from_directory`] returns.
///
/// Pass it to [`Model::fit_dataset`](crate::Model::fit_dataset), `evaluate_dataset` or
/// `predict_dataset`; or iterate its batches with [`ImageDataset::epoch`]. Images come out
/// as `f32` in 0..255 (add a `Rescaling(1/255)` layer), shape `(batch, h, w, channels)`.
#[derive(Clone, Debug)]
pub struct ImageDataset {
    pub(crate) inner: Arc<Inner>,
    pub(crate) spec: Arc<Spec>,
    class_names: Vec<String>,
    batch_size: Option<usize>,
    reshuffle: bool,
    seed: u32,
    workers: usize,
    pub(crate) augment: Option<Arc<crate::preprocessing::Pipeline>>,
    messages: Arc<Vec<String>>,
}

impl ImageDataset {
    /// The files skipped so far because they passed the up-front check but could not be
    /// decoded while streaming (only with `skip_bad_files`; each file once, with its error).
    /// Training and evaluation leave them out; `predict_dataset` gives them rows of NaN.
    pub fn skipped_files(&self) -> Vec<(PathBuf, String)> {
        self.inner
            .skipped()
            .iter()
            .map(|(i, e)| (self.inner.paths[*i].clone(), e.clone()))
            .collect()
    }

    /// Records that file `i` failed to decode and is skipped (warns the first time).
    pub(crate) fn note_skipped(&self, i: usize, error: &Error) {
        let mut skipped = self.inner.skipped();
        if !skipped.iter().any(|(j, _)| *j == i) {
            eprintln!("Warning: skipping a file that cannot be decoded: {error}");
            skipped.push((i, error.to_string()));
        }
    }

    /// The lines `image_dataset_from_directory` printed for it ("Found N files belonging to
    /// K classes.", "Using M files for training.").
    pub fn messages(&self) -> &[String] {
        &self.messages
    }
    /// Class names, in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }
    /// The files, in the dataset's order.
    pub fn file_paths(&self) -> &[PathBuf] {
        &self.inner.paths
    }
    /// The integer label of each file (same order), if the dataset has labels.
    pub fn labels(&self) -> Option<&[i64]> {
        self.inner.labels.as_deref()
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.inner.paths.len()
    }
    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.inner.paths.is_empty()
    }
    /// Images per batch (`None`: unbatched, one image at a time).
    pub fn batch_size(&self) -> Option<usize> {
        self.batch_size
    }
    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        self.len().div_ceil(self.batch_size.unwrap_or(1))
    }
    /// Shape of one image: `[height, width, channels]`.
    pub fn image_shape(&self) -> [usize; 3] {
        let (h, w) = self.spec.image_size;
        [h, w, self.spec.color.channels()]
    }
    /// How labels are encoded.
    pub fn label_mode(&self) -> LabelMode {
        self.spec.label_mode
    }
    /// Values per label row: 1 (int, binary), the number of classes (categorical), 0 (none).
    pub fn label_len(&self) -> usize {
        match self.spec.label_mode {
            LabelMode::Int | LabelMode::Binary => 1,
            LabelMode::Categorical => self.spec.num_classes,
            LabelMode::None => 0,
        }
    }
    /// The seed of the shuffle, split and per-epoch reshuffle.
    pub fn seed(&self) -> u32 {
        self.seed
    }
    /// Number of images of each class, in class order (empty without labels).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.class_names.len()];
        for &v in self.labels().unwrap_or(&[]) {
            if let Some(c) = self.class_index(v).and_then(|k| counts.get_mut(k)) {
                *c += 1;
            }
        }
        counts
    }
    /// The position in [`class_names`](Self::class_names) of a label value (the value itself
    /// for inferred labels; its rank among the distinct values of an explicit list).
    pub fn class_index(&self, label: i64) -> Option<usize> {
        if self.spec.explicit_labels {
            let s = label.to_string();
            return self.class_names.iter().position(|c| *c == s);
        }
        usize::try_from(label)
            .ok()
            .filter(|&k| k < self.class_names.len())
    }
    /// Reshuffles the images at every epoch (Keras does this for the training split).
    pub fn reshuffle_each_epoch(mut self, r: bool) -> Self {
        self.reshuffle = r;
        self
    }
    /// Applies random augmentation on the background threads, to this dataset only (use it on
    /// the training split). The same seed gives the same images whatever the thread count.
    pub fn augment(mut self, pipeline: crate::preprocessing::Pipeline) -> Self {
        self.augment = Some(Arc::new(pipeline));
        self
    }
    /// Keeps the first `n` files only (in the dataset's order, after Keras's shuffle and
    /// split): quick checks on a slice of a large folder, as the CLI's `--limit`.
    ///
    /// ```no_run
    /// use rkeras::data::image_dataset_from_directory;
    /// let few = image_dataset_from_directory("photos").load()?.take_files(100);
    /// assert!(few.len() <= 100);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn take_files(mut self, n: usize) -> Self {
        if n < self.len() {
            self.inner = Arc::new(Inner::new(
                self.inner.paths[..n].to_vec(),
                self.inner.labels.as_ref().map(|l| l[..n].to_vec()),
                self.inner.cache.is_some(),
            ));
        }
        self
    }
    /// Keeps decoded, resized images in memory after their first use.
    pub fn cache(mut self) -> Self {
        if self.inner.cache.is_none() {
            self.inner = Arc::new(Inner::new(
                self.inner.paths.clone(),
                self.inner.labels.clone(),
                true,
            ));
        }
        self
    }

    /// The order of the files in epoch `epoch`: reshuffled from the seed when reshuffling.
    pub fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if self.reshuffle {
            let mut rng = crate::rng::Rng::new(
                (self.seed as u64) ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            rng.shuffle(&mut order);
        }
        order
    }

    /// Starts streaming epoch `epoch`: background threads decode, resize and augment the
    /// next batches while the caller consumes them.
    pub fn epoch(&self, epoch: usize) -> Epoch {
        Epoch::start(self, epoch, self.epoch_order(epoch), self.workers, None)
    }

    /// Streams the images in file order (no reshuffle, no augmentation): what `predict`
    /// and `evaluate` read.
    pub fn in_order(&self) -> Epoch {
        self.in_order_shard(None)
    }

    /// [`epoch`](Self::epoch) for rank `rank` of `size` of a data-parallel run: every
    /// batch keeps its place and size, but only this rank's rows of it (`[rank * n / size,
    /// (rank + 1) * n / size)`) are read and decoded, the other rows left at zero, so the
    /// ranks together read each file of the epoch once. With `skip_bad_files` every row is
    /// read (a skipped file moves the rows after it, which only a full read knows).
    pub(crate) fn epoch_shard(&self, epoch: usize, shard: Option<(usize, usize)>) -> Epoch {
        let shard = shard.filter(|_| !self.spec.skip_bad_files);
        Epoch::start(self, epoch, self.epoch_order(epoch), self.workers, shard)
    }

    /// [`in_order`](Self::in_order) reading only rank `rank`'s rows of each batch, as
    /// [`epoch_shard`](Self::epoch_shard).
    pub(crate) fn in_order_shard(&self, shard: Option<(usize, usize)>) -> Epoch {
        let mut plain = self.clone();
        plain.augment = None;
        let shard = shard.filter(|_| !self.spec.skip_bad_files);
        Epoch::start(&plain, 0, (0..self.len()).collect(), self.workers, shard)
    }

    /// How many image files this dataset (and its clones) has decoded so far: cache
    /// misses, counted over every epoch read. In a data-parallel fit each rank decodes its
    /// own rows of each batch only, so the ranks' counts add up to one process's.
    ///
    /// ```no_run
    /// use rkeras::prelude::*;
    /// let ds = image_dataset_from_directory("photos").image_size((32, 32)).load()?;
    /// assert_eq!(ds.files_decoded(), 0);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn files_decoded(&self) -> usize {
        self.inner
            .decoded
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
