//! The gradient buckets of a data-parallel fit, in a world of 2 ranks simulated in one
//! process (a sum over the ranks is a copy): the buckets start during the backward pass,
//! in the order it finishes the gradients, and any bucket size gives the same weights bit
//! for bit. The real thing (2 and 3 MPI ranks against one process) is
//! `examples/data_parallel.rs`, which `.ci/run` runs under `mpirun`.
//!
//! One test function: the simulated world is process-wide.

use rkeras::distribution::testing;
use rkeras::prelude::*;

fn data(n: usize, shape: &[usize], classes: usize) -> (Tensor, Tensor) {
    let len: usize = shape.iter().product();
    let x: Vec<f32> = (0..n * len)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let y: Vec<f32> = (0..n).map(|i| (i % classes) as f32).collect();
    let mut xs = vec![n];
    xs.extend_from_slice(shape);
    (
        Tensor::new(xs, x).expect("x"),
        Tensor::new(vec![n, 1], y).expect("y"),
    )
}

fn mlp() -> rkeras::Result<Model> {
    let mut m = Sequential::new([
        Dense::new(24).activation("relu").input_shape(12).into(),
        Dense::new(24).activation("relu").into(),
        Dropout::new(0.2).into(),
        Dense::new(16).activation("tanh").into(),
        Dense::new(16).activation("relu").into(),
        Dense::new(3).activation("softmax").into(),
    ])?;
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(m)
}

fn cnn() -> rkeras::Result<Model> {
    let mut m = Sequential::new([
        Conv2D::new(6, 3)
            .activation("relu")
            .input_shape((10, 10, 2))
            .into(),
        MaxPooling2D::new(2).into(),
        Conv2D::new(8, 3).padding("same").into(),
        BatchNormalization::new().into(),
        ReLU::new().into(),
        Flatten::new().into(),
        Dense::new(3).activation("softmax").into(),
    ])?;
    m.compile("sgd", "sparse_categorical_crossentropy", &[])?;
    Ok(m)
}

/// Branches, a residual Add and a Dense layer called twice (shared: its gradient is final
/// only at the end of the pass).
fn functional() -> rkeras::Result<Model> {
    let inputs = Input::new(12);
    let shared = Shared::new(Dense::new(12).activation("relu"));
    let a = Dense::new(12).activation("relu").call(&inputs)?;
    let b = shared.call(&a)?;
    let c = shared.call(&b)?;
    let s = Add::new().call_on(&[&a, &c])?;
    let d = Dense::new(8).activation("relu").call(&s)?;
    let e = BatchNormalization::new().call(&d)?;
    let out = Dense::new(3).activation("softmax").call(&e)?;
    let mut m = Model::functional(&inputs, &out)?;
    m.compile("rmsprop", "sparse_categorical_crossentropy", &[])?;
    Ok(m)
}

/// [`functional`] with its first two layers frozen (a frozen stem under trainable
/// layers): the buckets hold the trainable weights only.
fn functional_frozen_stem() -> rkeras::Result<Model> {
    let mut m = functional()?;
    let names: Vec<String> = m.layers().iter().map(|l| l.name().to_string()).collect();
    for name in names.iter().take(2) {
        m.set_trainable(name, false)?;
    }
    Ok(m)
}

/// A model builder and the data it trains on.
type Case<'a> = (&'a str, fn() -> rkeras::Result<Model>, &'a (Tensor, Tensor));

fn weights(m: &Model) -> Vec<u32> {
    m.get_weights()
        .iter()
        .flat_map(|t| t.data().iter().map(|v| v.to_bits()))
        .collect()
}

/// Trains `build()`'s model as rank 0 of 2 with buckets of `floats` floats: the weights'
/// bits and where the last step's buckets started.
fn train(
    build: fn() -> rkeras::Result<Model>,
    (x, y): &(Tensor, Tensor),
    floats: usize,
) -> (Vec<u32>, Vec<isize>) {
    testing::simulate(0, 2, floats);
    let w = fit(build, x, y);
    let starts = testing::last_bucket_starts();
    testing::end();
    (w, starts)
}

/// `build()`'s model, seeded, after 2 epochs on `x`, `y`: its weights' bits.
fn fit(build: fn() -> rkeras::Result<Model>, x: &Tensor, y: &Tensor) -> Vec<u32> {
    let mut m = build().expect("model");
    m.set_seed(11).expect("seed");
    m.fit(x, y)
        .epochs(2)
        .batch_size(16)
        .seed(5)
        .verbose(0)
        .run()
        .expect("fit");
    weights(&m)
}

#[test]
fn buckets_start_during_backward_and_any_size_gives_the_same_weights() {
    let flat = data(40, &[12], 3);
    let image = data(40, &[10, 10, 2], 3);
    let cases: [Case<'_>; 4] = [
        ("mlp", mlp, &flat),
        ("cnn", cnn, &image),
        ("functional", functional, &flat),
        ("frozen stem", functional_frozen_stem, &flat),
    ];
    for (name, build, xy) in cases {
        let (one_bucket, starts) = train(build, xy, usize::MAX / 8);
        assert_eq!(starts.len(), 1, "{name}: one bucket holds everything");
        for floats in [1, 50, 300] {
            let (w, starts) = train(build, xy, floats);
            assert_eq!(w, one_bucket, "{name}: buckets of {floats} floats");
            // (The frozen stem leaves few trainable weights: at 300 floats their buckets
            // all become ready at one position.)
            assert!(
                starts.len() > 1 || (name == "frozen stem" && floats == 300),
                "{name}: {floats}-float buckets: {starts:?}"
            );
            // In the order the pass finishes them, never going back up; small buckets
            // start while the pass still runs (at a position above the first layer's).
            assert!(floats > 50 || starts[0] > 0, "{name}: {floats}: {starts:?}");
            assert!(
                starts.windows(2).all(|p| p[0] >= p[1]),
                "{name}: {starts:?}"
            );
            if name.starts_with("functional") {
                // The shared layer's gradient is complete only when the pass ends.
                assert_eq!(starts.last(), Some(&isize::MIN), "{name}: {starts:?}");
            }
        }
    }
    // Without buckets (no distribution), training as one process over the whole batch
    // differs (rank 0 of 2 sees half of each batch): the simulated world was in effect.
    assert_ne!(fit(mlp, &flat.0, &flat.1), train(mlp, &flat, 50).0);
}
