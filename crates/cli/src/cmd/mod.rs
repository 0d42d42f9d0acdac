//! One function per subcommand.

mod bench;
mod bench_folder;
mod data;
mod demo;
mod export;
mod folder;
mod infer;
mod summary;
mod train;

use crate::plan::{FitPlan, Plan};
use anyhow::{Context, Result};

pub fn run(plan: Plan) -> Result<()> {
    match plan {
        Plan::Summary {
            file: Some(f),
            line_length,
            ..
        } => summary::run_file(&f, line_length),
        Plan::Summary {
            model, line_length, ..
        } => summary::run(model, line_length),
        Plan::Train {
            data_dir,
            model,
            limit,
            fit,
        } => with_threads(&fit, || train::run(data_dir, model, limit, &fit)),
        Plan::Demo {
            samples,
            fit,
            data_dir,
        } => with_threads(&fit, || demo::run(samples, &fit, data_dir)),
        Plan::TrainFolder {
            dir,
            data,
            model,
            limit,
            fit,
        } => with_threads(&fit, || train::run_folder(&dir, &data, model, limit, &fit)),
        Plan::Data {
            dir,
            data,
            batch_size,
            validation_split,
            seed,
            list,
        } => data::run(&dir, &data, batch_size, validation_split, seed, list),
        Plan::Evaluate {
            model,
            dir,
            batch_size,
            skip_bad_files,
            json,
        } => infer::evaluate(&model, &dir, batch_size, skip_bad_files, json),
        Plan::Predict {
            model,
            images,
            class_names,
            top,
            json,
            skip_bad_files,
        } => infer::predict(&model, &images, class_names, top, json, skip_bad_files),
        Plan::PredictArray {
            model,
            input,
            output,
            batch_size,
        } => infer::predict_array(&model, &input, &output, batch_size),
        Plan::Plot { history, output } => {
            let h = rkeras::callbacks::History::load(&history)?;
            h.plot(&output)?;
            println!(
                "Plotted {} epochs of {} to {}",
                h.epoch.len(),
                history.display(),
                output.display()
            );
            Ok(())
        }
        Plan::Export {
            dataset,
            output,
            format,
            count,
            size,
            data_dir,
        } => export::run(&dataset, &output, &format, count, size, data_dir),
        Plan::Bench {
            workload,
            epochs,
            threads,
            dir,
            regions,
            layers,
            model,
            apps,
            frozen,
        } => {
            if workload == "scaling" {
                let threads = threads.unwrap_or_else(rayon::current_num_threads);
                return bench::scaling(threads, epochs.unwrap_or(15));
            }
            let go = || match (workload.as_str(), &dir) {
                ("folder", Some(d)) => bench_folder::run(d, epochs.unwrap_or(100)),
                _ => bench::run(
                    &workload,
                    epochs,
                    (regions, layers),
                    model.as_deref(),
                    apps,
                    frozen,
                ),
            };
            match threads {
                Some(t) => rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .context("starting the thread pool")?
                    .install(go),
                None => go(),
            }
        }
    }
}

/// Runs `f` on a pool of `--threads` workers (default: all cores).
fn with_threads(fit: &FitPlan, f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    match fit.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .context("starting the thread pool")?
            .install(f),
        None => f(),
    }
}

/// Compiles `model` as the plan says, with categorical cross-entropy on integer labels.
fn compile(model: &mut rkeras::Model, fit: &FitPlan) -> Result<()> {
    compile_with(model, fit, "sparse_categorical_crossentropy", false)
}

/// Compiles `model` with the plan's optimizer, `loss` and accuracy; a saved model that came
/// compiled (`saved`) keeps its own settings and optimizer state, as `model.fit` after
/// `load_model` does in Keras, unless `--optimizer` or `--learning-rate` was given.
fn compile_with(model: &mut rkeras::Model, fit: &FitPlan, loss: &str, saved: bool) -> Result<()> {
    if saved && !fit.optimizer_given {
        if let (Some(opt), Some(l)) = (model.optimizer(), model.loss()) {
            println!(
                "Training further with the model's saved compile settings (optimizer {}, learning rate {}, loss {}); --optimizer or --learning-rate replaces them",
                opt.class_name(),
                opt.learning_rate(),
                l.name()
            );
            return Ok(());
        }
    }
    let opt = rkeras::optimizers::from_name(&fit.optimizer, fit.learning_rate)?;
    let mut names = vec!["accuracy"];
    names.extend(fit.metrics.iter().map(String::as_str));
    model.compile(opt, loss, &names)?;
    Ok(())
}

/// The callbacks the training flags ask for.
fn callbacks(fit: &FitPlan) -> Vec<Box<dyn rkeras::callbacks::Callback>> {
    use rkeras::callbacks::{CSVLogger, EarlyStopping, ReduceLROnPlateau, TerminateOnNaN};
    let mut out: Vec<Box<dyn rkeras::callbacks::Callback>> = vec![Box::new(TerminateOnNaN::new())];
    if let Some(p) = fit.early_stopping {
        out.push(Box::new(
            EarlyStopping::new()
                .monitor(&fit.monitor)
                .patience(p)
                .restore_best_weights(fit.restore_best_weights)
                .verbose(1),
        ));
    }
    if let Some(p) = fit.reduce_lr_on_plateau {
        out.push(Box::new(
            ReduceLROnPlateau::new()
                .monitor(&fit.monitor)
                .patience(p)
                .verbose(1),
        ));
    }
    if let Some(path) = &fit.csv_log {
        out.push(Box::new(CSVLogger::new(path)));
    }
    if let Some(dir) = &fit.tensorboard {
        out.push(Box::new(
            rkeras::callbacks::TensorBoard::new(dir)
                .histogram_freq(fit.histogram_freq)
                .write_images(fit.histogram_freq > 0),
        ));
    }
    if let Some(path) = &fit.checkpoint {
        let mut ck = rkeras::callbacks::ModelCheckpoint::new(path)
            .monitor(&fit.checkpoint_monitor)
            .mode(&fit.checkpoint_mode)
            .save_best_only(fit.save_best_only)
            .continue_on_error(fit.checkpoint_continue_on_error)
            .verbose(1);
        if let Some(n) = fit.save_freq {
            ck = ck.save_freq(n);
        }
        out.push(Box::new(ck));
    }
    // Last, so that each backup holds what the other callbacks changed in that epoch (a
    // reduced learning rate); its restore in on_train_begin does not depend on the order.
    if let Some(dir) = &fit.resume {
        out.push(Box::new(rkeras::callbacks::BackupAndRestore::new(dir)));
    }
    out
}

/// Adds `cbs` to a fit.
/// The fit options of the plan (`--class-weight`, `--steps-per-epoch`,
/// `--validation-steps`, `--validation-freq`); `counts` gives the training images per class
/// for `--class-weight balanced`.
fn with_fit_options<'a>(
    mut run: rkeras::train::Fit<'a>,
    fit: &FitPlan,
    counts: impl FnOnce() -> Vec<usize>,
) -> rkeras::train::Fit<'a> {
    use crate::plan::ClassWeightPlan;
    match &fit.class_weight {
        Some(ClassWeightPlan::Given(w)) => run = run.class_weight(w.clone()),
        Some(ClassWeightPlan::Balanced) => {
            let w = rkeras::train::ClassWeight::balanced_from_counts(&counts());
            let shown: Vec<String> = w
                .pairs()
                .iter()
                .map(|(c, v)| format!("{c}:{v:.4}"))
                .collect();
            println!("Class weights (balanced): {}", shown.join(","));
            run = run.class_weight(w);
        }
        None => {}
    }
    if let Some(s) = fit.steps_per_epoch {
        run = run.steps_per_epoch(s);
    }
    if let Some(s) = fit.validation_steps {
        run = run.validation_steps(s);
    }
    run.validation_freq(fit.validation_freq)
}

/// Puts `--lr-schedule` on the compiled model's optimizer, for `epochs` epochs of
/// `steps` steps each (printed, so the user sees the rates it goes through), and the
/// `--weight-decay`, `--ema-momentum` and `--gradient-accumulation-steps` options.
fn apply_lr_schedule(
    model: &mut rkeras::Model,
    fit: &FitPlan,
    epochs: usize,
    steps: usize,
) -> Result<()> {
    use rkeras::optimizers::schedules::Schedule;
    let Some(opt) = model.optimizer_mut() else {
        return Ok(());
    };
    let o = opt.options_mut();
    if let Some(wd) = fit.weight_decay {
        o.weight_decay = Some(wd);
    }
    if let Some(m) = fit.ema_momentum {
        o.use_ema = true;
        o.ema_momentum = m;
    }
    if let Some(n) = fit.gradient_accumulation_steps {
        o.gradient_accumulation_steps = Some(n);
    }
    o.validate()?;
    let Some(name) = &fit.lr_schedule else {
        return Ok(());
    };
    // The rate as the user wrote it (0.001, not the f32 widened).
    let lr = opt.learning_rate();
    let lr = lr.to_string().parse::<f64>().unwrap_or(f64::from(lr));
    let steps = steps.max(1);
    let total = (epochs * steps).max(1);
    let s = match name.as_str() {
        "cosine" if fit.warmup_epochs > 0 => {
            let warm = fit.warmup_epochs * steps;
            Schedule::cosine_decay(0.0, total.saturating_sub(warm).max(1)).warmup(lr, warm)
        }
        "cosine" => Schedule::cosine_decay(lr, total),
        "cosine_restarts" => Schedule::cosine_decay_restarts(lr, steps),
        "exponential" => Schedule::exponential_decay(lr, steps, fit.decay_rate),
        "polynomial" => Schedule::polynomial_decay(lr, total),
        _ => Schedule::inverse_time_decay(lr, steps, fit.decay_rate),
    };
    s.validate()?;
    println!(
        "Learning rate schedule: {} ({} steps per epoch): {:.3e} at the first step, {:.3e} at the last",
        s.class_name(),
        steps,
        s.at(0),
        s.at(total as u64 - 1)
    );
    opt.options_mut().schedule = Some(s);
    Ok(())
}

fn with_callbacks<'a>(
    mut run: rkeras::train::Fit<'a>,
    cbs: &'a mut [Box<dyn rkeras::callbacks::Callback>],
) -> rkeras::train::Fit<'a> {
    for c in cbs.iter_mut() {
        run = run.callback(c.as_mut());
    }
    run
}

/// Ends a training run without losing the model: on success, saves the model for
/// `--output`, the history for `--history` and the plot for `--plot`; when training failed
/// part-way (a checkpoint that could not be written) or the final save fails, the model as
/// trained so far goes to a rescue file (named in the error) and the error comes back, so the
/// process exits non-zero either way.
fn finish_training(
    fit: &FitPlan,
    trained: rkeras::Result<rkeras::callbacks::History>,
    model: &rkeras::Model,
) -> Result<rkeras::callbacks::History> {
    let history = match trained {
        Ok(h) => h,
        Err(e) => {
            let kept = match rescue(model) {
                Ok(p) => format!("the model as trained so far is saved to {}", p.display()),
                Err(r) => format!("the model could not be saved anywhere ({r})"),
            };
            return Err(anyhow::Error::new(e).context(format!("training stopped; {kept}")));
        }
    };
    if let Some(path) = &fit.output {
        if let Err(e) = model.save(path) {
            let kept = match rescue(model) {
                Ok(p) => format!("the trained model is saved to {} instead", p.display()),
                Err(r) => format!("it could not be saved anywhere else either ({r})"),
            };
            return Err(anyhow::Error::new(e).context(format!(
                "saving the model to {} failed; {kept}",
                path.display()
            )));
        }
        println!("Model saved to {}", path.display());
    }
    if let Some(path) = &fit.history {
        history
            .save(path)
            .with_context(|| format!("saving the history to {}", path.display()))?;
        println!("History saved to {}", path.display());
    }
    if let Some(path) = &fit.plot {
        history
            .plot(path)
            .with_context(|| format!("plotting the history to {}", path.display()))?;
        println!("History plotted to {}", path.display());
    }
    Ok(history)
}

/// Saves `model` as `rkeras-rescue-PID.keras` in the first of the temporary folder, the
/// current folder and the home folder that takes it; returns the file written.
fn rescue(model: &rkeras::Model) -> Result<std::path::PathBuf> {
    let name = format!("rkeras-rescue-{}.keras", std::process::id());
    let mut tried = Vec::new();
    let places = [
        Some(std::env::temp_dir()),
        std::env::current_dir().ok(),
        std::env::var_os("HOME").map(std::path::PathBuf::from),
    ];
    for dir in places.into_iter().flatten() {
        let path = dir.join(&name);
        match model.save(&path) {
            Ok(()) => return Ok(path),
            Err(e) => tried.push(e.to_string()),
        }
    }
    anyhow::bail!("{}", tried.join("; "))
}
