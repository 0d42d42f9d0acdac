//! `rkeras data DIR`: what a folder dataset would train on, without training.

use super::folder::{self, Loaded};
use crate::plan::DataPlan;
use anyhow::Result;
use std::path::Path;

pub fn run(
    dir: &Path,
    data: &DataPlan,
    batch_size: usize,
    validation_split: f64,
    seed: u64,
    list: bool,
) -> Result<()> {
    let loaded: Loaded = folder::load(dir, data, batch_size, validation_split, seed)?;
    folder::report(&loaded);
    if list {
        let mut splits = vec![("training", &loaded.train)];
        if let Some(v) = &loaded.val {
            splits.push(("validation", v));
        }
        for (split, ds) in splits {
            let labels = ds.labels();
            for (i, path) in ds.file_paths().iter().enumerate() {
                let label = labels
                    .and_then(|l| ds.class_index(l[i]))
                    .and_then(|k| ds.class_names().get(k))
                    .map_or("-", String::as_str);
                println!("{split}\t{label}\t{}", path.display());
            }
        }
    }
    Ok(())
}
