//! `summary()` equals, character for character, what Keras 3.15.1 prints for the same models
//! (golden files made by `golden/make_golden.py`).

use rkeras::prelude::*;

fn seed_model() -> Model {
    rkeras::clear_session();
    Sequential::new([
        Conv2D::new(32, (3, 3))
            .activation("relu")
            .input_shape((64, 64, 3))
            .into(),
        MaxPooling2D::new((2, 2)).into(),
        Conv2D::new(64, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Conv2D::new(64, (3, 3)).activation("relu").into(),
        Flatten::new().into(),
        Dense::new(10).activation("softmax").into(),
    ])
    .expect("seed model")
}

fn golden(name: &str) -> String {
    let p = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn seed_model_compiled_then_trained_matches_keras() {
    let mut m = seed_model();
    m.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])
        .expect("compile");
    assert_eq!(
        m.summary_string(Some(76)),
        golden("seed_summary_compiled.txt")
    );
    let x = Tensor::zeros(vec![4, 64, 64, 3]);
    let y = Tensor::one_hot(&[0, 1, 2, 3], 10).expect("y");
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(4)
        .verbose(0)
        .run()
        .expect("fit");
    assert_eq!(m.summary_string(Some(76)), golden("seed_summary_76.txt"));
    assert_eq!(
        m.summary_string(Some(88)),
        golden("seed_summary_cols200.txt")
    );
    assert_eq!(
        m.summary_string(Some(108)),
        golden("seed_summary_ll108_cols200.txt")
    );
}

#[test]
fn mnist_convnet_with_input_layer_matches_keras() {
    rkeras::clear_session();
    let m = Sequential::new([
        InputLayer::new((28, 28, 1)).into(),
        Conv2D::new(32, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Conv2D::new(64, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Flatten::new().into(),
        Dropout::new(0.5).into(),
        Dense::new(10).activation("softmax").into(),
    ])
    .expect("model");
    assert_eq!(
        m.summary_string(Some(76)),
        golden("mnist_convnet_summary_76.txt")
    );
}

#[test]
fn unbuilt_model_shows_question_marks() {
    rkeras::clear_session();
    let m = Sequential::new([Dense::new(4).into()]).expect("model");
    let s = m.summary_string(Some(76));
    assert!(
        s.contains("│ dense (Dense)") && s.contains("? ") && s.contains("0 (unbuilt)"),
        "{s}"
    );
}
