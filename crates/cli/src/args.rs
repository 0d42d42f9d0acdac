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

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the Keras summary table of a saved model (.keras, .h5, config .json) or of a
    /// built-in model.
    Summary {
        /// A saved model: .keras, legacy .h5, or a Keras config .json.
        file: Option<PathBuf>,
        /// Built-in model: seed (64x64x3 CNN) or mnist-convnet (28x28x1).
        #[arg(long, default_value = "seed")]
        model: String,
        /// Table width (default as Keras: min(88, terminal columns - 4)).
        #[arg(long)]
        line_length: Option<usize>,
    },
    /// Train a built-in model on a folder of images (one sub-folder per class) or on
    /// Fashion-MNIST, and report loss and accuracy.
    Train {
        /// A folder of images, one sub-folder per class (as Keras's
        /// image_dataset_from_directory reads it). Without it, --dataset is used.
        dir: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
        /// Dataset when no folder is given: fashion-mnist (Debian's dataset-fashion-mnist).
        #[arg(long, default_value = "fashion-mnist")]
        dataset: String,
        /// Folder holding the dataset's files (default: /usr/share/datasets/fashion-mnist).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Built-in model (mnist-convnet, seed), a Keras model config .json
        /// (`model.to_json()`), or a saved model (.keras, .h5) to train further; trained as
        /// it is.
        #[arg(long, default_value = "mnist-convnet")]
        model: String,
        /// Use only the first N training samples (quick checks; for a folder, the first N
        /// files of the training split).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        fit: FitArgs,
    },
    /// Run a benchmark workload of shared/anchors (w1, w2, w3, w4) or the folder pipeline
    /// (folder --dir DIR) and print a RESULT line.
    Bench {
        /// w1 (seed CNN, batch 32), w2 (MNIST convnet on Fashion-MNIST), w3 (w1 at batch
        /// 128), w4 (w1 inference at batch 1 and 32), w5 ResNet50, w6 MobileNetV2, w7
        /// EfficientNetB0, w8 DenseNet121 (built by rkeras::applications at 64x64, training at
        /// batch 32, inference at batch 32 and 1), app (the same for --model FILE), scaling (w1 on one thread and on all,
        /// and as independent copies, in rotating 20-step runs).
        workload: String,
        /// Epochs (default: 2 for w1/w3, 5 for w2; for scaling, the rounds of 20-step runs: 15).
        #[arg(long)]
        epochs: Option<usize>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Image folder for the `folder` workload.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The saved model (.keras, .h5, config .json) of the `app` workload, such as the
        /// keras.applications files `bench/keras_apps.py` writes (w6 builds MobileNetV2).
        #[arg(long)]
        model: Option<PathBuf>,
        /// After the timed epochs of w1 or w3, one more epoch with the parallel regions'
        /// accounting on: per call site, wall time, task time, the threads' waiting, the
        /// second thread's start delay and the tail, per step.
        #[arg(long)]
        regions: bool,
        /// After the timed runs of w5-w8 or app, one more profiled training epoch and
        /// inference pass, summed per layer type (1x1, 3x3, strided and depthwise
        /// convolutions, BatchNormalization, activations, merges, ...), with the
        /// convolutions' GFLOP/s.
        #[arg(long)]
        layers: bool,
        /// Image side of w5-w8 (default 64; 224 for the full-size runs, as keras.applications'
        /// ImageNet inputs). The app workload's model must take this size.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Training batch of w5-w8 and app (default 32; 16 at 224x224). Inference runs at
        /// batch 32 and 1.
        #[arg(long, default_value_t = 32)]
        train_batch: usize,
        /// Synthetic images of w5-w8 and app (default 320): each training epoch, and each
        /// batch-32 inference pass, goes over all of them.
        #[arg(long, default_value_t = 320)]
        images: usize,
        /// w5-w8 and app: freeze every layer but the last (the classifier), as transfer
        /// learning trains a new head on a frozen backbone (its normalizations in inference
        /// mode); the training figure is then the head's.
        #[arg(long)]
        frozen: bool,
    },
    /// Inspect a folder dataset without training: the Keras lines, class names, per-class
    /// counts per split, and with --list one line per file.
    Data {
        /// A folder of images, one sub-folder per class.
        dir: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Samples per batch (as for train).
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Fraction held out for validation (0: no split).
        #[arg(long, default_value_t = 0.0)]
        validation_split: f64,
        /// Seed of the shuffle and split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print `split<TAB>label<TAB>path` for every file, in the dataset's order.
        #[arg(long)]
        list: bool,
    },
    /// Loss and metrics of a saved model (.keras, .h5) on a folder of images per class.
    Evaluate {
        /// The saved model.
        model: PathBuf,
        /// A folder of images, one sub-folder per class (sorted as Keras sorts them).
        dir: PathBuf,
        /// Images per batch.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Skip image files that cannot be read or decoded (listed and counted) instead of
        /// stopping.
        #[arg(long)]
        skip_bad_files: bool,
        /// Print one JSON object of the loss and metrics (Keras's
        /// `evaluate(return_dict=True)`; a per-class metric such as F1Score() is an array)
        /// and nothing else; without it, the confusion matrix
        /// and each class's precision and recall follow the metrics.
        #[arg(long)]
        json: bool,
    },
    /// The top classes a saved model (.keras, .h5) gives to image files, or its outputs for
    /// a NumPy array (--input x.npy --output y.npy).
    Predict {
        /// The saved model.
        model: PathBuf,
        /// Image files (PNG, JPEG, BMP, GIF).
        #[arg(required_unless_present = "input", conflicts_with = "input")]
        images: Vec<PathBuf>,
        /// A .npy array of inputs (batch first, as model.predict takes it) instead of
        /// images; needs --output.
        #[arg(long, value_name = "X.npy", requires = "output")]
        input: Option<PathBuf>,
        /// Where to write the model's outputs for --input, as a float32 .npy array.
        #[arg(long, value_name = "Y.npy", requires = "input")]
        output: Option<PathBuf>,
        /// Samples per batch for --input.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Class names in label order, comma-separated (default: indices).
        #[arg(long, value_delimiter = ',')]
        class_names: Option<Vec<String>>,
        /// Read the class names from a training folder's sub-folders (Keras's order).
        #[arg(long)]
        classes_from: Option<PathBuf>,
        /// How many classes to show per image.
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
        /// An image that cannot be read is reported and the others are predicted either way;
        /// with this flag the exit code is 0 all the same (without it, 2).
        #[arg(long)]
        skip_bad_files: bool,
    },
    /// Plot a saved history (CSV from --csv-log or CSVLogger, or JSON from --history or
    /// `json.dump(history.history, f)`) to a PNG or SVG file.
    Plot {
        /// The history file (.csv or .json).
        history: PathBuf,
        /// The picture to write: .png or .svg.
        #[arg(short, long, value_name = "FILE", default_value = "history.png")]
        output: PathBuf,
    },
    /// Write a dataset as a folder of images, one sub-folder per class.
    Export {
        /// fashion-mnist (the training split) or shapes (generated coloured shapes).
        #[arg(long, default_value = "fashion-mnist")]
        dataset: String,
        /// Folder to write.
        #[arg(long)]
        output: PathBuf,
        /// png, jpeg, or mixed (alternating).
        #[arg(long, default_value = "png")]
        format: String,
        /// Number of images (default: all of Fashion-MNIST's 60000, 2000 shapes).
        #[arg(long)]
        count: Option<usize>,
        /// Side of the generated shapes images.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Folder holding Fashion-MNIST (default: /usr/share/datasets/fashion-mnist).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Train the seed CNN on coloured shapes it draws itself (no download, no arguments).
    Demo {
        /// Number of generated training images.
        #[arg(long, default_value_t = 2000)]
        samples: usize,
        /// Where the demo writes its images (train/, test/) and its outputs (best.keras,
        /// model.keras, history.json, history.png), all kept (default: ./rkeras-demo).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    /// Optimizer: adam (default), adamw, sgd, rmsprop. A saved model given to --model keeps
    /// its own compile settings and optimizer state unless this or --learning-rate is given.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate (default: the optimizer's Keras default); `--lr` works too.
    #[arg(long, visible_alias = "lr")]
    pub learning_rate: Option<f32>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Data-parallel runs (`mpirun -np N rkeras train ...`): the size of a gradient bucket,
    /// summed over the ranks as soon as the backward pass has finished it (default 4;
    /// PyTorch's bucket_cap_mb). Every rank must be given the same.
    #[arg(long, value_name = "MIB")]
    pub bucket_mb: Option<f64>,
    /// Stop when the monitored quantity has not improved for PATIENCE epochs.
    #[arg(long, value_name = "PATIENCE")]
    pub early_stopping: Option<usize>,
    /// What early stopping and --reduce-lr-on-plateau watch.
    #[arg(long, default_value = "val_loss")]
    pub early_stopping_monitor: String,
    /// With --early-stopping: put back the best epoch's weights at the end.
    #[arg(long)]
    pub restore_best_weights: bool,
    /// Divide the learning rate by 10 after PATIENCE epochs without improvement.
    #[arg(long, value_name = "PATIENCE")]
    pub reduce_lr_on_plateau: Option<usize>,
    /// Write one CSV row per epoch to this file (Keras's CSVLogger).
    #[arg(long, value_name = "FILE")]
    pub csv_log: Option<PathBuf>,
    /// Write TensorBoard event files under this folder (Keras's TensorBoard callback:
    /// `tensorboard --logdir DIR`).
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// With --tensorboard: every N epochs, a histogram and an image of each weight (Keras's
    /// `histogram_freq=N, write_images=True`).
    #[arg(long, value_name = "N")]
    pub histogram_freq: Option<usize>,
    /// Save the history at the end: JSON for a .json name, CSV otherwise.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Plot the history at the end (accuracy and loss per epoch, best epoch marked):
    /// a .png or .svg file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Checkpoint after every epoch to this `.keras` file (a format string such as
    /// `ckpt/cnn-{epoch:02d}-{val_loss:.2f}.keras` works, as in Keras).
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<String>,
    /// What --checkpoint --save-best-only watches.
    #[arg(long, default_value = "val_loss")]
    pub monitor: String,
    /// auto, min or max, for --monitor.
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// With --checkpoint: save only when --monitor improves.
    #[arg(long)]
    pub save_best_only: bool,
    /// With --checkpoint: save every N batches instead of at each epoch's end.
    #[arg(long, value_name = "N")]
    pub save_freq: Option<usize>,
    /// With --checkpoint: a checkpoint that cannot be written (a full disk) is a warning
    /// and training goes on; without it, training stops with an error (as in Keras), the
    /// model is saved to a rescue file and the exit code is 2.
    #[arg(long)]
    pub checkpoint_continue_on_error: bool,
    /// Load these weights into the model before training: a Keras 3 `.weights.h5`, or a
    /// legacy `.h5` such as the files keras.applications publishes, read by layer name (a
    /// layer whose shapes differ, such as another head, is skipped and listed).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Train the last layer (the classifier) only; the rest of the model is frozen.
    #[arg(long)]
    pub freeze_base: bool,
    /// Freeze the layers before LAYER (train LAYER and the layers after it): a saved or
    /// Keras-made model's base stays as it is while its head learns.
    #[arg(long, value_name = "LAYER")]
    pub train_from: Option<String>,
    /// After the --epochs, unfreeze the layers from LAYER on and train --fine-tune-epochs
    /// more at --fine-tune-learning-rate (the keras.io transfer-learning recipe).
    #[arg(long, value_name = "LAYER")]
    pub fine_tune_from: Option<String>,
    /// Epochs of fine-tuning (with --fine-tune-from; default 5).
    #[arg(long, value_name = "N")]
    pub fine_tune_epochs: Option<usize>,
    /// Learning rate of fine-tuning (default: the first phase's divided by 100).
    #[arg(long, value_name = "LR")]
    pub fine_tune_learning_rate: Option<f32>,
    /// Change the learning rate every step (Keras's learning-rate schedules): cosine,
    /// cosine_restarts, exponential, polynomial or inverse_time, from --learning-rate (or the
    /// optimizer's default) over the whole run.
    #[arg(long, value_name = "NAME")]
    pub lr_schedule: Option<String>,
    /// With --lr-schedule cosine: rise linearly from 0 to the learning rate over the first N
    /// epochs, then decay.
    #[arg(long, value_name = "N")]
    pub warmup_epochs: Option<usize>,
    /// With --lr-schedule exponential or inverse_time: the decay per epoch (default 0.5).
    #[arg(long, value_name = "RATE")]
    pub decay_rate: Option<f64>,
    /// Decoupled weight decay on any optimizer (Keras's `weight_decay`: before each update
    /// `w -= w * WD * learning_rate`; AdamW's default is 0.004).
    #[arg(long, value_name = "WD")]
    pub weight_decay: Option<f32>,
    /// Keep an exponential moving average of the weights with this momentum (Keras's
    /// `use_ema=True, ema_momentum=M`, e.g. 0.99); the saved model holds the averages.
    #[arg(long, value_name = "M")]
    pub ema_momentum: Option<f32>,
    /// Update the weights every N batches with the mean of their gradients (Keras's
    /// `gradient_accumulation_steps`): an N times larger batch in the memory of one.
    #[arg(long, value_name = "N")]
    pub gradient_accumulation_steps: Option<u64>,
    /// Metrics besides accuracy, by Keras name, comma-separated: precision, recall, auc, f1
    /// (macro-averaged F1), f1_score (Keras's F1Score(): one score per class, logged as a
    /// list), true_positives, false_positives, true_negatives, false_negatives,
    /// root_mean_squared_error, top_k_categorical_accuracy, ... (precision, recall and the
    /// counts treat every output as a yes/no decision at 0.5, as Keras does).
    #[arg(long, value_name = "NAMES")]
    pub metrics: Option<String>,
    /// Weigh each class in the loss (Keras's `class_weight`): `balanced` (n_samples /
    /// (n_classes * count), as scikit-learn computes it) or CLASS:WEIGHT pairs such as
    /// `0:1,3:5` (classes not listed weigh 1).
    #[arg(long, value_name = "balanced|C:W,...")]
    pub class_weight: Option<String>,
    /// Batches per epoch (Keras's `steps_per_epoch`): the next epoch goes on where this one
    /// stopped; an epoch that asks for more than the data holds ends early with a warning.
    #[arg(long, value_name = "N")]
    pub steps_per_epoch: Option<usize>,
    /// Batches per validation (Keras's `validation_steps`).
    #[arg(long, value_name = "N")]
    pub validation_steps: Option<usize>,
    /// Validate after every N-th epoch only (Keras's `validation_freq`; default 1).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub validation_freq: usize,
    /// Save the final model to this `.keras` file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Back up every epoch in DIR and, after a crash, resume from the last completed epoch
    /// (Keras's BackupAndRestore); the folder is emptied when training ends.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

/// How a folder of images becomes a dataset (image_dataset_from_directory's arguments).
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// Size every image is resized to, HEIGHTxWIDTH (or one number for a square).
    #[arg(long, default_value = "64x64")]
    pub image_size: String,
    /// grayscale, rgb or rgba.
    #[arg(long, default_value = "rgb")]
    pub color_mode: String,
    /// int, categorical or binary.
    #[arg(long, default_value = "int")]
    pub label_mode: String,
    /// bilinear or nearest.
    #[arg(long, default_value = "bilinear")]
    pub interpolation: String,
    /// Crop to the target aspect ratio before resizing.
    #[arg(long)]
    pub crop_to_aspect_ratio: bool,
    /// Pad to the target aspect ratio before resizing.
    #[arg(long)]
    pub pad_to_aspect_ratio: bool,
    /// Descend into symbolic links to folders.
    #[arg(long)]
    pub follow_links: bool,
    /// Scale pixels by this factor in the model (a Rescaling layer): a number or a
    /// fraction such as 1/255 (the default); 1 keeps 0..255.
    #[arg(long, default_value = "1/255")]
    pub rescale: String,
    /// Random augmentation of training images on the loader threads, e.g.
    /// "flip=horizontal,rotation=0.1,zoom=0.1,contrast=0.2" (also translation, brightness,
    /// shear, perspective, erasing, gaussian_blur; Keras factors).
    #[arg(long)]
    pub augment: Option<String>,
    /// Keep decoded images in memory after the first epoch.
    #[arg(long)]
    pub cache: bool,
    /// Skip unreadable image files (listed and counted) instead of stopping.
    #[arg(long)]
    pub skip_bad_files: bool,
    /// Background threads that decode and resize images.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}
