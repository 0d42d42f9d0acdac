//! Command-line flags (clap). Raw values only; `plan.rs` validates them.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Keras-style CNN training on the CPU.
#[derive(Debug, Parser)]
#[command(name = "rkeras", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a built-in model's Keras summary table.
    Summary {
        /// Built-in model: seed (64x64x3 CNN) or mnist-convnet (28x28x1).
        #[arg(long, default_value = "seed")]
        model: String,
        /// Table width (default as Keras: min(88, terminal columns - 4)).
        #[arg(long)]
        line_length: Option<usize>,
    },
    /// Train a built-in model on a dataset and report test loss and accuracy.
    Train {
        /// Dataset: fashion-mnist (Debian's dataset-fashion-mnist).
        #[arg(long, default_value = "fashion-mnist")]
        dataset: String,
        /// Folder holding the dataset's files (default: /usr/share/datasets/fashion-mnist).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Built-in model: mnist-convnet or seed.
        #[arg(long, default_value = "mnist-convnet")]
        model: String,
        /// Use only the first N training samples (quick checks).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        fit: FitArgs,
    },
    /// Run a benchmark workload of shared/anchors (w1, w2, w3, w4) and print a RESULT line.
    Bench {
        /// w1 (seed CNN, batch 32), w2 (MNIST convnet on Fashion-MNIST), w3 (w1 at batch
        /// 128), w4 (w1 inference at batch 1 and 32).
        workload: String,
        /// Epochs (default: 2 for w1/w3, 5 for w2).
        #[arg(long)]
        epochs: Option<usize>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Train the seed CNN on coloured shapes it draws itself (no download, no arguments).
    Demo {
        /// Number of generated training images.
        #[arg(long, default_value_t = 2000)]
        samples: usize,
        #[command(flatten)]
        fit: FitArgs,
    },
}

/// The flags that mirror `fit`'s arguments.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Epochs (default: 5).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per step (default: 128 for fashion-mnist, 32 for the demo).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Fraction of the training data held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub validation_split: f32,
    /// Seed of weights, dropout and shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// 0 = silent, 1 = progress bar, 2 = one line per epoch.
    #[arg(long, default_value_t = 1)]
    pub verbose: u8,
    /// Optimizer: adam, adamw, sgd, rmsprop.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate (default: the optimizer's Keras default).
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}
