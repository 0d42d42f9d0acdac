//! Raw flags become a validated plan before any work starts.

use crate::args::{Cli, Command, FitArgs};
use crate::models::ModelKind;
use anyhow::{bail, Result};
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
    pub learning_rate: Option<f32>,
    pub threads: Option<usize>,
}

/// What the command will do.
#[derive(Debug)]
pub enum Plan {
    Summary {
        model: ModelKind,
        line_length: Option<usize>,
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
    },
    Bench {
        workload: String,
        epochs: Option<usize>,
        threads: Option<usize>,
    },
}

impl Plan {
    pub fn from_cli(cli: Cli) -> Result<Plan> {
        Ok(match cli.command {
            Command::Summary { model, line_length } => {
                if line_length.is_some_and(|l| l < 20) {
                    bail!("--line-length must be at least 20");
                }
                Plan::Summary {
                    model: ModelKind::parse(&model)?,
                    line_length,
                }
            }
            Command::Train {
                dataset,
                data_dir,
                model,
                limit,
                fit,
            } => {
                if dataset != "fashion-mnist" {
                    bail!("unknown --dataset '{dataset}'; known datasets: fashion-mnist");
                }
                if limit == Some(0) {
                    bail!("--limit must be a positive number of samples");
                }
                Plan::Train {
                    data_dir,
                    model: ModelKind::parse(&model)?,
                    limit,
                    fit: fit_plan(fit, 128)?,
                }
            }
            Command::Bench {
                workload,
                epochs,
                threads,
            } => {
                if !["w1", "w2", "w3", "w4"].contains(&workload.as_str()) {
                    bail!("unknown workload '{workload}'; known: w1, w2, w3, w4");
                }
                if threads == Some(0) {
                    bail!("--threads must be at least 1");
                }
                Plan::Bench {
                    workload,
                    epochs,
                    threads,
                }
            }
            Command::Demo { samples, fit } => {
                if samples < 8 {
                    bail!("--samples must be at least 8");
                }
                Plan::Demo {
                    samples,
                    fit: fit_plan(fit, 32)?,
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
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let optimizer = a.optimizer.to_ascii_lowercase();
    // Resolve now so an unknown name fails before any work.
    rkeras::optimizers::from_name(&optimizer, a.learning_rate)?;
    Ok(FitPlan {
        epochs,
        batch_size,
        validation_split: a.validation_split,
        seed: a.seed,
        verbose: a.verbose,
        optimizer,
        learning_rate: a.learning_rate,
        threads: a.threads,
    })
}
