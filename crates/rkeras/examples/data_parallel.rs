//! Data-parallel training over MPI, checked against one process. Run with Open MPI:
//!
//! ```text
//! cargo build --release -p rkeras --features mpi --example data_parallel
//! mpirun -np 2 target/release/examples/data_parallel /tmp/dp
//! mpirun -np 3 target/release/examples/data_parallel /tmp/dp
//! ```
//!
//! Every rank builds the same CNN with the same seed, trains it data-parallel (3 epochs,
//! global batch 16, shuffled, 62 samples less a validation split of 13: the last batch of
//! one sample leaves every rank but one without rows; validation sharded too), and, with
//! the distribution set aside, a copy of it as one process on the whole data. The weights
//! and the logs must agree within float reassociation (1e-5 relative); a sharded predict
//! equals one process's; only rank 0 writes files; the model rank 0 saved predicts as the
//! one-process model. The same for:
//! - a Sequential model with RandomFlip, SpatialDropout2D and Dropout (draws keyed by the
//!   sample's row in the global batch: the masks one process draws), within 1e-6 relative;
//! - a functional residual block with `BatchNormalization(synchronized=True)` (global batch
//!   statistics; the moving statistics too), within 2e-6 relative (N ranks and one process
//!   add their sums in different orders, and Adam's steps carry that rounding: 4e-7 to
//!   1.1e-6 measured).
//!
//! AUC, precision and recall (training logs, validation logs, a sharded evaluate) equal one
//! process's within 1e-6: their counts are summed over the ranks.
//! A folder dataset (generated PNG files, `image_dataset_from_directory`) trains as one
//! process while each rank decodes only the files of its rows of each batch.
//! And with per-replica BatchNormalization, each rank's moving statistics equal those of its
//! own shards of the batches. The per-class F1 vectors (Keras's `F1Score()`) come out with
//! one process's shape. The Dropout and synchronized BatchNormalization models train with
//! gradient buckets of 64 floats (many sums in flight during each backward pass). Every
//! rank prints a checksum of the weights' bits (the ranks print the same; two runs with the
//! same rank count print the same). Exits non-zero on any mismatch.

use rkeras::distribution::{suspended, DataParallel};
use rkeras::prelude::*;

fn model() -> rkeras::Result<Model> {
    rkeras::set_random_seed(7);
    let mut m = Sequential::new([
        Conv2D::new(4, 3)
            .activation("relu")
            .input_shape((8, 8, 1))
            .into(),
        MaxPooling2D::new(2).into(),
        Flatten::new().into(),
        Dense::new(3).activation("softmax").into(),
    ])?;
    m.compile(
        Adam::default().learning_rate(0.01),
        "sparse_categorical_crossentropy",
        &["accuracy", "f1_score"],
    )?;
    Ok(m)
}

/// The weights of the seed CNN on 28x28 grey images, 10 classes (W1's model).
fn seed_params() -> rkeras::Result<usize> {
    let m = Sequential::new([
        Conv2D::new(32, 3)
            .activation("relu")
            .input_shape((28, 28, 1))
            .into(),
        MaxPooling2D::new(2).into(),
        Conv2D::new(64, 3).activation("relu").into(),
        MaxPooling2D::new(2).into(),
        Conv2D::new(64, 3).activation("relu").into(),
        Flatten::new().into(),
        Dense::new(10).activation("softmax").into(),
    ])?;
    Ok(m.count_params())
}

fn data() -> rkeras::Result<(Tensor, Tensor)> {
    let n = 62;
    let x: Vec<f32> = (0..n * 64)
        .map(|i| ((i * 37) % 101) as f32 / 101.0)
        .collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
    Ok((Tensor::new(vec![n, 8, 8, 1], x)?, Tensor::new(vec![n], y)?))
}

/// A model with every per-step random training layer kind: an augmentation layer, channel
/// dropout, dropout. Their draws are keyed by the sample's row in the global batch, so
/// the N-rank run draws what one process draws.
fn dropout_model() -> rkeras::Result<Model> {
    // The same layer names on every rank, whatever each built before (rank 0 loads a model).
    rkeras::clear_session();
    rkeras::set_random_seed(11);
    let mut m = Sequential::new([
        RandomFlip::new("horizontal").input_shape((8, 8, 1)).into(),
        Conv2D::new(6, 3).activation("relu").into(),
        SpatialDropout2D::new(0.25).into(),
        Flatten::new().into(),
        Dropout::new(0.4).into(),
        Dense::new(3).activation("softmax").into(),
    ])?;
    m.compile(
        Adam::default().learning_rate(0.01),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )?;
    Ok(m)
}

/// A functional model (a residual block) with synchronized BatchNormalization: its batch
/// statistics are the global batch's, so the N-rank run equals one process, moving
/// statistics included.
fn sync_bn_model() -> rkeras::Result<Model> {
    rkeras::clear_session();
    rkeras::set_random_seed(13);
    let i = Input::new((8, 8, 1));
    // No bias before a normalization (it cancels: its gradient is rounding noise, which
    // Adam would turn into full steps).
    let h = Conv2D::new(4, 3).use_bias(false).call(&i)?;
    let h = BatchNormalization::new()
        .synchronized(true)
        .momentum(0.8)
        .call(&h)?;
    let h = Activation::new("relu").call(&h)?;
    let r = Conv2D::new(4, 3).padding("same").use_bias(false).call(&h)?;
    let r = BatchNormalization::new().synchronized(true).call(&r)?;
    let h = Add::new().call_on(&[&h, &r])?;
    let h = GlobalAveragePooling2D::new().call(&h)?;
    let o = Dense::new(3).activation("softmax").call(&h)?;
    let mut m = Model::functional(&i, &o)?;
    m.compile(
        Adam::default().learning_rate(0.01),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )?;
    Ok(m)
}

/// Per-replica BatchNormalization (Keras's default) first: each rank's moving statistics
/// are those of its own shards of the batches. Returns the largest relative difference
/// from the statistics computed here from this rank's rows.
fn per_replica_bn(x: &Tensor, y: &Tensor, rank: usize, size: usize) -> rkeras::Result<f32> {
    rkeras::clear_session();
    rkeras::set_random_seed(17);
    let momentum = 0.5f32;
    let mut m = Sequential::new([
        BatchNormalization::new()
            .momentum(momentum)
            .input_shape((8, 8, 1))
            .into(),
        Flatten::new().into(),
        Dense::new(3).activation("softmax").into(),
    ])?;
    m.compile("sgd", "sparse_categorical_crossentropy", &[])?;
    let batch = 16;
    m.fit(x, y)
        .epochs(1)
        .batch_size(batch)
        .shuffle(false)
        .verbose(0)
        .run()?;
    // The moving statistics by hand over this rank's rows of each batch.
    let n = x.shape()[0];
    let per = x.len() / n;
    let (mut mm, mut mv) = (0.0f32, 1.0f32);
    for b0 in (0..n).step_by(batch) {
        let nb = batch.min(n - b0);
        let (lo, hi) = (rank * nb / size, (rank + 1) * nb / size);
        if hi == lo {
            continue;
        }
        let v = &x.data()[(b0 + lo) * per..(b0 + hi) * per];
        let mean = v.iter().map(|&a| f64::from(a)).sum::<f64>() / v.len() as f64;
        let var = v
            .iter()
            .map(|&a| (f64::from(a) - mean).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        mm = mm * momentum + mean as f32 * (1.0 - momentum);
        mv = mv * momentum + var as f32 * (1.0 - momentum);
    }
    let w = m.layers()[0].params();
    let (got_m, got_v) = (w[2].value[0], w[3].value[0]);
    Ok(((got_m - mm).abs() / mm.abs().max(1e-3)).max((got_v - mv).abs() / mv.abs().max(1e-3)))
}

/// A folder dataset (`image_dataset_from_directory`, 23 generated 8x8 PNG files in 3
/// classes, batches of 8, reshuffled each epoch): each rank decodes only the files of its
/// rows of each batch, and the run equals one process's. Returns the worst relative weight
/// difference, the files this rank decoded, and the number it should have decoded.
fn folder_check(
    dir: &std::path::Path,
    rank: usize,
    size: usize,
) -> rkeras::Result<(f32, usize, usize)> {
    // Each rank writes its own copy of the same files: no rank waits for another's.
    let root = dir.join(format!("pngs_rank{rank}"));
    let (files, batch, epochs) = (23usize, 8usize, 2usize);
    for k in 0..files {
        let px: Vec<u8> = (0..64)
            .map(|i| ((k * 31 + i * (k % 3 + 1) * 7) % 256) as u8)
            .collect();
        let path = root
            .join(format!("class_{}", k % 3))
            .join(format!("img_{k:02}.png"));
        std::fs::create_dir_all(path.parent().unwrap_or(&root))
            .map_err(|e| rkeras::Error::Data(format!("{}: {e}", root.display())))?;
        rkeras::data::export::save_png(&path, &px, 8, 8, 1)?;
    }
    let load = || {
        image_dataset_from_directory(&root)
            .image_size((8, 8))
            .color_mode("grayscale")
            .batch_size(batch)
            .seed(5)
            .verbose(false)
            .load()
    };
    let build = || -> rkeras::Result<Model> {
        rkeras::clear_session();
        rkeras::set_random_seed(19);
        let mut m = Sequential::new([
            Rescaling::new(1.0 / 255.0).input_shape((8, 8, 1)).into(),
            Conv2D::new(4, 3).activation("relu").into(),
            Flatten::new().into(),
            Dense::new(3).activation("softmax").into(),
        ])?;
        m.compile(
            Adam::default().learning_rate(0.01),
            "sparse_categorical_crossentropy",
            &["accuracy"],
        )?;
        Ok(m)
    };
    let one = suspended(|| -> rkeras::Result<Model> {
        let ds = load()?;
        let mut m = build()?;
        m.fit_dataset(&ds).epochs(epochs).verbose(0).run()?;
        Ok(m)
    })?;
    let ds = load()?;
    let mut m = build()?;
    m.fit_dataset(&ds).epochs(epochs).verbose(0).run()?;
    let want: usize = (0..files)
        .step_by(batch)
        .map(|b0| {
            let nb = batch.min(files - b0);
            (rank + 1) * nb / size - rank * nb / size
        })
        .sum::<usize>()
        * epochs;
    Ok((worst_rel(&m, &one), ds.files_decoded(), want))
}

/// Kills this process (`kill -9`, as a crash or an operator would) at batch `batch` of
/// epoch `epoch`, or makes it hang there (an hour's sleep, as a stuck file system or a
/// deadlocked user callback would), first writing the time (Unix seconds) to `stamp`.
struct KillAt {
    epoch: usize,
    batch: usize,
    current: usize,
    stamp: std::path::PathBuf,
    hang: bool,
}

impl Callback for KillAt {
    fn on_epoch_begin(&mut self, epoch: usize, _model: &mut Model) {
        self.current = epoch;
    }
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        _logs: &Logs,
        _model: &mut Model,
    ) -> rkeras::Result<Control> {
        if self.current == self.epoch && batch == self.batch {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let _ = std::fs::write(&self.stamp, now.to_string());
            if self.hang {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
            let _ = std::process::Command::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        Ok(Control::Continue)
    }
}

/// `--backup-run DIR`: the Dropout model trained data-parallel for 4 epochs with
/// BackupAndRestore in `DIR/backup`; with `DP_KILL_AT=E:B` in the environment, rank 1 kills
/// itself at batch B of epoch E (from 0); with `DP_HANG_AT=E:B` it hangs there instead. Rank 0 prints whether it resumed from a backup
/// and the checksum of the final weights: a run killed and then resumed prints the same
/// checksum as an uninterrupted one.
fn backup_run(dir: &str, rank: usize) -> rkeras::Result<()> {
    let (x, y) = data()?;
    let dir = std::path::Path::new(dir);
    let mut backup = rkeras::callbacks::BackupAndRestore::new(dir.join("backup"));
    let hang = std::env::var("DP_HANG_AT").ok();
    let mut kill = std::env::var("DP_KILL_AT")
        .ok()
        .or(hang.clone())
        .filter(|_| rank == 1)
        .and_then(|v| {
            let (e, b) = v.split_once(':')?;
            Some(KillAt {
                epoch: e.parse().ok()?,
                batch: b.parse().ok()?,
                current: 0,
                stamp: dir.join(if hang.is_some() {
                    "hung_at"
                } else {
                    "killed_at"
                }),
                hang: hang.is_some(),
            })
        });
    let mut m = dropout_model()?;
    let mut fit = m
        .fit(&x, &y)
        .epochs(4)
        .batch_size(16)
        .verbose(0)
        .seed(3)
        .callback(&mut backup);
    if let Some(k) = kill.as_mut() {
        fit = fit.callback(k);
    }
    fit.run()?;
    if rank == 0 {
        println!("backup messages: {:?}", backup.messages());
        println!("checksum {:016x}", checksum(&m));
    }
    Ok(())
}

/// Times data-parallel training of ResNet50 (64x64, 10 classes, 64 images, global batch
/// 32, 2 epochs after a warm-up epoch) with gradient buckets of MIB MiB (default 4) (summed while the
/// backward pass goes on) and with one bucket (summed after it), in alternating rounds;
/// prints the seconds per step and the seconds waited for the sums, per step. Every rank
/// runs it (`mpirun -np N ... --bench-overlap [ROUNDS [MIB]]`).
fn bench_overlap(dp: &DataParallel) -> rkeras::Result<()> {
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mib: f64 = std::env::args()
        .nth(3)
        .and_then(|r| r.parse().ok())
        .unwrap_or(4.0);
    let n = 64;
    let x = Tensor::new(
        vec![n, 64, 64, 3],
        (0..n * 64 * 64 * 3)
            .map(|i| ((i * 7919 % 255) as f32) / 255.0)
            .collect(),
    )?;
    let y = Tensor::new(vec![n, 1], (0..n).map(|i| (i % 10) as f32).collect())?;
    let mut model = rkeras::applications::ResNet::resnet50()
        .input_shape((64, 64, 3))
        .classes(10)
        .build()?;
    model.compile("sgd", "sparse_categorical_crossentropy", &[])?;
    let fit = |m: &mut Model, epochs: usize| {
        m.fit(&x, &y)
            .epochs(epochs)
            .batch_size(32)
            .verbose(0)
            .seed(1)
            .run()
    };
    fit(&mut model, 1)?;
    let steps = 2.0 * (n / 32) as f64;
    for round in 0..rounds {
        for (label, bytes) in [
            (
                format!("{mib} MiB buckets (overlapped)"),
                (mib * 1_048_576.0) as usize,
            ),
            ("one bucket (after backward)".to_string(), usize::MAX / 2),
        ] {
            dp.set_bucket_bytes(bytes);
            let w0 = rkeras::distribution::gradient_wait_seconds().unwrap_or(0.0);
            let t = std::time::Instant::now();
            fit(&mut model, 2)?;
            let secs = t.elapsed().as_secs_f64() / steps;
            let waited =
                (rkeras::distribution::gradient_wait_seconds().unwrap_or(0.0) - w0) / steps;
            if dp.rank() == 0 {
                println!(
                    "round {round} np={} {label}: {secs:.3} s/step, waited {:.1} ms/step for the sums",
                    dp.size(),
                    waited * 1e3
                );
            }
        }
    }
    Ok(())
}

/// The largest difference between the weights (moving statistics included) of `a` and
/// `b`, relative to each weight tensor's largest magnitude.
fn worst_rel(a: &Model, b: &Model) -> f32 {
    let mut worst = 0.0f32;
    for (a, b) in a.get_weights().iter().zip(b.get_weights()) {
        let scale = b.data().iter().fold(1e-3f32, |s, v| s.max(v.abs()));
        for (p, q) in a.data().iter().zip(b.data()) {
            worst = worst.max((p - q).abs() / scale);
        }
    }
    worst
}

/// A checksum of the weights' bits.
fn checksum(m: &Model) -> u64 {
    m.get_weights()
        .iter()
        .flat_map(|t| t.data().iter().map(|v| u64::from(v.to_bits())))
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(b))
}

/// Trains `build()`'s model with `fit` data-parallel and, the distribution set aside, as
/// one process on the same global batches; returns (data-parallel, one process) models and
/// the worst relative weight difference.
fn against_one_process(
    build: &dyn Fn() -> rkeras::Result<Model>,
    fit: &dyn Fn(&mut Model) -> rkeras::Result<History>,
) -> rkeras::Result<(Model, Model, f32)> {
    let one = suspended(|| -> rkeras::Result<Model> {
        let mut m = build()?;
        fit(&mut m)?;
        Ok(m)
    })?;
    let mut dist = build()?;
    fit(&mut dist)?;
    let worst = worst_rel(&dist, &one);
    if std::env::var("DP_DEBUG").is_ok() {
        for (k, (a, b)) in dist.get_weights().iter().zip(one.get_weights()).enumerate() {
            let d = a
                .data()
                .iter()
                .zip(b.data())
                .fold(0f32, |s, (p, q)| s.max((p - q).abs()));
            eprintln!("weight {k} {:?}: max abs diff {d}", a.shape());
        }
    }
    Ok((dist, one, worst))
}

fn main() -> rkeras::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/rkeras-dp".into());
    let dp = DataParallel::init()?;
    let (rank, size) = (dp.rank(), dp.size());
    if dir == "--bench-allreduce" {
        // The all-reduce of gradients of these sizes (the seed CNN at 28x28, MobileNetV2 and
        // ResNet50 at 64x64 with 10 classes, and powers of 4 for the fit).
        let models = [
            ("seed CNN", seed_params()?),
            ("MobileNetV2", 2_270_794),
            ("ResNet50", 23_608_202),
        ];
        for (name, len) in models
            .iter()
            .map(|(n, l)| (n.to_string(), *l))
            .chain((1..=12).map(|k| (format!("4^{k} floats"), 4usize.pow(k))))
        {
            let reps = if len > 1 << 20 { 7 } else { 41 };
            let t = rkeras::distribution::time_all_reduce(len, reps).unwrap_or(0.0);
            if rank == 0 {
                println!("allreduce np={size} {name}: {len} floats, {:.6} s", t);
            }
        }
        return Ok(());
    }
    if dir == "--bench-overlap" {
        return bench_overlap(&dp);
    }
    if dir == "--backup-run" {
        let out = std::env::args()
            .nth(2)
            .unwrap_or_else(|| "/tmp/rkeras-dp-backup".into());
        return backup_run(&out, rank);
    }
    let (x, y) = data()?;
    let fit = |m: &mut Model| {
        m.fit(&x, &y)
            .epochs(3)
            .batch_size(16)
            .validation_split(0.2)
            .verbose(0)
            .seed(3)
            .run()
    };
    // One process on the whole data.
    let (reference, ref_history) = suspended(|| -> rkeras::Result<(Model, History)> {
        let mut m = model()?;
        let h = fit(&mut m)?;
        Ok((m, h))
    })?;
    // The same, data-parallel.
    let mut m = model()?;
    let h = fit(&mut m)?;
    let worst = worst_rel(&m, &reference);
    let mut bad = Vec::new();
    if worst > 1e-5 {
        bad.push(format!(
            "weights differ from one process's by {worst:e} (relative)"
        ));
    }
    for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        let (a, b) = (&h.history[key], &ref_history.history[key]);
        if a.iter()
            .zip(b)
            .any(|(p, q)| (p - q).abs() > 1e-5 * q.abs().max(1.0))
        {
            bad.push(format!("{key} {a:?} differs from one process's {b:?}"));
        }
    }
    // A vector-valued metric (F1Score(), one score per class) is averaged element by
    // element over the ranks: one vector of 3 per epoch, like one process's.
    for key in ["f1_score", "val_f1_score"] {
        let (a, b) = (h.get_vector(key), ref_history.get_vector(key));
        let shape = |v: Option<&[Vec<f64>]>| v.map(|e| e.iter().map(Vec::len).collect::<Vec<_>>());
        if shape(a) != shape(b) || shape(a) != Some(vec![3; 3]) {
            bad.push(format!("{key} {a:?} is not shaped as one process's {b:?}"));
        }
        if a.is_some_and(|e| e.iter().flatten().any(|v| !(0.0..=1.0).contains(v))) {
            bad.push(format!("{key} {a:?} leaves [0, 1]"));
        }
    }
    // predict is sharded too (each rank its rows, summed): the same as one process's.
    let p_dist = m.predict(&x)?;
    let p_one = suspended(|| m.predict(&x))?;
    let d = p_dist
        .data()
        .iter()
        .zip(p_one.data())
        .fold(0f32, |s, (a, b)| s.max((a - b).abs()));
    if d > 1e-6 {
        bad.push(format!("sharded predict differs from one process's by {d}"));
    }
    // Only rank 0 writes.
    std::fs::create_dir_all(&dir).map_err(|e| rkeras::Error::Data(e.to_string()))?;
    let path = std::path::Path::new(&dir).join(format!("rank{rank}.keras"));
    let _ = std::fs::remove_file(&path);
    m.save(&path)?;
    if path.exists() != (rank == 0) {
        bad.push(format!(
            "rank {rank} wrote {}: {}",
            path.display(),
            path.exists()
        ));
    }
    if rank == 0 {
        // Rank 0 alone: outside the distribution (a collective call here would wait for the
        // other ranks forever).
        let mut loaded = rkeras::saving::load_model(&path)?;
        let p = suspended(|| loaded.predict(&x))?;
        let mut r = reference;
        let q = suspended(|| r.predict(&x))?;
        let d = p
            .data()
            .iter()
            .zip(q.data())
            .fold(0f32, |s, (a, b)| s.max((a - b).abs()));
        if d > 1e-4 {
            bad.push(format!(
                "the saved model predicts {d} away from one process's"
            ));
        }
        println!(
            "{size} ranks: weights within {worst:e} of one process; loss {:?}",
            h.history["loss"]
        );
    }
    // From here, gradient buckets of 64 floats (the default is 4 MiB: one bucket for these
    // small models): many sums in flight during each backward pass, interleaved with the
    // synchronized BatchNormalization's own collectives, still one process's weights.
    dp.set_bucket_bytes(256);
    // Dropout, SpatialDropout2D and RandomFlip: masks and flips drawn per sample, keyed by
    // the sample's row in the global batch; the same weights as one process.
    let (dropped, _, worst_dropout) = against_one_process(&dropout_model, &fit)?;
    if worst_dropout > 1e-6 {
        bad.push(format!(
            "with Dropout, weights differ from one process's by {worst_dropout:e} (relative)"
        ));
    }
    // A functional model with BatchNormalization(synchronized=True): global batch
    // statistics, the same weights and moving statistics as one process.
    let (synced, _, worst_bn) = against_one_process(&sync_bn_model, &fit)?;
    if worst_bn > 2e-6 {
        bad.push(format!(
            "with synchronized BatchNormalization, weights differ from one process's by {worst_bn:e} (relative)"
        ));
    }
    // Per-replica BatchNormalization: each rank's statistics are its own shard's.
    let worst_replica = per_replica_bn(&x, &y, rank, size)?;
    if worst_replica > 1e-6 {
        bad.push(format!(
            "per-replica BatchNormalization's moving statistics differ from this rank's shard's by {worst_replica:e} (relative)"
        ));
    }
    // Stateful metrics (AUC, precision, recall): their counts are summed over the ranks, so
    // the training and validation logs and a sharded evaluate are one process's.
    let metrics_model = || -> rkeras::Result<Model> {
        let mut m = model()?;
        // A threshold a barely trained 3-class softmax passes.
        use rkeras::metrics::Metric;
        m.compile_with_metrics(
            Adam::default().learning_rate(0.01),
            "sparse_categorical_crossentropy",
            vec![
                Metric::auc("auc", 200, "ROC")?,
                Metric::precision("precision", Some(0.34), None, None)?,
                Metric::recall("recall", Some(0.34), None, None)?,
            ],
        )?;
        Ok(m)
    };
    let h_one = suspended(|| fit(&mut metrics_model()?))?;
    let mut with_metrics = metrics_model()?;
    let h_dist = fit(&mut with_metrics)?;
    let mut worst_metric = 0.0f64;
    for key in [
        "auc",
        "precision",
        "recall",
        "val_auc",
        "val_precision",
        "val_recall",
    ] {
        for (p, q) in h_dist.history[key].iter().zip(&h_one.history[key]) {
            worst_metric = worst_metric.max((p - q).abs());
        }
    }
    let e_dist = with_metrics.evaluate(&x, &y)?;
    let e_one = suspended(|| with_metrics.evaluate(&x, &y))?;
    for (p, q) in e_dist.values.iter().zip(&e_one.values) {
        worst_metric = worst_metric.max((p - q).abs());
    }
    if worst_metric > 1e-6 {
        bad.push(format!(
            "AUC, precision or recall differ from one process's by {worst_metric:e}: {:?} vs {:?}",
            e_dist.values, e_one.values
        ));
    }
    // A folder dataset: each rank decodes only its rows' files.
    let (worst_folder, decoded, want_decoded) =
        folder_check(std::path::Path::new(&dir), rank, size)?;
    if worst_folder > 1e-6 || decoded != want_decoded {
        bad.push(format!(
            "folder dataset: weights {worst_folder:e} from one process's (relative), {decoded} files decoded instead of this rank's {want_decoded}"
        ));
    }
    let mut sum = checksum(&m);
    for other in [&dropped, &synced] {
        sum = sum.wrapping_mul(31).wrapping_add(checksum(other));
    }
    if rank == 0 {
        println!("{size} ranks: Dropout model's weights within {worst_dropout:e} of one process");
        println!("{size} ranks: synchronized BatchNormalization model's weights within {worst_bn:e} of one process");
        println!("{size} ranks: per-replica BatchNormalization statistics within {worst_replica:e} of rank 0's shards'");
        println!(
            "{size} ranks: AUC, precision, recall (fit logs, validation, evaluate) within {worst_metric:e} of one process; evaluate {:?}",
            e_dist.values
        );
        println!(
            "{size} ranks: folder dataset weights within {worst_folder:e} of one process; rank 0 decoded {decoded} of the {} files of 2 epochs",
            2 * 23
        );
    }
    // Every rank prints its checksum: the replicas must hold the same bits (`.ci/run`
    // compares the lines, and two runs).
    println!("{size} ranks: rank {rank} checksum {sum:016x}");
    if !bad.is_empty() {
        eprintln!("rank {rank}: {}", bad.join("; "));
        std::process::exit(1);
    }
    Ok(())
}
