//! Raw flags become a validated plan before any work starts.

use crate::args::{Cli, Command, DataArgs, FitArgs};
use crate::models::ModelKind;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Validated training settings.
#[derive(Debug, Clone)]
pub struct FitPlan {
    pub epochs: usize,
    pub batch_size: usize,
    pub validation_split: f32,
    pub seed: u64,
    pub verbose: u8,
    pub optimizer: String,
    /// `--optimizer` or `--learning-rate` was given (a saved model is recompiled then).
    pub optimizer_given: bool,
    pub learning_rate: Option<f32>,
    pub threads: Option<usize>,
    pub early_stopping: Option<usize>,
    pub monitor: String,
    pub restore_best_weights: bool,
    pub reduce_lr_on_plateau: Option<usize>,
    pub csv_log: Option<PathBuf>,
    pub tensorboard: Option<PathBuf>,
    /// `--histogram-freq`.
    pub histogram_freq: usize,
    pub history: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub checkpoint: Option<String>,
    pub checkpoint_monitor: String,
    pub checkpoint_mode: String,
    pub save_best_only: bool,
    pub save_freq: Option<usize>,
    pub checkpoint_continue_on_error: bool,
    pub train_from: Option<String>,
    pub weights: Option<PathBuf>,
    pub freeze_base: bool,
    /// (layer, epochs, learning rate) of a fine-tuning phase.
    pub fine_tune: Option<(String, usize, Option<f32>)>,
    pub output: Option<PathBuf>,
    pub resume: Option<PathBuf>,
    /// `--class-weight`: balanced, or the weights given.
    pub class_weight: Option<ClassWeightPlan>,
    pub steps_per_epoch: Option<usize>,
    pub validation_steps: Option<usize>,
    pub validation_freq: usize,
    /// `--lr-schedule`, `--warmup-epochs`, `--decay-rate`.
    pub lr_schedule: Option<String>,
    /// `--metrics`, after accuracy.
    pub metrics: Vec<String>,
    pub warmup_epochs: usize,
    pub decay_rate: f64,
    /// `--weight-decay`, `--ema-momentum`, `--gradient-accumulation-steps`.
    pub weight_decay: Option<f32>,
    pub ema_momentum: Option<f32>,
    pub gradient_accumulation_steps: Option<u64>,
}

/// How `--class-weight` weighs the classes.
#[derive(Debug, Clone)]
pub enum ClassWeightPlan {
    /// n_samples / (n_classes * count), from the training labels.
    Balanced,
    /// As given.
    Given(rkeras::train::ClassWeight),
}

/// Validated dataset settings for a folder of images.
#[derive(Debug, Clone)]
pub struct DataPlan {
    pub image_size: (usize, usize),
    pub color_mode: String,
    pub label_mode: String,
    pub interpolation: String,
    pub crop_to_aspect_ratio: bool,
    pub pad_to_aspect_ratio: bool,
    pub follow_links: bool,
    pub rescale: f64,
    pub augment: Option<rkeras::preprocessing::Pipeline>,
    pub cache: bool,
    pub skip_bad_files: bool,
    pub workers: usize,
}

/// Class names given on the command line, and the flag they came from (for errors).
#[derive(Debug)]
pub struct ClassNames {
    pub names: Vec<String>,
    pub from: String,
}

/// What the command will do.
#[derive(Debug)]
pub enum Plan {
    Summary {
        file: Option<PathBuf>,
        model: ModelKind,
        line_length: Option<usize>,
    },
    TrainFolder {
        dir: PathBuf,
        data: DataPlan,
        model: ModelKind,
        limit: Option<usize>,
        fit: FitPlan,
    },
    Data {
        dir: PathBuf,
        data: DataPlan,
        batch_size: usize,
        validation_split: f64,
        seed: u64,
        list: bool,
    },
    Train {
        data_dir: Option<PathBuf>,
        model: ModelKind,
        limit: Option<usize>,
        fit: FitPlan,
    },
    Demo {
        samples: usize,
        fit: FitPlan,
        data_dir: Option<PathBuf>,
    },
    Bench {
        workload: String,
        epochs: Option<usize>,
        threads: Option<usize>,
        dir: Option<PathBuf>,
        regions: bool,
        layers: bool,
        model: Option<PathBuf>,
        /// w5-w8 and app: image side, training batch, images.
        apps: (usize, usize, usize),
        /// w5-w8 and app: every layer but the last frozen.
        frozen: bool,
    },
    Evaluate {
        model: PathBuf,
        dir: PathBuf,
        batch_size: usize,
        skip_bad_files: bool,
        json: bool,
    },
    Predict {
        model: PathBuf,
        images: Vec<PathBuf>,
        class_names: Option<ClassNames>,
        top: usize,
        json: bool,
        skip_bad_files: bool,
    },
    PredictArray {
        model: PathBuf,
        input: PathBuf,
        output: PathBuf,
        batch_size: usize,
    },
    Plot {
        history: PathBuf,
        output: PathBuf,
    },
    Export {
        dataset: String,
        output: PathBuf,
        format: String,
        count: Option<usize>,
        size: usize,
        data_dir: Option<PathBuf>,
    },
}

impl Plan {
    pub fn from_cli(cli: Cli) -> Result<Plan> {
        Ok(match cli.command {
            Command::Summary {
                file,
                model,
                line_length,
            } => {
                let max = rkeras::model::summary::MAX_LINE_LENGTH;
                if let Some(l) = line_length.filter(|l| !(20..=max).contains(l)) {
                    bail!("--line-length must be between 20 and {max}, received {l}");
                }
                Plan::Summary {
                    file,
                    model: ModelKind::parse(&model)?,
                    line_length,
                }
            }
            Command::Train {
                dir: Some(dir),
                data,
                model,
                limit,
                fit,
                ..
            } => {
                if limit == Some(0) {
                    bail!("--limit must be a positive number of samples");
                }
                Plan::TrainFolder {
                    dir,
                    data: data_plan(data)?,
                    model: ModelKind::parse(&model)?,
                    limit,
                    fit: fit_plan(fit, 32)?,
                }
            }
            Command::Data {
                dir,
                data,
                batch_size,
                validation_split,
                seed,
                list,
            } => {
                if batch_size == 0 {
                    bail!("--batch-size must be a positive integer");
                }
                if !(0.0..1.0).contains(&validation_split) {
                    bail!("--validation-split must be in [0, 1), received {validation_split}");
                }
                Plan::Data {
                    dir,
                    data: data_plan(data)?,
                    batch_size,
                    validation_split,
                    seed,
                    list,
                }
            }
            Command::Train {
                dir: None,
                dataset,
                data_dir,
                model,
                limit,
                fit,
                ..
            } => {
                if dataset != "fashion-mnist" {
                    bail!("unknown --dataset '{dataset}'; known datasets: fashion-mnist");
                }
                if limit == Some(0) {
                    bail!("--limit must be a positive number of samples");
                }
                let fit = fit_plan(fit, 128)?;
                folder_only(&fit, "train --dataset")?;
                Plan::Train {
                    data_dir,
                    model: ModelKind::parse(&model)?,
                    limit,
                    fit,
                }
            }
            Command::Evaluate {
                model,
                dir,
                batch_size,
                skip_bad_files,
                json,
            } => {
                if batch_size == 0 {
                    bail!("--batch-size must be a positive integer");
                }
                Plan::Evaluate {
                    model,
                    dir,
                    batch_size,
                    skip_bad_files,
                    json,
                }
            }
            Command::Predict {
                model,
                input: Some(input),
                output,
                batch_size,
                ..
            } => {
                let output = output.context("--input needs --output Y.npy")?;
                if batch_size == 0 {
                    bail!("--batch-size must be at least 1");
                }
                for (path, what) in [(&input, "--input"), (&model, "the model")] {
                    if same_file(&output, path) {
                        bail!(
                            "--output {} is {what}: it would be overwritten; write the predictions elsewhere",
                            output.display()
                        );
                    }
                }
                Plan::PredictArray {
                    model,
                    input,
                    output,
                    batch_size,
                }
            }
            Command::Plot { history, output } => {
                plot_file(&output, "--output")?;
                Plan::Plot { history, output }
            }
            Command::Predict {
                model,
                images,
                class_names,
                classes_from,
                top,
                json,
                skip_bad_files,
                ..
            } => {
                let class_names = match (class_names, classes_from) {
                    (Some(_), Some(_)) => bail!("give --class-names or --classes-from, not both"),
                    (Some(names), None) => Some(ClassNames {
                        names,
                        from: "--class-names".into(),
                    }),
                    (None, Some(dir)) => {
                        let mut names: Vec<String> = std::fs::read_dir(&dir)
                            .map_err(|e| anyhow::anyhow!("--classes-from {}: {e}", dir.display()))?
                            .filter_map(|e| e.ok())
                            .filter(|e| e.path().is_dir())
                            .filter_map(|e| e.file_name().to_str().map(str::to_string))
                            .filter(|n| !n.starts_with('.'))
                            .collect();
                        names.sort();
                        Some(ClassNames {
                            names,
                            from: format!("--classes-from {}", dir.display()),
                        })
                    }
                    (None, None) => None,
                };
                Plan::Predict {
                    model,
                    images,
                    class_names,
                    top,
                    json,
                    skip_bad_files,
                }
            }
            Command::Export {
                dataset,
                output,
                format,
                count,
                size,
                data_dir,
            } => {
                if count == Some(0) || !(8..=MAX_IMAGE_SIDE).contains(&size) {
                    bail!("--count must be positive and --size between 8 and {MAX_IMAGE_SIDE}, received --count {} --size {size}", count.map_or("(default)".into(), |c| c.to_string()));
                }
                if dataset == "shapes" {
                    let n = count.unwrap_or(2000);
                    rkeras::budget::check(
                        || format!("--count {n} images of --size {size}"),
                        rkeras::budget::elements(&[n, size, size, 3]),
                        4,
                    )?;
                }
                Plan::Export {
                    dataset,
                    output,
                    format,
                    count,
                    size,
                    data_dir,
                }
            }
            Command::Bench {
                workload,
                epochs,
                threads,
                dir,
                regions,
                layers,
                model,
                size,
                train_batch,
                images,
                frozen,
            } => {
                if workload == "app" && model.is_none() {
                    bail!("the app workload needs --model FILE (a saved keras.applications model)");
                }
                if ![
                    "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "app", "scaling", "folder",
                ]
                .contains(&workload.as_str())
                {
                    bail!("unknown workload '{workload}'; known: w1, w2, w3, w4, w5, w6, w7, w8, app, scaling, folder");
                }
                if workload == "folder" && dir.is_none() {
                    bail!("the folder workload needs --dir DIR (a folder of images per class)");
                }
                check_threads(threads)?;
                if ["w1", "w2", "w3"].contains(&workload.as_str()) && epochs.is_some_and(|e| e < 2)
                {
                    bail!("--epochs for {workload} must be at least 2: the first epoch is a warm-up, not timed (as the anchors do)");
                }
                if workload == "scaling" && epochs == Some(0) {
                    bail!("the scaling workload needs --epochs of at least 1 (rounds of runs)");
                }
                if regions && !["w1", "w3"].contains(&workload.as_str()) {
                    bail!("--regions is for the w1 and w3 workloads");
                }
                if layers && !["w5", "w6", "w7", "w8", "app"].contains(&workload.as_str()) {
                    bail!("--layers is for the w5, w6, w7, w8 and app workloads");
                }
                if frozen && !["w5", "w6", "w7", "w8", "app"].contains(&workload.as_str()) {
                    bail!("--frozen is for the w5, w6, w7, w8 and app workloads");
                }
                if size < 32 {
                    bail!("--size must be at least 32 (keras.applications' smallest input), got {size}");
                }
                if train_batch == 0 {
                    bail!("--train-batch must be at least 1");
                }
                if images < train_batch.max(32) {
                    bail!("--images must be at least 32 and at least --train-batch ({train_batch}), got {images}");
                }
                Plan::Bench {
                    workload,
                    epochs,
                    threads,
                    dir,
                    regions,
                    layers,
                    model,
                    apps: (size, train_batch, images),
                    frozen,
                }
            }
            Command::Demo {
                samples,
                fit,
                data_dir,
            } => {
                if samples < 8 {
                    bail!("--samples must be at least 8");
                }
                rkeras::budget::check(
                    || format!("--samples {samples} generated images"),
                    rkeras::budget::elements(&[samples, 64, 64, 3]),
                    4,
                )?;
                let fit = fit_plan(fit, 32)?;
                folder_only(&fit, "demo")?;
                Plan::Demo {
                    samples,
                    fit,
                    data_dir,
                }
            }
        })
    }
}

fn fit_plan(a: FitArgs, default_batch: usize) -> Result<FitPlan> {
    let epochs = a.epochs.unwrap_or(5);
    let batch_size = a.batch_size.unwrap_or(default_batch);
    if batch_size == 0 {
        bail!("--batch-size must be a positive integer");
    }
    if !(0.0..1.0).contains(&a.validation_split) {
        bail!(
            "--validation-split must be in [0, 1), received {}",
            a.validation_split
        );
    }
    if a.verbose > 2 {
        bail!("--verbose must be 0, 1 or 2, received {}", a.verbose);
    }
    if let Some(lr) = a.learning_rate {
        if !(lr.is_finite() && lr > 0.0) {
            bail!("--learning-rate must be a positive number, received {lr}");
        }
    }
    check_threads(a.threads)?;
    if a.save_freq == Some(0) || (a.save_freq.is_some() && a.checkpoint.is_none()) {
        bail!("--save-freq needs --checkpoint PATH and a positive number of batches");
    }
    if a.freeze_base && a.train_from.is_some() {
        bail!("give --freeze-base or --train-from LAYER, not both");
    }
    if (a.fine_tune_epochs.is_some() || a.fine_tune_learning_rate.is_some())
        && a.fine_tune_from.is_none()
    {
        bail!("--fine-tune-epochs and --fine-tune-learning-rate need --fine-tune-from LAYER");
    }
    if a.fine_tune_epochs == Some(0) {
        bail!("--fine-tune-epochs must be at least 1");
    }
    if let Some(lr) = a.fine_tune_learning_rate {
        if !(lr.is_finite() && lr > 0.0) {
            bail!("--fine-tune-learning-rate must be a positive number, received {lr}");
        }
    }
    if a.fine_tune_from.is_some() && a.resume.is_some() {
        bail!("--resume cannot be used with --fine-tune-from (a run of two phases)");
    }
    if a.checkpoint_continue_on_error && a.checkpoint.is_none() {
        bail!("--checkpoint-continue-on-error needs --checkpoint PATH");
    }
    if a.save_best_only && a.checkpoint.is_none() {
        bail!("--save-best-only needs --checkpoint PATH");
    }
    let model_file = |s: &str| {
        let l = s.to_ascii_lowercase();
        (l.ends_with(".keras") || l.ends_with(".h5")) && !l.ends_with(".weights.h5")
    };
    if let Some(c) = &a.checkpoint {
        if !model_file(c) {
            bail!("--checkpoint must name a `.keras` file (Keras model format) or a legacy `.h5`, received '{c}'");
        }
    }
    if let Some(o) = &a.output {
        if !model_file(&o.to_string_lossy()) {
            bail!(
                "--output must name a `.keras` file (or a legacy `.h5`), received '{}'",
                o.display()
            );
        }
    }
    if let Some(p) = &a.plot {
        plot_file(p, "--plot")?;
    }
    if a.restore_best_weights && a.early_stopping.is_none() {
        bail!("--restore-best-weights needs --early-stopping PATIENCE");
    }
    for (flag, v) in [
        ("--steps-per-epoch", a.steps_per_epoch),
        ("--validation-steps", a.validation_steps),
        ("--validation-freq", Some(a.validation_freq)),
    ] {
        if v == Some(0) {
            bail!("{flag} must be a positive integer");
        }
    }
    let class_weight = match a.class_weight.as_deref().map(str::trim) {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("balanced") => Some(ClassWeightPlan::Balanced),
        Some(s) => {
            let w = rkeras::train::ClassWeight::parse(s)
                .map_err(|e| anyhow::anyhow!("--class-weight: {e}"))?;
            if let Some((c, v)) = w
                .pairs()
                .into_iter()
                .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
            {
                bail!("--class-weight: class {c} has weight {v}; weights must be finite and >= 0");
            }
            Some(ClassWeightPlan::Given(w))
        }
    };
    const SCHEDULES: [&str; 5] = [
        "cosine",
        "cosine_restarts",
        "exponential",
        "polynomial",
        "inverse_time",
    ];
    let lr_schedule = a.lr_schedule.as_deref().map(str::to_ascii_lowercase);
    if let Some(s) = &lr_schedule {
        if !SCHEDULES.contains(&s.as_str()) {
            bail!(
                "--lr-schedule: unknown schedule '{s}'; known: {}",
                SCHEDULES.join(", ")
            );
        }
    }
    if lr_schedule.is_some() && a.reduce_lr_on_plateau.is_some() {
        bail!("--reduce-lr-on-plateau cannot change a scheduled learning rate: give --lr-schedule or --reduce-lr-on-plateau, not both");
    }
    if a.warmup_epochs.is_some() && lr_schedule.as_deref() != Some("cosine") {
        bail!("--warmup-epochs needs --lr-schedule cosine");
    }
    if a.warmup_epochs.is_some_and(|w| w >= epochs) {
        bail!(
            "--warmup-epochs ({}) must be fewer than --epochs ({epochs}): the warm-up would be longer than the decay",
            a.warmup_epochs.unwrap_or(0)
        );
    }
    if let Some(r) = a.decay_rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--decay-rate must be a positive number, received {r}");
        }
        if !matches!(lr_schedule.as_deref(), Some("exponential" | "inverse_time")) {
            bail!("--decay-rate needs --lr-schedule exponential or inverse_time");
        }
    }
    let metrics: Vec<String> = a
        .metrics
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty() && m != "accuracy")
        .collect();
    for m in &metrics {
        rkeras::metrics::Metric::from_name(m).map_err(|e| anyhow::anyhow!("--metrics: {e}"))?;
    }
    let optimizer_given = a.optimizer.is_some() || a.learning_rate.is_some();
    let optimizer = a
        .optimizer
        .as_deref()
        .unwrap_or("adam")
        .to_ascii_lowercase();
    // Resolve now so an unknown name fails before any work.
    rkeras::optimizers::from_name(&optimizer, a.learning_rate)?;
    Ok(FitPlan {
        epochs,
        batch_size,
        validation_split: a.validation_split,
        seed: a.seed,
        verbose: a.verbose,
        optimizer,
        optimizer_given,
        learning_rate: a.learning_rate,
        threads: a.threads,
        early_stopping: a.early_stopping,
        monitor: a.early_stopping_monitor,
        restore_best_weights: a.restore_best_weights,
        reduce_lr_on_plateau: a.reduce_lr_on_plateau,
        csv_log: a.csv_log,
        tensorboard: a.tensorboard,
        histogram_freq: a.histogram_freq.unwrap_or(0),
        history: a.history,
        plot: a.plot,
        checkpoint: a.checkpoint,
        checkpoint_monitor: a.monitor,
        checkpoint_mode: a.mode,
        save_best_only: a.save_best_only,
        save_freq: a.save_freq,
        checkpoint_continue_on_error: a.checkpoint_continue_on_error,
        train_from: a.train_from,
        weights: a.weights,
        freeze_base: a.freeze_base,
        fine_tune: a.fine_tune_from.map(|l| {
            (
                l,
                a.fine_tune_epochs.unwrap_or(5),
                a.fine_tune_learning_rate,
            )
        }),
        output: a.output,
        resume: a.resume,
        class_weight,
        steps_per_epoch: a.steps_per_epoch,
        validation_steps: a.validation_steps,
        validation_freq: a.validation_freq,
        lr_schedule,
        metrics,
        warmup_epochs: a.warmup_epochs.unwrap_or(0),
        decay_rate: a.decay_rate.unwrap_or(0.5),
        weight_decay: a.weight_decay,
        ema_momentum: a.ema_momentum,
        gradient_accumulation_steps: a.gradient_accumulation_steps,
    })
}

/// Refuses the transfer-learning flags where they do not apply (they are for `train DIR`).
fn folder_only(fit: &FitPlan, what: &str) -> Result<()> {
    if fit.train_from.is_some()
        || fit.fine_tune.is_some()
        || fit.weights.is_some()
        || fit.freeze_base
    {
        bail!("--weights, --freeze-base, --train-from and --fine-tune-from are for `train DIR` (a folder of images), not for {what}");
    }
    Ok(())
}

/// Checks that a plot goes to a `.png` or `.svg` file.
fn plot_file(p: &std::path::Path, flag: &str) -> Result<()> {
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("png" | "svg")) {
        bail!(
            "{flag} must name a .png or .svg file, received '{}'",
            p.display()
        );
    }
    Ok(())
}

/// The largest image side the CLI takes (`--image-size`, `--size`): 16384, TensorFlow's
/// largest JPEG side too.
const MAX_IMAGE_SIDE: usize = 16_384;

/// Parses `64x64`, `64` or `64,48` into (height, width).
fn image_size(s: &str) -> Result<(usize, usize)> {
    let parts: Vec<&str> = s.split(['x', 'X', ',']).map(str::trim).collect();
    let nums: Option<Vec<usize>> = parts.iter().map(|p| p.parse().ok()).collect();
    let (h, w) = match nums.as_deref() {
        Some([n]) if *n > 0 => (*n, *n),
        Some([h, w]) if *h > 0 && *w > 0 => (*h, *w),
        _ => bail!(
            "--image-size expects HEIGHTxWIDTH with positive numbers, e.g. 64x64; received '{s}'"
        ),
    };
    if h.max(w) > MAX_IMAGE_SIDE {
        bail!("--image-size {s}: each side must be at most {MAX_IMAGE_SIDE}");
    }
    Ok((h, w))
}

/// Checks `--threads`: at least 1, at most 16 per core (and at least 16 allowed), so a typo
/// such as `--threads 100000` is an error instead of a machine busy starting threads.
fn check_threads(threads: Option<usize>) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let max = (16 * cores).clamp(16, 4096);
    match threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) if t > max => bail!(
            "--threads {t} is more than {max} (16 per core on this machine's {cores}); leave it out to use every core"
        ),
        _ => Ok(()),
    }
}

/// Parses `0.5`, `1/255` into a number.
fn rescale(s: &str) -> Result<f64> {
    let v = match s.split_once('/') {
        Some((a, b)) => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) if b != 0.0 => a / b,
            _ => bail!("--rescale expects a number or a fraction such as 1/255; received '{s}'"),
        },
        None => s.trim().parse::<f64>().map_err(|_| {
            anyhow::anyhow!(
                "--rescale expects a number or a fraction such as 1/255; received '{s}'"
            )
        })?,
    };
    if !v.is_finite() || v == 0.0 {
        bail!("--rescale must be a finite, non-zero number; received '{s}'");
    }
    Ok(v)
}

fn data_plan(a: DataArgs) -> Result<DataPlan> {
    if !["grayscale", "rgb", "rgba"].contains(&a.color_mode.as_str()) {
        bail!(
            "--color-mode must be grayscale, rgb or rgba; received '{}'",
            a.color_mode
        );
    }
    if !["int", "categorical", "binary"].contains(&a.label_mode.as_str()) {
        bail!(
            "--label-mode must be int, categorical or binary; received '{}'",
            a.label_mode
        );
    }
    if !["bilinear", "nearest"].contains(&a.interpolation.as_str()) {
        bail!(
            "--interpolation must be bilinear or nearest; received '{}'",
            a.interpolation
        );
    }
    if a.crop_to_aspect_ratio && a.pad_to_aspect_ratio {
        bail!("--crop-to-aspect-ratio and --pad-to-aspect-ratio cannot be used together");
    }
    if a.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let augment = match &a.augment {
        Some(spec) => Some(rkeras::preprocessing::Pipeline::parse(spec)?),
        None => None,
    };
    Ok(DataPlan {
        image_size: image_size(&a.image_size)?,
        color_mode: a.color_mode,
        label_mode: a.label_mode,
        interpolation: a.interpolation,
        crop_to_aspect_ratio: a.crop_to_aspect_ratio,
        pad_to_aspect_ratio: a.pad_to_aspect_ratio,
        follow_links: a.follow_links,
        rescale: rescale(&a.rescale)?,
        augment,
        cache: a.cache,
        skip_bad_files: a.skip_bad_files,
        workers: a.workers,
    })
}

/// Whether `a` and `b` name the same file (`b` exists; `a` may not yet).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let Ok(b) = b.canonicalize() else {
        return false;
    };
    if let Ok(a) = a.canonicalize() {
        return a == b;
    }
    let parent = match a.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match (parent.canonicalize(), a.file_name()) {
        (Ok(p), Some(name)) => p.join(name) == b,
        _ => false,
    }
}
