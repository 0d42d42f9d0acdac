//! The seed's Keras program in Rust: a small CNN on 64x64 RGB images, Adam, categorical
//! cross-entropy, accuracy, 5 epochs with 10% held out for validation.
//!
//! Run: `cargo run --release -p rkeras --example seed_cnn`
//! (The seed reads its images from a folder; until `image_dataset_from_directory` lands,
//! this example draws coloured shapes in memory.)

use rkeras::prelude::*;

fn main() -> rkeras::Result<()> {
    rkeras::set_random_seed(42);
    let (x, labels) = rkeras::data::shapes::generate(2000, 64, 7);
    let classes: Vec<usize> = labels.data().iter().map(|&l| l as usize).collect();
    let y = Tensor::one_hot(&classes, 10)?;

    let mut model = Sequential::new([
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
    ])?;
    model.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])?;
    model.summary();
    let history = model
        .fit(&x, &y)
        .epochs(5)
        .batch_size(32)
        .validation_split(0.1)
        .run()?;

    for (name, values) in &history.history {
        println!(
            "{name}: {}",
            values
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
