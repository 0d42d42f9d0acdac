//! `rkeras demo`: the seed's CNN learning coloured shapes it draws itself, through the same
//! path as the seed's program: the images are written as PNG files, one folder per class,
//! and read back with `image_dataset_from_directory` (validation split, Rescaling).
//! No download, no arguments, about 20 seconds on two cores. Everything it writes stays in
//! `--data-dir` (`./rkeras-demo` by default).

use crate::models::ModelKind;
use crate::plan::FitPlan;
use anyhow::{bail, Context, Result};
use rkeras::data::{export, image_dataset_from_directory, shapes};
use std::path::{Path, PathBuf};

/// The folder the demo writes to when `--data-dir` is not given.
pub const DEFAULT_DIR: &str = "rkeras-demo";

/// Empties `split` (the demo's own `train` or `test` folder from an earlier run) so that old
/// images do not mix with new ones; refuses a folder holding anything the demo does not write.
fn clear_split(split: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(split) else {
        return Ok(());
    };
    for e in entries {
        let e = e.with_context(|| format!("listing {}", split.display()))?;
        let name = e.file_name();
        let ours = name
            .to_str()
            .is_some_and(|n| shapes::CLASS_NAMES.contains(&n))
            && e.path().is_dir();
        if !ours {
            bail!(
                "{} holds {}, which the demo did not write: choose another --data-dir",
                split.display(),
                e.path().display()
            );
        }
    }
    std::fs::remove_dir_all(split).with_context(|| format!("removing {}", split.display()))
}

fn write_split(root: &Path, n: usize, size: usize, seed: u64) -> Result<()> {
    let (x, y) = shapes::generate(n, size, seed);
    let labels: Vec<usize> = y.data().iter().map(|v| *v as usize).collect();
    let names: Vec<String> = shapes::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
    export::write_image_folder(root, &x, &labels, &names, 255.0)
        .with_context(|| format!("writing the demo images to {}", root.display()))?;
    Ok(())
}

pub fn run(samples: usize, fit: &FitPlan, data_dir: Option<PathBuf>) -> Result<()> {
    let size = 64;
    let root = data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    clear_split(&root.join("train"))?;
    clear_split(&root.join("test"))?;
    let tests = (samples / 5).max(4);
    println!(
        "Writing {samples} training and {tests} test images of {size}x{size}x3 coloured shapes ({}) to {}",
        shapes::CLASS_NAMES.join(", "),
        root.display()
    );
    write_split(&root.join("train"), samples, size, fit.seed)?;
    write_split(&root.join("test"), tests, size, fit.seed.wrapping_add(1))?;

    let opts = image_dataset_from_directory(root.join("train"))
        .image_size((size, size))
        .batch_size(fit.batch_size)
        .seed(fit.seed);
    let (train, val) = if fit.validation_split > 0.0 {
        let (t, v) = opts
            .validation_split(fit.validation_split as f64)
            .load_both()?;
        (t, Some(v))
    } else {
        (opts.load()?, None)
    };
    let test = image_dataset_from_directory(root.join("test"))
        .image_size((size, size))
        .batch_size(fit.batch_size)
        .shuffle(false)
        .load()?;
    println!("Class names: {}", train.class_names().join(", "));

    rkeras::set_random_seed(fit.seed);
    let classes = train.class_names().len();
    let mut model =
        ModelKind::Seed.build_for_images((size, size, 3), 1.0 / 255.0, classes, "softmax")?;
    model.set_class_names(train.class_names());
    model.summary();
    super::compile(&mut model, fit)?;
    // The seed's callbacks: keep the best model by validation accuracy, stop when the
    // validation loss stalls and go back to the best weights.
    let mut cbs = super::callbacks(fit);
    if val.is_some() {
        let best = root.join("best.keras").to_string_lossy().into_owned();
        cbs.push(Box::new(
            rkeras::callbacks::ModelCheckpoint::new(&best)
                .monitor("val_accuracy")
                .mode("max")
                .save_best_only(true),
        ));
        cbs.push(Box::new(
            rkeras::callbacks::EarlyStopping::new()
                .monitor("val_loss")
                .patience(5)
                .restore_best_weights(true)
                .verbose(1),
        ));
    }
    let mut run = model
        .fit_dataset(&train)
        .epochs(fit.epochs)
        .verbose(fit.verbose)
        .seed(fit.seed);
    if let Some(v) = &val {
        run = run.validation_dataset(v);
    }
    let trained = super::with_callbacks(run, &mut cbs).run();
    let history = super::finish_training(fit, trained, &model)?;
    model.save(root.join("model.keras"))?;
    history.save(root.join("history.json"))?;
    history.plot(root.join("history.png"))?;
    println!(
        "Saved in {0}: the images (train/, test/), {1}model.keras, history.json and history.png",
        root.display(),
        if val.is_some() {
            "best.keras (best validation accuracy), "
        } else {
            ""
        }
    );
    let score = model.evaluate_dataset(&test)?;
    if let (Some(first), Some(last)) = (
        history.get("loss").and_then(|l| l.first()),
        history.last("loss"),
    ) {
        println!("Training loss went from {first:.4} to {last:.4}");
    }
    println!("Test loss: {:.4}", score.loss());
    println!(
        "Test accuracy: {:.4}",
        score.get("accuracy").unwrap_or(f64::NAN)
    );
    Ok(())
}
