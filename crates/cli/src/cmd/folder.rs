//! Loading a folder dataset from the CLI flags, and the report every folder command prints:
//! Keras's lines (printed by the loader), the class names, and per split how many files of
//! each class it uses.

use crate::plan::DataPlan;
use anyhow::{Context, Result};
use rkeras::data::{image_dataset_from_directory, ImageDataset};
use std::path::Path;

/// The datasets of one folder: training, and validation when split.
pub struct Loaded {
    pub train: ImageDataset,
    pub val: Option<ImageDataset>,
}

/// Loads `dir` as `data` says, `validation_split` of it held out (Keras's split).
pub fn load(
    dir: &Path,
    data: &DataPlan,
    batch_size: usize,
    validation_split: f64,
    seed: u64,
) -> Result<Loaded> {
    let opts = image_dataset_from_directory(dir)
        .image_size(data.image_size)
        .color_mode(&data.color_mode)
        .label_mode(&data.label_mode)
        .interpolation(&data.interpolation)
        .crop_to_aspect_ratio(data.crop_to_aspect_ratio)
        .pad_to_aspect_ratio(data.pad_to_aspect_ratio)
        .follow_links(data.follow_links)
        .batch_size(batch_size)
        .seed(seed)
        .cache(data.cache)
        .skip_bad_files(data.skip_bad_files)
        .workers(data.workers);
    let what = || format!("loading images from {}", dir.display());
    let (train, val) = if validation_split > 0.0 {
        let (t, v) = opts
            .validation_split(validation_split)
            .load_both()
            .with_context(what)?;
        (t, Some(v))
    } else {
        (opts.load().with_context(what)?, None)
    };
    let train = match &data.augment {
        Some(p) if !p.is_empty() => train.augment(p.clone()),
        _ => train,
    };
    Ok(Loaded { train, val })
}

/// Prints the class names and the per-class counts of each split.
pub fn report(l: &Loaded) {
    let names = l.train.class_names();
    println!("Class names: {}", names.join(", "));
    let mut splits = vec![("training", &l.train)];
    if let Some(v) = &l.val {
        splits.push(("validation", v));
    }
    for (split, ds) in splits {
        let counts = ds.class_counts();
        let parts: Vec<String> = names
            .iter()
            .zip(&counts)
            .map(|(n, c)| format!("{n}: {c}"))
            .collect();
        println!("{split}: {} files ({})", ds.len(), parts.join(", "));
    }
}

/// Lists the files skipped during training because they could not be decoded
/// (`--skip-bad-files`), with their count.
pub fn report_skipped(l: &Loaded) {
    let mut skipped = l.train.skipped_files();
    if let Some(v) = &l.val {
        skipped.extend(v.skipped_files());
    }
    print_skipped(&skipped);
}

/// Prints `Skipped N files that could not be decoded:` and one line per file.
pub fn print_skipped(skipped: &[(std::path::PathBuf, String)]) {
    if skipped.is_empty() {
        return;
    }
    println!(
        "Skipped {} file{} that could not be decoded:",
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" }
    );
    for (path, error) in skipped {
        let error = error
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(error);
        println!("  {}: {error}", path.display());
    }
}
