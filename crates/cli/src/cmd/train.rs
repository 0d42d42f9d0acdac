//! `rkeras train --dataset fashion-mnist --model mnist-convnet`: load, summarise, fit,
//! evaluate on the test set.

use crate::models::ModelKind;
use crate::plan::FitPlan;
use anyhow::{bail, Context, Result};
use rkeras::data::fashion_mnist;
use std::path::PathBuf;
use std::time::Instant;

pub fn run(
    data_dir: Option<PathBuf>,
    kind: ModelKind,
    limit: Option<usize>,
    fit: &FitPlan,
) -> Result<()> {
    let dir = data_dir.unwrap_or_else(fashion_mnist::default_dir);
    rkeras::set_random_seed(fit.seed);
    let mut model = kind.build((28, 28, 1), 10)?;
    // A model with its own Rescaling gets Keras's raw 0..255 pixels, so nothing is scaled
    // twice; the built-in models get them in 0..1, as Keras's examples divide by 255.
    let rescaling = model
        .layers()
        .iter()
        .find(|l| l.class_name() == "Rescaling")
        .map(|l| l.name().to_string());
    let (mut train, test) = match &rescaling {
        Some(_) => fashion_mnist::load_raw_from(&dir),
        None => fashion_mnist::load_data_from(&dir),
    }
    .context("loading Fashion-MNIST")?;
    if let Some(n) = limit {
        let n = n.min(train.x.rows());
        train.x = train.x.slice_rows(0, n);
        train.y = train.y.slice_rows(0, n);
    }
    println!("x_train shape: {:?}", train.x.shape());
    println!("{} train samples", train.x.rows());
    println!("{} test samples", test.x.rows());
    if let Some(layer) = &rescaling {
        println!(
            "The model rescales its inputs itself (layer \"{layer}\"): pixels go in as 0..255"
        );
    }
    model.summary();
    let saved = matches!(kind, ModelKind::Saved(_));
    super::compile_with(&mut model, fit, "sparse_categorical_crossentropy", saved)?;
    let fit_rows =
        (train.x.rows() as f64 * (1.0 - f64::from(fit.validation_split))).floor() as usize;
    let steps = fit
        .steps_per_epoch
        .unwrap_or_else(|| fit_rows.div_ceil(fit.batch_size));
    super::apply_lr_schedule(&mut model, fit, fit.epochs, steps)?;
    let start = Instant::now();
    let mut cbs = super::callbacks(fit);
    let run = model
        .fit(&train.x, &train.y)
        .epochs(fit.epochs)
        .batch_size(fit.batch_size)
        .validation_split(fit.validation_split)
        .verbose(fit.verbose)
        .seed(fit.seed);
    let run = super::with_fit_options(run, fit, || {
        let mut counts = vec![0usize; 10];
        for &v in train.y.data() {
            if let Some(c) = counts.get_mut(v as usize) {
                *c += 1;
            }
        }
        counts
    });
    let trained = super::with_callbacks(run, &mut cbs).run();
    let history = super::finish_training(fit, trained, &model)?;
    let secs = start.elapsed().as_secs_f64();
    let score = model.evaluate_batched(&test.x, &test.y, fit.batch_size)?;
    println!("Test loss: {:.4}", score.loss());
    println!(
        "Test accuracy: {:.4}",
        score.get("accuracy").unwrap_or(f64::NAN)
    );
    let trained = (train.x.rows() as f64 * (1.0 - fit.validation_split as f64)).floor()
        * history.epoch.len() as f64;
    println!(
        "Training time: {secs:.1} s ({:.0} images/s including validation)",
        trained / secs.max(1e-9)
    );
    Ok(())
}

/// `rkeras train DIR`: a built-in model on a folder of images, one sub-folder per class.
pub fn run_folder(
    dir: &std::path::Path,
    data: &crate::plan::DataPlan,
    kind: ModelKind,
    limit: Option<usize>,
    fit: &FitPlan,
) -> Result<()> {
    let mut loaded = super::folder::load(
        dir,
        data,
        fit.batch_size,
        fit.validation_split as f64,
        fit.seed,
    )?;
    if let Some(n) = limit {
        loaded.train = loaded.train.take_files(n);
        println!(
            "--limit {n}: training on the first {} files",
            loaded.train.len()
        );
    }
    super::folder::report(&loaded);
    let classes = loaded.train.class_names().len();
    if classes < 2 {
        bail!(
            "{} has {} class folder{} ({}): a classifier needs at least two. To learn one class, frame it as two: put examples of everything else in a second folder (e.g. {}/other) and train with --label-mode binary",
            dir.display(),
            classes,
            if classes == 1 { "" } else { "s" },
            loaded.train.class_names().join(", "),
            dir.display()
        );
    }
    let [h, w, c] = loaded.train.image_shape();
    let (outputs, head, loss) = match data.label_mode.as_str() {
        "binary" => (1, "sigmoid", "binary_crossentropy"),
        "categorical" => (classes, "softmax", "categorical_crossentropy"),
        _ => (classes, "softmax", "sparse_categorical_crossentropy"),
    };
    rkeras::set_random_seed(fit.seed);
    let mut model = kind.build_for_images((h, w, c), data.rescale, outputs, head)?;
    if data.label_mode != "binary" {
        model.set_class_names(loaded.train.class_names());
    }
    model.summary();
    if let Some(path) = &fit.weights {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        if lower.ends_with(".weights.h5") {
            model.load_weights(path)?;
        } else {
            let skipped = model.load_weights_by_name(path, true)?;
            println!(
                "Loaded the weights of {} by layer name ({} weights skipped: shapes differ)",
                path.display(),
                skipped.len()
            );
        }
    }
    let head = model.layers().last().map(|l| l.name().to_string());
    let train_from = fit.train_from.clone().or(head.filter(|_| fit.freeze_base));
    if let Some(from) = &train_from {
        model.set_trainable_from(Some(from), true)?;
        println!("Training the layers from \"{from}\" on; the layers before it are frozen");
    }
    let saved = matches!(kind, ModelKind::Saved(_));
    super::compile_with(&mut model, fit, loss, saved)?;
    let steps = fit
        .steps_per_epoch
        .unwrap_or_else(|| loaded.train.num_batches());
    super::apply_lr_schedule(&mut model, fit, fit.epochs, steps)?;
    let start = Instant::now();
    let mut cbs = super::callbacks(fit);
    let fit_phase = |model: &mut rkeras::Model,
                     cbs: &mut [Box<dyn rkeras::callbacks::Callback>],
                     first: usize,
                     last: usize| {
        let mut run = model
            .fit_dataset(&loaded.train)
            .epochs(last)
            .initial_epoch(first)
            .verbose(fit.verbose)
            .seed(fit.seed);
        if let Some(v) = &loaded.val {
            run = run.validation_dataset(v);
        }
        let run = super::with_fit_options(run, fit, || loaded.train.class_counts());
        super::with_callbacks(run, cbs).run()
    };
    let mut trained = fit_phase(&mut model, &mut cbs, 0, fit.epochs);
    if let (Some((from, epochs, lr)), Ok(first)) = (&fit.fine_tune, &trained) {
        // The keras.io recipe: unfreeze the top, recompile with a lower rate, train on.
        model.set_trainable_from(Some(from), true)?;
        let lr =
            lr.unwrap_or_else(|| model.optimizer().map_or(1e-3, |o| o.learning_rate()) / 100.0);
        let opt = rkeras::optimizers::from_name(&fit.optimizer, Some(lr))?;
        let mut names = vec!["accuracy"];
        names.extend(fit.metrics.iter().map(String::as_str));
        model.compile(opt, loss, &names)?;
        println!(
            "Fine-tuning the layers from \"{from}\" on for {epochs} epochs at learning rate {lr}"
        );
        let start_epoch = first.epoch.last().map_or(fit.epochs, |e| e + 1);
        let second = fit_phase(&mut model, &mut cbs, start_epoch, start_epoch + epochs);
        trained = match (trained, second) {
            (Ok(mut h), Ok(more)) => {
                h.extend(more);
                Ok(h)
            }
            (_, Err(e)) | (Err(e), _) => Err(e),
        };
    }
    let history = super::finish_training(fit, trained, &model)?;
    let secs = start.elapsed().as_secs_f64();
    super::folder::report_skipped(&loaded);
    if let Some(v) = &loaded.val {
        let score = model.evaluate_dataset(v)?;
        println!("Validation loss: {:.4}", score.loss());
        println!(
            "Validation accuracy: {:.4}",
            score.get("accuracy").unwrap_or(f64::NAN)
        );
    } else if let Some(l) = history.last("loss") {
        println!("Final training loss: {l:.4}");
    }
    let trained = loaded.train.len() as f64 * history.epoch.len() as f64;
    println!(
        "Training time: {secs:.1} s ({:.0} images/s including loading and validation)",
        trained / secs.max(1e-9)
    );
    Ok(())
}
