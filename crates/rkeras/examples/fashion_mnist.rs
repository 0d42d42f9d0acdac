//! Keras's "Simple MNIST convnet" on Fashion-MNIST (Debian's `dataset-fashion-mnist`):
//! Conv32, MaxPool, Conv64, MaxPool, Flatten, Dropout(0.5), Dense(10, softmax); Adam,
//! batch 128, 5 epochs, validation_split 0.1; then the test loss and accuracy.
//!
//! Run: `sudo apt-get install dataset-fashion-mnist`, then
//! `cargo run --release -p rkeras --example fashion_mnist`

use rkeras::data::fashion_mnist;
use rkeras::prelude::*;

fn main() -> rkeras::Result<()> {
    rkeras::set_random_seed(42);
    let (train, test) = fashion_mnist::load_data()?;
    println!("x_train shape: {:?}", train.x.shape());
    println!("{} train samples", train.x.rows());
    println!("{} test samples", test.x.rows());

    let mut model = Sequential::new([
        InputLayer::new((28, 28, 1)).into(),
        Conv2D::new(32, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Conv2D::new(64, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Flatten::new().into(),
        Dropout::new(0.5).into(),
        Dense::new(10).activation("softmax").into(),
    ])?;
    model.summary();
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    model
        .fit(&train.x, &train.y)
        .batch_size(128)
        .epochs(5)
        .validation_split(0.1)
        .run()?;

    let score = model.evaluate(&test.x, &test.y)?;
    println!("Test loss: {:.4}", score.loss());
    println!(
        "Test accuracy: {:.4}",
        score.get("accuracy").unwrap_or(f64::NAN)
    );
    Ok(())
}
