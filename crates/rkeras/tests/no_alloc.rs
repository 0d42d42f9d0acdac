//! A training step allocates nothing after the first: a counting global allocator watches
//! every thread while `fit` runs a small CNN, then a functional model with two inputs, two
//! outputs, a shared layer, BatchNormalization and a residual `Add`.
//!
//! The `gemm` crate allocates its own packing buffers inside every call (two small blocks,
//! freed before it returns); those are counted apart, through
//! `rkeras_kernels::gemm::in_gemm_crate()`, and reported. Everything else must be zero.

use rkeras::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static GEMM_ALLOCS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if rkeras_kernels::gemm::in_gemm_crate() {
        GEMM_ALLOCS.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Records the allocation counter after every batch (into preallocated storage).
struct Probe {
    counts: Vec<usize>,
}
impl Callback for Probe {
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _model: &mut Model,
    ) -> rkeras::Result<Control> {
        if self.counts.len() < self.counts.capacity() {
            self.counts.push(ALLOCS.load(Ordering::Relaxed));
        }
        Ok(Control::Continue)
    }
}

#[test]
fn training_steps_do_not_allocate() {
    rkeras::set_random_seed(2);
    let (x, y) = rkeras::data::shapes::generate(160, 16, 3);
    let mut m = Sequential::new([
        Conv2D::new(8, (3, 3))
            .activation("relu")
            .input_shape((16, 16, 3))
            .into(),
        MaxPooling2D::new((2, 2)).into(),
        Conv2D::new(8, (3, 3))
            .activation("gelu")
            .padding("same")
            .into(),
        AveragePooling2D::new(2).into(),
        Flatten::new().into(),
        Dropout::new(0.3).into(),
        Dense::new(4).activation("softmax").into(),
    ])
    .expect("model");
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
        .expect("compile");
    let mut probe = Probe {
        counts: Vec::with_capacity(64),
    };
    // One epoch of 10 full batches of 32 (the convolutions run by two sample groups); no
    // validation, silent.
    let (xs, ys) = rkeras::data::shapes::generate(320, 16, 3);
    m.fit(&xs, &ys)
        .epochs(1)
        .batch_size(32)
        .verbose(0)
        .callback(&mut probe)
        .run()
        .expect("fit");
    let c = &probe.counts;
    assert_eq!(c.len(), 10);
    // After the first two steps (first-touch of lazily grown queues), the counter must not move.
    assert_eq!(c[2], c[9], "allocations during steps 3..10: {:?}", c);

    // The graph executor: packed inputs and outputs, a shared layer's twin, one loss per
    // output. (In the same test: the counters are global to the process.)
    let mut m = functional_model();
    let mut probe = Probe {
        counts: Vec::with_capacity(64),
    };
    let x2 = Tensor::new(
        vec![160, 4],
        (0..640).map(|v| (v as f32 * 0.1).sin()).collect(),
    )
    .expect("x2");
    let reg = Tensor::new(vec![160, 1], (0..160).map(|v| (v % 7) as f32).collect()).expect("reg");
    m.fit([&x, &x2], [&y, &reg])
        .epochs(1)
        .batch_size(16)
        .verbose(0)
        .callback(&mut probe)
        .run()
        .expect("fit functional");
    let c = &probe.counts;
    assert_eq!(c.len(), 10);
    assert_eq!(
        c[2], c[9],
        "functional: allocations during steps 3..10: {:?}",
        c
    );
    // Vector-valued metrics (one F1 per class, precision at three thresholds): their logs
    // are refilled in place.
    let mut m = Sequential::new([
        Flatten::new().input_shape((16, 16, 3)).into(),
        Dense::new(4).activation("softmax").into(),
    ])
    .expect("model");
    m.compile_with_metrics(
        "adam",
        "sparse_categorical_crossentropy",
        vec![
            rkeras::metrics::Metric::from_name("f1_score").expect("f1_score"),
            rkeras::metrics::Metric::confusion_at(
                "precision",
                rkeras::metrics::Confusion::Precision,
                &[0.3, 0.5, 0.7],
                None,
                None,
            )
            .expect("precision"),
        ],
    )
    .expect("compile");
    let mut probe = Probe {
        counts: Vec::with_capacity(64),
    };
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(16)
        .verbose(0)
        .callback(&mut probe)
        .run()
        .expect("fit vector metrics");
    let c = &probe.counts;
    assert_eq!(c.len(), 10);
    assert_eq!(
        c[2], c[9],
        "vector metrics: allocations during steps 3..10: {:?}",
        c
    );
    eprintln!(
        "gemm crate allocations (its packing buffers) over the whole fit: {}",
        GEMM_ALLOCS.load(Ordering::Relaxed)
    );
}

/// Two inputs (an image and 4 numbers), a residual block with BatchNormalization, a shared
/// Dense called twice, two outputs with their own losses and metrics.
fn functional_model() -> Model {
    let build = || -> rkeras::Result<Model> {
        let img = Input::named((16, 16, 3), "img");
        let meta = Input::named(4, "meta");
        let x = Conv2D::new(8, 3).padding("same").call(&img)?;
        let y = BatchNormalization::new().call(&x)?;
        let y = Activation::new("relu").call(&y)?;
        let x = Add::new().call_on(&[&x, &y])?;
        let x = GlobalAveragePooling2D::new().call(&x)?;
        let shared = Shared::new(Dense::new(8).activation("tanh"));
        let a = shared.call(&meta)?;
        let b = shared.call(&Dense::new(4).call(&meta)?)?;
        let h = Concatenate::new().call_on(&[&x, &a, &b])?;
        let cls = Dense::new(4).activation("softmax").name("cls").call(&h)?;
        let reg = Dense::new(1).name("reg").call(&h)?;
        let mut m = Model::functional([&img, &meta], [&cls, &reg])?;
        m.compile_outputs(
            "adam",
            [
                OutputLoss::new("cls", "sparse_categorical_crossentropy").metrics(&["accuracy"]),
                OutputLoss::new("reg", "mse")
                    .loss_weight(0.5)
                    .metrics(&["mae"]),
            ],
        )?;
        Ok(m)
    };
    build().expect("functional model")
}
