//! `rkeras train --dataset fashion-mnist --model mnist-convnet`: load, summarise, fit,
//! evaluate on the test set.

use super::compile;
use crate::models::ModelKind;
use crate::plan::FitPlan;
use anyhow::{Context, Result};
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
    let (mut train, test) = fashion_mnist::load_data_from(&dir).context("loading Fashion-MNIST")?;
    if let Some(n) = limit {
        let n = n.min(train.x.rows());
        train.x = train.x.slice_rows(0, n);
        train.y = train.y.slice_rows(0, n);
    }
    println!("x_train shape: {:?}", train.x.shape());
    println!("{} train samples", train.x.rows());
    println!("{} test samples", test.x.rows());
    rkeras::set_random_seed(fit.seed);
    let mut model = kind.build((28, 28, 1), 10)?;
    model.summary();
    compile(&mut model, fit)?;
    let start = Instant::now();
    let mut cbs = super::callbacks(fit);
    let run = model
        .fit(&train.x, &train.y)
        .epochs(fit.epochs)
        .batch_size(fit.batch_size)
        .validation_split(fit.validation_split)
        .verbose(fit.verbose)
        .seed(fit.seed);
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
    fit: &FitPlan,
) -> Result<()> {
    let loaded = super::folder::load(
        dir,
        data,
        fit.batch_size,
        fit.validation_split as f64,
        fit.seed,
    )?;
    super::folder::report(&loaded);
    let classes = loaded.train.class_names().len();
    let [h, w, c] = loaded.train.image_shape();
    let (outputs, head, loss) = match data.label_mode.as_str() {
        "binary" => (1, "sigmoid", "binary_crossentropy"),
        "categorical" => (classes, "softmax", "categorical_crossentropy"),
        _ => (classes, "softmax", "sparse_categorical_crossentropy"),
    };
    rkeras::set_random_seed(fit.seed);
    let mut model = kind.build_for_images((h, w, c), data.rescale, outputs, head)?;
    model.summary();
    let opt = rkeras::optimizers::from_name(&fit.optimizer, fit.learning_rate)?;
    model.compile(opt, loss, &["accuracy"])?;
    let start = Instant::now();
    let mut cbs = super::callbacks(fit);
    let mut run = model
        .fit_dataset(&loaded.train)
        .epochs(fit.epochs)
        .verbose(fit.verbose)
        .seed(fit.seed);
    if let Some(v) = &loaded.val {
        run = run.validation_dataset(v);
    }
    let trained = super::with_callbacks(run, &mut cbs).run();
    let history = super::finish_training(fit, trained, &model)?;
    let secs = start.elapsed().as_secs_f64();
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
