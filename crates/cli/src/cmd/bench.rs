//! `rkeras bench w1|w2|w3|w4`: the anchor workloads of `shared/anchors` (same models, data,
//! batch sizes and timing method as `keras_bench.py`), printing one `RESULT` line each so the
//! figures sit beside Keras's and PyTorch's.
//!
//! W1: seed CNN, 3200 synthetic 64x64x3 images, batch 32, no shuffle; median img/s over
//! 20-step windows of epochs 2+. W2: Keras MNIST convnet on Fashion-MNIST, batch 128,
//! validation_split 0.1; 54000 / train seconds, median over epochs 2+; test accuracy.
//! W3: W1 at batch 128. W4: W1 inference at batch 1 and 32.
//!
//! `scaling`: W1 trained by one thread, by all (or `--threads`), and as that many independent
//! single-thread copies at once, in rotating short runs of the same process, so that every
//! ratio compares runs a second apart on a machine whose speed drifts between minutes.

use crate::models::ModelKind;
use anyhow::{bail, Context, Result};
use rkeras::callbacks::{Callback, Control, Logs};
use rkeras::prelude::*;
use rkeras_kernels::regions;
use std::time::Instant;

/// Training FLOPs per image (3x forward; `shared/anchors/flops.py`).
const W1_TRAIN_FLOPS: f64 = 145.3e6;
const W1_FWD_FLOPS: f64 = 48.45e6;
const W2_TRAIN_FLOPS: f64 = 14.65e6;

/// Per-batch and per-epoch wall times.
struct Timer {
    epoch: usize,
    prev: Instant,
    t0: Instant,
    steps: Vec<(usize, f64)>,
    train_s: Vec<f64>,
    last_train: Instant,
    first_step_age: Option<f64>,
}

impl Timer {
    fn new() -> Self {
        let now = Instant::now();
        Timer {
            epoch: 0,
            prev: now,
            t0: now,
            steps: Vec::new(),
            train_s: Vec::new(),
            last_train: now,
            first_step_age: None,
        }
    }
}

impl Callback for Timer {
    fn on_epoch_begin(&mut self, epoch: usize, _model: &mut Model) {
        self.epoch = epoch;
        self.t0 = Instant::now();
        self.prev = self.t0;
    }
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _model: &mut Model,
    ) -> rkeras::Result<Control> {
        let t = Instant::now();
        if self.first_step_age.is_none() {
            self.first_step_age = process_age();
        }
        self.steps.push((self.epoch, (t - self.prev).as_secs_f64()));
        self.prev = t;
        self.last_train = t;
        Ok(Control::Continue)
    }
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _m: &mut Model,
    ) -> rkeras::Result<Control> {
        let train = (self.last_train - self.t0).as_secs_f64();
        self.train_s.push(train);
        let total = self.t0.elapsed().as_secs_f64();
        let l: Vec<String> = logs.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
        println!(
            "epoch {}: train {train:.2}s total {total:.2}s {}",
            epoch + 1,
            l.join(" ")
        );
        Ok(Control::Continue)
    }
}

/// Seconds since the kernel started this process (as the anchors measure start-up).
fn process_age() -> Option<f64> {
    let start_ticks = stat_field(19)?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(uptime - start_ticks / 100.0)
}

/// CPU seconds (user + system, all threads) this process has used, from `/proc/self/stat`
/// (clock ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    Some((stat_field(11)? + stat_field(12)?) / 100.0)
}

/// Field `i` of `/proc/self/stat`, counted from the one after the command name (the state).
fn stat_field(i: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(i)?
        .parse()
        .ok()
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// img/s over consecutive windows of 20 steps: (median, min, max).
fn windows(steps: &[f64], bs: usize) -> (f64, f64, f64) {
    let mut r: Vec<f64> = steps
        .chunks_exact(20)
        .map(|w| 20.0 * bs as f64 / w.iter().sum::<f64>())
        .collect();
    let (lo, hi) = r
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    (median(&mut r), lo, hi)
}

/// Synthetic W1 data: random bytes scaled to [0, 1], random labels (fixed seed).
fn w1_data(n: usize) -> (Tensor, Tensor) {
    use rayon::prelude::*;
    // Generating the 39 M pixels is part of the start-up time: eight random bytes per draw,
    // one random stream per image, the images drawn in parallel.
    let len = 64 * 64 * 3;
    let mut x = vec![0.0f32; n * len];
    x.par_chunks_mut(len).enumerate().for_each(|(i, img)| {
        let mut rng = rkeras::rng::Rng::new(42 ^ ((i as u64 + 1) << 20));
        for chunk in img.chunks_mut(8) {
            for (v, b) in chunk.iter_mut().zip(rng.next_u64().to_le_bytes()) {
                *v = b as f32 / 255.0;
            }
        }
    });
    let mut rng = rkeras::rng::Rng::new(42);
    let y: Vec<usize> = (0..n).map(|_| rng.below(10)).collect();
    (
        Tensor::new(vec![n, 64, 64, 3], x).unwrap_or_else(|_| Tensor::zeros(vec![0])),
        Tensor::one_hot(&y, 10).unwrap_or_else(|_| Tensor::zeros(vec![0])),
    )
}

/// Per-layer milliseconds per image, forward and backward, with achieved GFLOP/s for convs
/// and dense layers (2 FLOPs per MAC; backward = grad-input + grad-kernel). Returns the
/// GFLOP/s of the conv and dense layers together (their FLOPs over their time), the figure
/// the issue compares with the machine's GEMM peak.
fn print_layer_timings(model: &Model, images: f64) -> f64 {
    if images <= 0.0 {
        return f64::NAN;
    }
    let (mut gemm_flops, mut gemm_secs) = (0.0, 0.0);
    println!(
        "{:<16} {:>10} {:>10} {:>9} {:>9}",
        "layer", "fwd ms/img", "bwd ms/img", "fwd GF/s", "bwd GF/s"
    );
    let (mut tf, mut tb) = (0.0, 0.0);
    for (i, (l, (name, f, b))) in model.layers().iter().zip(model.layer_timings()).enumerate() {
        // MACs per image: output positions x kernel size (conv), or the kernel size (dense).
        let kernel_len: usize = l.params().first().map_or(0, |p| p.value.len());
        let out = model.layer_output_shape(i).unwrap_or(&[]);
        let positions: usize = if l.class_name() == "Conv2D" {
            out.iter().take(out.len().saturating_sub(1)).product()
        } else {
            1
        };
        let macs = (positions * kernel_len) as f64;
        // Backward does grad-kernel and grad-input (2x forward), except the first layer.
        let bwd_mult = if i == 0 { 1.0 } else { 2.0 };
        if macs > 0.0 {
            gemm_flops += 2.0 * macs * (1.0 + bwd_mult) * images;
            gemm_secs += f + b;
        }
        let gf = |t: f64, mult: f64| {
            if t > 0.0 && macs > 0.0 {
                2.0 * macs * mult * images / t / 1e9
            } else {
                0.0
            }
        };
        println!(
            "{:<16} {:>10.4} {:>10.4} {:>9.1} {:>9.1}",
            name,
            f * 1e3 / images,
            b * 1e3 / images,
            gf(f, 1.0),
            gf(b, bwd_mult)
        );
        tf += f;
        tb += b;
    }
    println!(
        "{:<16} {:>10.4} {:>10.4}",
        "total",
        tf * 1e3 / images,
        tb * 1e3 / images
    );
    gemm_flops / gemm_secs / 1e9
}

/// The kind of work a layer does, for the per-layer-type breakdown of the application
/// workloads: convolutions by kernel and stride, then the other layers by class.
fn layer_kind(l: &dyn rkeras::layers::Layer) -> String {
    let c = l.config();
    let pair = |k: &str| {
        c.get(k)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    match l.class_name() {
        "Conv2D" => {
            let (k, s) = (pair("kernel_size"), pair("strides"));
            let strided = s.iter().any(|&v| v > 1);
            match (k.as_slice(), strided) {
                ([1, 1], false) => "Conv2D 1x1".into(),
                ([1, 1], true) => "Conv2D 1x1 strided".into(),
                ([3, 3], false) => "Conv2D 3x3".into(),
                (k, st) => format!(
                    "Conv2D {}{}",
                    k.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join("x"),
                    if st { " strided" } else { "" }
                ),
            }
        }
        "DepthwiseConv2D" => "DepthwiseConv2D".into(),
        "Activation" | "ReLU" => "activation".into(),
        "Add" | "Multiply" | "Subtract" | "Average" | "Maximum" | "Minimum" => {
            "elementwise merge".into()
        }
        other => other.into(),
    }
}

/// Convolution and dense multiply-adds per image of layer `i` (0 for other layers).
fn layer_macs(model: &Model, i: usize) -> f64 {
    let l = &model.layers()[i];
    let kernel_len: usize = l.params().first().map_or(0, |p| p.value.len());
    let out = model.layer_output_shape(i).unwrap_or(&[]);
    match l.class_name() {
        "Conv2D" => {
            let positions: usize = out.iter().take(out.len().saturating_sub(1)).product();
            (positions * kernel_len) as f64
        }
        "DepthwiseConv2D" => {
            let positions: usize = out.iter().take(out.len().saturating_sub(1)).product();
            // kernel h x w x channels x multiplier: one MAC per kernel entry per position.
            (positions * kernel_len) as f64
        }
        "Dense" => kernel_len as f64,
        _ => 0.0,
    }
}

/// One more profiled training epoch, batch-32 inference pass and 32 batch-1 predictions of an
/// application workload, summed per layer type: milliseconds per image and the share of the
/// step, and GFLOP/s for the convolutions (2 FLOPs per multiply-add; training counts forward +
/// 2x for the gradients, or the forward pass alone for a layer that ran no backward pass: a
/// frozen backbone's).
fn print_type_breakdown(model: &mut Model, x: &Tensor, y: &Tensor, bs: usize) -> Result<()> {
    let images = x.rows() as f64;
    model.set_profiling(true);
    let fit = one_more_epoch(model, x, y, bs, 2);
    let train = model.layer_timings();
    model.set_profiling(false);
    fit?;
    // One pass unprofiled first: a training batch smaller than 32 left the rows past it of
    // every buffer unwritten, and their first writes (fresh pages) are not the layers' time.
    model.predict_batched(x, 32)?;
    model.set_profiling(true);
    let pred = model.predict_batched(x, 32);
    let infer = model.layer_timings();
    model.set_profiling(false);
    pred?;
    let singles = x.rows().min(32);
    model.set_profiling(true);
    let pred = (0..singles).try_for_each(|k| {
        model
            .predict_batched(&x.slice_rows(k, k + 1), 1)
            .map(|_| ())
    });
    let one = model.layer_timings();
    model.set_profiling(false);
    pred?;
    // Per layer type: train, inference and batch-1 seconds, forward and training MACs.
    let mut rows: Vec<(String, f64, f64, f64, f64, f64)> = Vec::new();
    // Training's multiply-adds: 3x the forward's, or 1x without a backward pass.
    let train_mult = |b: f64| if b > 0.0 { 3.0 } else { 1.0 };
    let (mut flops_t, mut secs_t, mut flops_i, mut secs_i) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..model.layers().len() {
        let kind = layer_kind(model.layers()[i].as_ref());
        let macs = layer_macs(model, i);
        let (_, f, b) = train[i];
        let fi = infer[i].1;
        let f1 = one[i].1 * images / singles as f64;
        if macs > 0.0 {
            flops_t += 2.0 * macs * train_mult(b) * images;
            secs_t += f + b;
            flops_i += 2.0 * macs * images;
            secs_i += fi;
        }
        match rows.iter_mut().find(|r| r.0 == kind) {
            Some(r) => {
                r.1 += f + b;
                r.2 += fi;
                r.3 += macs;
                r.4 += f1;
                r.5 += macs * train_mult(b);
            }
            None => rows.push((kind, f + b, fi, macs, f1, macs * train_mult(b))),
        }
    }
    // The slowest layers one by one (training time), with their output shapes.
    let mut each: Vec<(usize, f64)> = (0..model.layers().len())
        .map(|i| (i, train[i].1 + train[i].2))
        .collect();
    each.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("slowest layers in training (forward + backward):");
    for &(i, t) in each.iter().take(15) {
        let macs = layer_macs(model, i);
        let gf = if macs > 0.0 && t > 0.0 {
            format!(
                "{:.1}",
                2.0 * macs * train_mult(train[i].2) * images / t / 1e9
            )
        } else {
            "-".into()
        };
        println!(
            "  {:<28} {:<20} {:?} {:.3} ms/img (fwd {:.3}, infer {:.3}) {gf} GFLOP/s",
            train[i].0,
            layer_kind(model.layers()[i].as_ref()),
            model.layer_output_shape(i).unwrap_or(&[]),
            t * 1e3 / images,
            train[i].1 * 1e3 / images,
            infer[i].1 * 1e3 / images,
        );
    }
    // And in inference (batch 32), with the convolutions' rate there.
    each.sort_by(|a, b| infer[b.0].1.total_cmp(&infer[a.0].1));
    println!("slowest layers in inference (batch 32):");
    for &(i, _) in each.iter().take(15) {
        let (macs, t) = (layer_macs(model, i), infer[i].1);
        let gf = if macs > 0.0 && t > 0.0 {
            format!("{:.1}", 2.0 * macs * images / t / 1e9)
        } else {
            "-".into()
        };
        println!(
            "  {:<28} {:<20} {:?} {:.3} ms/img {gf} GFLOP/s",
            train[i].0,
            layer_kind(model.layers()[i].as_ref()),
            model.layer_output_shape(i).unwrap_or(&[]),
            t * 1e3 / images,
        );
    }
    let total_t: f64 = rows.iter().map(|r| r.1).sum();
    let total_i: f64 = rows.iter().map(|r| r.2).sum();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total_1: f64 = rows.iter().map(|r| r.4).sum();
    println!(
        "{:<22} {:>12} {:>7} {:>9} {:>12} {:>7} {:>9} {:>9} {:>7}",
        "layer type",
        "train ms/img",
        "share",
        "GFLOP/s",
        "infer ms/img",
        "share",
        "GFLOP/s",
        "b1 ms/img",
        "share"
    );
    for (kind, t, inf, macs, b1, train_macs) in &rows {
        let gf = |secs: f64, macs: f64| {
            if secs > 0.0 && macs > 0.0 {
                format!("{:.1}", 2.0 * macs * images / secs / 1e9)
            } else {
                "-".into()
            }
        };
        println!(
            "{:<22} {:>12.3} {:>6.1}% {:>9} {:>12.3} {:>6.1}% {:>9} {:>9.3} {:>6.1}%",
            kind,
            t * 1e3 / images,
            100.0 * t / total_t.max(1e-12),
            gf(*t, *train_macs),
            inf * 1e3 / images,
            100.0 * inf / total_i.max(1e-12),
            gf(*inf, *macs),
            b1 * 1e3 / images,
            100.0 * b1 / total_1.max(1e-12)
        );
    }
    println!(
        "{:<22} {:>12.3} {:>7} {:>9.1} {:>12.3} {:>7} {:>9.1} {:>9.3}",
        "total (GEMM layers)",
        total_t * 1e3 / images,
        "",
        flops_t / secs_t.max(1e-12) / 1e9,
        total_i * 1e3 / images,
        "",
        flops_i / secs_i.max(1e-12) / 1e9,
        total_1 * 1e3 / images
    );
    Ok(())
}

/// Trains epoch `epoch` of `x`, `y` in batches of `bs`, unshuffled and silent: the extra,
/// measured epochs after the timed ones.
fn one_more_epoch(
    model: &mut Model,
    x: &Tensor,
    y: &Tensor,
    bs: usize,
    epoch: usize,
) -> Result<()> {
    model
        .fit(x, y)
        .initial_epoch(epoch)
        .epochs(epoch + 1)
        .batch_size(bs)
        .shuffle(false)
        .verbose(0)
        .run()?;
    Ok(())
}

/// Trains one more epoch (`epoch`, unshuffled) with the weight gradients timed apart
/// ([`Model::set_profiling_split`]) and prints, per layer, the forward pass, the weight
/// (kernel and bias) gradients and the input gradient in milliseconds per image; the input
/// gradient is the backward call's time less the weight gradients'.
fn print_backward_split(
    model: &mut Model,
    x: &Tensor,
    y: &Tensor,
    bs: usize,
    epoch: usize,
) -> Result<()> {
    model.set_profiling_split(true);
    let fit = one_more_epoch(model, x, y, bs, epoch);
    let (timings, weights) = (model.layer_timings(), model.layer_weight_grad_timings());
    model.set_profiling(false);
    fit?;
    let ms = |s: f64| s * 1e3 / x.rows().max(1) as f64;
    println!(
        "backward split (one more epoch, weight gradients timed in an extra call), ms per image:"
    );
    println!(
        "{:<16} {:>10} {:>12} {:>11}",
        "layer", "forward", "grad-kernel", "grad-input"
    );
    for ((name, f, b), k) in timings.iter().zip(&weights) {
        println!(
            "{:<16} {:>10.4} {:>12.4} {:>11.4}",
            name,
            ms(*f),
            ms(*k),
            ms((b - k).max(0.0))
        );
    }
    Ok(())
}

/// Trains one more epoch (`epoch`, unshuffled) with the parallel regions' accounting on and
/// prints it per call site, in milliseconds per step, largest wall time first.
fn print_regions(model: &mut Model, x: &Tensor, y: &Tensor, bs: usize, epoch: usize) -> Result<()> {
    let steps = x.rows().div_ceil(bs).max(1) as f64;
    let threads = rayon::current_num_threads();
    regions::enable(true);
    let t = Instant::now();
    let fit = one_more_epoch(model, x, y, bs, epoch);
    let wall = t.elapsed().as_secs_f64();
    regions::enable(false);
    fit?;
    let stats = regions::take();
    let ms = |s: f64| s * 1e3 / steps;
    let plural = if threads == 1 { "" } else { "s" };
    println!(
        "parallel regions, one epoch of {steps} steps on {threads} thread{plural}, ms per step:"
    );
    println!(
        "{:<30} {:>5} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6}",
        "call site", "tasks", "calls", "wall", "tasks", "waiting", "busy%", "start", "tail"
    );
    let (mut in_regions, mut waiting) = (0.0, 0.0);
    for s in &stats {
        let file = s.file.rsplit(['/', '\\']).next().unwrap_or(s.file);
        println!(
            "{:<30} {:>5} {:>6.1} {:>7.3} {:>7.3} {:>7.3} {:>6.1} {:>6.3} {:>6.3}",
            format!("{file}:{}", s.line),
            s.tasks,
            s.calls as f64 / steps,
            ms(s.wall),
            ms(s.busy),
            ms(s.idle(threads)),
            100.0 * s.busy / (threads as f64 * s.wall).max(f64::MIN_POSITIVE),
            ms(s.start),
            ms(s.tail)
        );
        in_regions += s.wall;
        waiting += s.idle(threads);
    }
    println!(
        "step {:.3} ms, of which in parallel regions {:.3} ms; the threads waited {:.1} % of their time in them and {:.1} % outside (one thread working)",
        ms(wall),
        ms(in_regions),
        100.0 * waiting / (threads as f64 * wall),
        100.0 * (threads as f64 - 1.0) * (wall - in_regions).max(0.0) / (threads as f64 * wall)
    );
    Ok(())
}

/// Images per second of one short W1 run (`x`, one epoch) of `model` on `pool`, and the CPUs
/// the process kept busy meanwhile.
fn short_run(
    pool: &rayon::ThreadPool,
    model: &mut Model,
    x: &Tensor,
    y: &Tensor,
) -> Result<(f64, f64)> {
    let (c0, t0) = (cpu_seconds(), Instant::now());
    pool.install(|| {
        model
            .fit(x, y)
            .epochs(1)
            .batch_size(32)
            .shuffle(false)
            .verbose(0)
            .run()
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let busy = match (c0, cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) / secs,
        _ => f64::NAN,
    };
    Ok((x.rows() as f64 / secs, busy))
}

/// The `scaling` workload: after warm-up, `rounds` rounds of three short W1 runs (20 steps,
/// 640 images, about a second each, as this VM's speed moves between seconds): one model on
/// one thread, the same model on `threads`, and `threads` independent models at once, each
/// on its own thread. The order rotates from round to round, so a drift of the machine's
/// speed cancels. The first ratio (N threads / 1) is the scaling; the second (N copies / 1)
/// is what the machine itself allows at that moment (shared caches and memory, clock
/// speed with all cores busy), the ceiling of any parallel split.
pub fn scaling(threads: usize, rounds: usize) -> Result<()> {
    rkeras::set_random_seed(42);
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .with_context(|| format!("starting a pool of {n} threads"))
    };
    let ones = (0..threads).map(|_| pool(1)).collect::<Result<Vec<_>>>()?;
    let many = pool(threads)?;
    let (x, y) = w1_data(640);
    let mut models = (0..threads)
        .map(|_| {
            let mut m = ModelKind::Seed.build((64, 64, 3), 10)?;
            m.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])?;
            Ok(m)
        })
        .collect::<Result<Vec<_>>>()?;
    // `threads` models trained at once, each on its own one-thread pool: summed img/s.
    let copies = |models: &mut [Model]| -> Result<f64> {
        std::thread::scope(|s| {
            let runs: Vec<_> = models
                .iter_mut()
                .zip(&ones)
                .map(|(m, p)| s.spawn(|| short_run(p, m, &x, &y)))
                .collect();
            let mut sum = 0.0;
            for r in runs {
                let (img_s, _) = r
                    .join()
                    .map_err(|_| anyhow::anyhow!("a training thread panicked"))??;
                sum += img_s;
            }
            Ok(sum)
        })
    };
    for m in models.iter_mut() {
        short_run(&many, m, &x, &y)?;
    }
    copies(&mut models)?;
    let (mut ratios, mut ceilings, mut shares) = (Vec::new(), Vec::new(), Vec::new());
    let (mut r1, mut rn) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (mut a, mut b, mut c) = ((0.0, 0.0), (0.0, 0.0), 0.0);
        for k in 0..3 {
            match (r + k) % 3 {
                0 => a = short_run(&ones[0], &mut models[0], &x, &y)?,
                1 => b = short_run(&many, &mut models[0], &x, &y)?,
                _ => c = copies(&mut models)?,
            }
        }
        let ((a, _), (b, busy)) = (a, b);
        println!(
            "round {}: 1 thread {a:.1} img/s | {threads} threads {b:.1} img/s ({busy:.2} CPUs busy) | {threads} copies {c:.1} img/s | scaling {:.3}, machine ceiling {:.3}",
            r + 1,
            b / a,
            c / a
        );
        r1.push(a);
        rn.push(b);
        ratios.push(b / a);
        ceilings.push(c / a);
        shares.push(b / c);
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0f64, f64::max);
    println!(
        "RESULT rkeras-{} scaling w1 ratio={:.3} ratio_min={lo:.3} ratio_max={hi:.3} ceiling={:.3} of_ceiling={:.3} img_s_1={:.1} img_s_n={:.1} rounds={rounds} threads={threads}",
        env!("CARGO_PKG_VERSION"),
        median(&mut ratios),
        median(&mut ceilings),
        median(&mut shares),
        median(&mut r1),
        median(&mut rn),
    );
    Ok(())
}

pub fn run(
    workload: &str,
    epochs: Option<usize>,
    (regions, layers): (bool, bool),
    model_file: Option<&std::path::Path>,
    (size, train_bs, images): (usize, usize, usize),
    frozen: bool,
) -> Result<()> {
    rkeras::set_random_seed(42);
    let threads = rayon::current_num_threads();
    let tag = format!("rkeras-{} {workload}", env!("CARGO_PKG_VERSION"));
    match workload {
        "w1" | "w3" => {
            let bs = if workload == "w1" { 32 } else { 128 };
            let epochs = epochs.unwrap_or(2);
            let (x, y) = w1_data(3200);
            let mut model = ModelKind::Seed.build((64, 64, 3), 10)?;
            model.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])?;
            let mut timer = Timer::new();
            // Epoch 1 (warm-up) unprofiled, then the timed epochs with per-layer timing.
            model
                .fit(&x, &y)
                .epochs(1)
                .batch_size(bs)
                .shuffle(false)
                .verbose(0)
                .callback(&mut timer)
                .run()?;
            model.set_profiling(true);
            model
                .fit(&x, &y)
                .initial_epoch(1)
                .epochs(epochs)
                .batch_size(bs)
                .shuffle(false)
                .verbose(0)
                .callback(&mut timer)
                .run()?;
            let layers_gflops =
                print_layer_timings(&model, (epochs.saturating_sub(1) * x.rows()) as f64);
            model.set_profiling(false);
            print_backward_split(&mut model, &x, &y, bs, epochs)?;
            if regions {
                print_regions(&mut model, &x, &y, bs, epochs + 1)?;
            }
            let later: Vec<f64> = timer
                .steps
                .iter()
                .filter(|(e, _)| *e >= 1)
                .map(|s| s.1)
                .collect();
            let (med, lo, hi) = windows(if later.is_empty() { &[] } else { &later }, bs);
            let mut inf = Vec::new();
            for pass in 0..4 {
                let t = Instant::now();
                model.predict_batched(&x, 32)?;
                if pass > 0 {
                    inf.push(x.rows() as f64 / t.elapsed().as_secs_f64());
                }
            }
            println!(
                "RESULT {tag} train_img_s={med:.1} win_min={lo:.1} win_max={hi:.1} infer_img_s={:.1} train_gflops={:.1} layers_gflops={layers_gflops:.1} first_step_age_s={:.3} peak_rss_mb={:.0} threads={threads}",
                median(&mut inf),
                med * W1_TRAIN_FLOPS / 1e9,
                timer.first_step_age.unwrap_or(f64::NAN),
                peak_rss_mb()
            );
        }
        "w2" => {
            let epochs = epochs.unwrap_or(5);
            let (train, test) =
                rkeras::data::fashion_mnist::load_data().context("W2 needs Fashion-MNIST")?;
            let mut model = ModelKind::MnistConvnet.build((28, 28, 1), 10)?;
            model.compile(
                Adam::default(),
                "sparse_categorical_crossentropy",
                &["accuracy"],
            )?;
            let mut timer = Timer::new();
            model
                .fit(&train.x, &train.y)
                .epochs(epochs)
                .batch_size(128)
                .validation_split(0.1)
                .verbose(0)
                .callback(&mut timer)
                .run()?;
            let acc = model
                .evaluate_batched(&test.x, &test.y, 128)?
                .get("accuracy")
                .unwrap_or(f64::NAN);
            let mut tr: Vec<f64> = timer.train_s.iter().skip(1).map(|t| 54000.0 / t).collect();
            let img_s = median(&mut tr);
            println!(
                "RESULT {tag} train_img_s={img_s:.1} test_acc={acc:.4} train_gflops={:.1} first_step_age_s={:.3} peak_rss_mb={:.0} epochs={epochs} threads={threads}",
                img_s * W2_TRAIN_FLOPS / 1e9,
                timer.first_step_age.unwrap_or(f64::NAN),
                peak_rss_mb()
            );
        }
        "w4" => {
            let (x, _) = w1_data(3200);
            let mut model = ModelKind::Seed.build((64, 64, 3), 10)?;
            let mut rates = Vec::new();
            for bs in [1usize, 32] {
                let n = if bs == 1 { 320 } else { 3200 };
                let xs = x.slice_rows(0, n);
                model.predict_batched(&xs, bs)?;
                let mut r = Vec::new();
                for _ in 0..3 {
                    let t = Instant::now();
                    model.predict_batched(&xs, bs)?;
                    r.push(n as f64 / t.elapsed().as_secs_f64());
                }
                rates.push(median(&mut r));
            }
            println!(
                "RESULT {tag} infer_b1_img_s={:.1} infer_b1_latency_ms={:.3} infer_b32_img_s={:.1} infer_gflops_b32={:.1} threads={threads}",
                rates[0],
                1e3 / rates[0],
                rates[1],
                rates[1] * W1_FWD_FLOPS / 1e9
            );
        }
        "w5" | "w6" | "w7" | "w8" | "app" => {
            // keras.applications at 64x64x3 (or --size), 10 classes, the data of
            // bench/keras_apps.py; training at --train-batch, inference at 32 and 1.
            let (n, bs) = (images, train_bs);
            let mut model = match model_file {
                Some(p) if workload == "app" => {
                    let json = p
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
                    if json {
                        rkeras::saving::model_from_json_file(p)?
                    } else {
                        rkeras::saving::load_model(p)?
                    }
                }
                _ => match workload {
                    "w5" => rkeras::applications::ResNet::resnet50()
                        .input_shape((size, size, 3))
                        .classes(10)
                        .build()?,
                    "w7" => rkeras::applications::EfficientNet::efficientnet_b0()
                        .input_shape((size, size, 3))
                        .classes(10)
                        .build()?,
                    "w8" => rkeras::applications::DenseNet::densenet121()
                        .input_shape((size, size, 3))
                        .classes(10)
                        .build()?,
                    _ => rkeras::applications::MobileNetV2::new()
                        .input_shape((size, size, 3))
                        .classes(10)
                        .build()?,
                },
            };
            if frozen {
                // Transfer learning: only the classifier trains.
                let last = model.layers().last().map(|l| l.name().to_string());
                model.set_trainable_from(last.as_deref(), true)?;
            }
            model.compile(
                Adam::default(),
                "sparse_categorical_crossentropy",
                &["accuracy"],
            )?;
            let x = Tensor::new(
                vec![n, size, size, 3],
                (0..n * size * size * 3)
                    .map(|i| ((i * 7919) % 255) as f32 / 255.0)
                    .collect(),
            )?;
            let y = Tensor::new(vec![n], (0..n).map(|i| (i % 10) as f32).collect())?;
            let first = Instant::now();
            model.predict_batched(&x.slice_rows(0, 1), 1)?;
            let first_ms = first.elapsed().as_secs_f64() * 1e3;
            model
                .fit(&x, &y)
                .epochs(1)
                .batch_size(bs)
                .shuffle(false)
                .verbose(0)
                .run()?;
            let t = Instant::now();
            model
                .fit(&x, &y)
                .epochs(1)
                .batch_size(bs)
                .shuffle(false)
                .verbose(0)
                .run()?;
            let train = n as f64 / t.elapsed().as_secs_f64();
            // The peak so far: model, data and the training buffers (the inference passes
            // below may raise it).
            let train_rss = peak_rss_mb();
            let mut r = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                model.predict_batched(&x, 32)?;
                r.push(n as f64 / t.elapsed().as_secs_f64());
            }
            let mut lat = Vec::new();
            for k in 0..32 {
                let xs = x.slice_rows(k, k + 1);
                let t = Instant::now();
                model.predict_batched(&xs, 1)?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            println!(
                "RESULT {tag} model={} size={size} train_batch={bs} frozen={} train_img_s={train:.1} infer_b32_img_s={:.1} infer_b1_latency_ms={:.2} first_prediction_ms={first_ms:.1} train_peak_rss_mb={train_rss:.0} peak_rss_mb={:.0} threads={threads}",
                model.name(),
                u8::from(frozen),
                median(&mut r),
                median(&mut lat),
                peak_rss_mb()
            );
            if layers {
                print_type_breakdown(&mut model, &x, &y, bs)?;
            }
        }
        _ => {
            bail!("unknown workload '{workload}'; known: w1, w2, w3, w4, w5, w6, w7, w8, app, scaling, folder")
        }
    }
    Ok(())
}
