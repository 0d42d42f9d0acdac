//! End-to-end training: learning a synthetic image task, determinism across thread counts,
//! History and evaluate/predict, and clear errors on bad input.

use rkeras::prelude::*;

/// The layers as a Sequential model compiled for the synthetic shapes (Adam, sparse labels),
/// the random seed set first.
fn compiled(seed: u64, layers: impl FnOnce() -> Vec<Box<dyn Layer>>) -> Model {
    rkeras::set_random_seed(seed);
    let mut m = Sequential::new(layers()).expect("model");
    m.compile(
        Adam::default().learning_rate(3e-3),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )
    .expect("compile");
    m
}

fn small_cnn(seed: u64) -> Model {
    compiled(seed, || {
        vec![
            Conv2D::new(8, (3, 3))
                .activation("relu")
                .input_shape((16, 16, 3))
                .into(),
            MaxPooling2D::new((2, 2)).into(),
            Conv2D::new(16, (3, 3))
                .activation("relu")
                .padding("same")
                .into(),
            MaxPooling2D::new((2, 2)).into(),
            Flatten::new().into(),
            Dropout::new(0.2).into(),
            Dense::new(4).activation("softmax").into(),
        ]
    })
}

#[test]
fn small_cnn_learns_synthetic_shapes() {
    let (x, y) = rkeras::data::shapes::generate(1600, 16, 1);
    let (xt, yt) = rkeras::data::shapes::generate(200, 16, 2);
    let mut m = small_cnn(3);
    let h = m
        .fit(&x, &y)
        .epochs(12)
        .batch_size(32)
        .validation_split(0.1)
        .verbose(0)
        .run()
        .expect("fit");
    let keys: Vec<&String> = h.history.keys().collect();
    assert_eq!(keys, ["accuracy", "loss", "val_accuracy", "val_loss"]);
    assert_eq!(h.epoch.len(), 12);
    let losses = h.get("loss").expect("loss");
    assert!(
        losses[11] < losses[0] * 0.5,
        "loss did not fall: {losses:?}"
    );
    let ev = m.evaluate(&xt, &yt).expect("evaluate");
    assert_eq!(ev.names, ["loss", "accuracy"]);
    assert!(
        ev.get("accuracy").expect("acc") > 0.95,
        "test accuracy {:?}",
        ev
    );
    let p = m.predict(&xt).expect("predict");
    assert_eq!(p.shape(), &[200, 4]);
    let hits = p
        .argmax_rows()
        .iter()
        .zip(yt.data())
        .filter(|(a, b)| **a == **b as usize)
        .count();
    assert!((hits as f64 / 200.0 - ev.get("accuracy").expect("acc")).abs() < 1e-9);
}

/// A CNN whose 3x3 convolutions take the Winograd paths: F(4x4) on 7x7 outputs (several
/// samples per block of tiles) and F(2x2) with a fused pooling (7x7 to 3x3); its first
/// convolution (RGB, 32 filters) takes the direct pooled kernels, forward and backward.
fn winograd_cnn(seed: u64) -> Model {
    compiled(seed, || {
        vec![
            Conv2D::new(32, (3, 3))
                .activation("relu")
                .input_shape((16, 16, 3))
                .into(),
            MaxPooling2D::new((2, 2)).into(),
            Conv2D::new(16, (3, 3))
                .activation("relu")
                .padding("same")
                .into(),
            Conv2D::new(16, (3, 3))
                .activation("relu")
                .padding("same")
                .into(),
            MaxPooling2D::new((2, 2)).into(),
            Flatten::new().into(),
            Dense::new(4).activation("softmax").into(),
        ]
    })
}

/// Batches of 37 (then 22) split into sample groups (3 of 13, then 2 of 11), so the grouped
/// runs of the convolutions are covered too.
fn train_weights(threads: usize, model: fn(u64) -> Model) -> Vec<Tensor> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let (x, y) = rkeras::data::shapes::generate(96, 16, 5);
        let mut m = model(9);
        m.fit(&x, &y)
            .epochs(2)
            .batch_size(37)
            .verbose(0)
            .run()
            .expect("fit");
        m.get_weights()
    })
}

#[test]
fn same_seed_gives_bitwise_identical_weights_for_any_thread_count() {
    for model in [small_cnn, winograd_cnn] {
        let one = train_weights(1, model);
        assert_eq!(
            one,
            train_weights(1, model),
            "not reproducible with 1 thread"
        );
        assert_eq!(one, train_weights(2, model), "1 and 2 threads differ");
        assert_eq!(one, train_weights(3, model), "1 and 3 threads differ");
    }
}

#[test]
fn categorical_and_binary_targets_train() {
    rkeras::set_random_seed(1);
    let (x, y) = rkeras::data::shapes::generate(64, 8, 4);
    let labels: Vec<usize> = y.data().iter().map(|v| *v as usize).collect();
    let onehot = Tensor::one_hot(&labels, 4).expect("onehot");
    for opt in ["adam", "sgd", "rmsprop", "adamw"] {
        let mut m = Sequential::new([
            Flatten::new().input_shape((8, 8, 3)).into(),
            Dense::new(16).activation("relu").into(),
            Dense::new(4).activation("softmax").into(),
        ])
        .expect("model");
        m.compile(
            opt,
            "categorical_crossentropy",
            &["accuracy", "top_k_categorical_accuracy"],
        )
        .expect("compile");
        let h = m
            .fit(&x, &onehot)
            .epochs(2)
            .batch_size(16)
            .verbose(0)
            .run()
            .expect("fit");
        assert!(h.last("loss").expect("loss").is_finite());
        assert!(h.get("top_k_categorical_accuracy").is_some());
    }
    // Binary: is it a circle?
    let bin = Tensor::new(
        vec![64, 1],
        labels.iter().map(|&l| (l == 0) as u8 as f32).collect(),
    )
    .expect("bin");
    let mut m = Sequential::new([
        Flatten::new().input_shape((8, 8, 3)).into(),
        Dense::new(1).activation("sigmoid").into(),
    ])
    .expect("model");
    m.compile("adam", "binary_crossentropy", &["accuracy"])
        .expect("compile");
    let h = m
        .fit(&x, &bin)
        .epochs(3)
        .batch_size(16)
        .verbose(0)
        .validation_data(&x, &bin)
        .run()
        .expect("fit");
    assert!(h.get("val_accuracy").is_some());
}

#[test]
fn bad_input_gives_clear_errors() {
    let mut m = small_cnn(1);
    let (x, y) = rkeras::data::shapes::generate(8, 16, 4);
    // Wrong sample shape.
    let e = m
        .fit(&Tensor::zeros(vec![8, 12, 12, 3]), &y)
        .verbose(0)
        .run()
        .expect_err("shape");
    assert!(
        e.to_string().contains("conv2d") && e.to_string().contains("(None, 12, 12, 3)"),
        "{e}"
    );
    // Mismatched lengths.
    let e = m
        .fit(&x, &Tensor::zeros(vec![7]))
        .verbose(0)
        .run()
        .expect_err("len");
    assert!(e.to_string().contains("same number of samples"), "{e}");
    // Labels out of range.
    let e = m
        .fit(&x, &Tensor::new(vec![8], vec![9.0; 8]).expect("y"))
        .verbose(0)
        .run()
        .expect_err("label");
    assert!(e.to_string().contains("class index"), "{e}");
    // NaN input.
    let mut bad = x.clone();
    bad.data_mut()[5] = f32::NAN;
    let e = m.fit(&bad, &y).verbose(0).run().expect_err("nan");
    assert!(e.to_string().contains("non-finite"), "{e}");
    // Empty data.
    let e = m
        .fit(&Tensor::zeros(vec![0, 16, 16, 3]), &Tensor::zeros(vec![0]))
        .verbose(0)
        .run()
        .expect_err("empty");
    assert!(e.to_string().contains("empty"), "{e}");
    // Bad arguments.
    assert!(m.fit(&x, &y).batch_size(0).run().is_err());
    let e = m
        .fit(&x, &y)
        .validation_split(1.0)
        .run()
        .expect_err("split");
    assert!(e.to_string().contains("validation_split"), "{e}");
    // Integer labels with a categorical loss: the message says what to do.
    m.compile("adam", "categorical_crossentropy", &["accuracy"])
        .expect("compile");
    let e = m.fit(&x, &y).verbose(0).run().expect_err("sparse");
    assert!(
        e.to_string().contains("sparse_categorical_crossentropy"),
        "{e}"
    );
    // Unknown names list the known ones.
    let e = m
        .compile("adam", "categorical_crossentropy", &["accuracyy"])
        .expect_err("metric");
    assert!(
        e.to_string().contains("accuracyy") && e.to_string().contains("top_k_categorical_accuracy"),
        "{e}"
    );
    assert!(m.compile("adam", "hinge_loss", &[]).is_err());
    assert!(m
        .compile(Adam::default().learning_rate(-1.0), "mse", &[])
        .is_err());
    // Not compiled.
    rkeras::clear_session();
    let mut fresh = Sequential::new([Dense::new(2).input_shape(3).into()]).expect("model");
    let e = fresh
        .fit(&Tensor::zeros(vec![2, 3]), &Tensor::zeros(vec![2, 2]))
        .run()
        .expect_err("compile");
    assert!(e.to_string().contains("compile"), "{e}");
    // Duplicate names.
    let e = Sequential::new([
        Dense::new(2).name("a").input_shape(3).into(),
        Dense::new(2).name("a").into(),
    ])
    .expect_err("dup");
    assert!(e.to_string().contains("unique"), "{e}");
    // A shape that does not fit a layer names the layer.
    let e = Sequential::new([
        Flatten::new().input_shape(5).into(),
        Conv2D::new(2, 3).into(),
    ])
    .expect_err("rank");
    assert!(
        e.to_string().contains("conv2d") && e.to_string().contains("ndim=4"),
        "{e}"
    );
}
