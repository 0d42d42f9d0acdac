//! The keras.io transfer-learning guide in Rust: a MobileNetV2 backbone (with its published
//! weights when you have the file), frozen while a new head learns; then the top of the
//! backbone unfrozen and fine-tuned at a lower learning rate.
//!
//! ```sh
//! cargo run --release -p rkeras --example transfer_learning -- WEIGHTS.h5
//! ```
//! `WEIGHTS.h5`: Keras's published `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5`
//! (the legacy layout, read by layer name; Keras downloads it to `~/.keras/models/`). Without
//! pretrained weights the recipe has nothing to transfer: a random backbone in inference mode
//! gives features of about 1e-10 (in Keras too), so the example asks for the file.
//! The data: coloured shapes drawn by rkeras (no download), 4 classes, 96x96.

use rkeras::applications::MobileNetV2;
use rkeras::prelude::*;

fn main() -> rkeras::Result<()> {
    let Some(weights) = std::env::args().nth(1) else {
        eprintln!("usage: transfer_learning WEIGHTS.h5 (MobileNetV2 alpha 0.35, 96x96, no top; see the file's header)");
        std::process::exit(1);
    };
    let size = 96;
    rkeras::set_random_seed(1);
    // Images in 0..1; MobileNetV2 wants -1..1 (its preprocess_input on 0..255 pixels).
    let (mut x, y) = rkeras::data::shapes::generate(800, size, 7);
    x.data_mut().iter_mut().for_each(|v| *v = *v * 2.0 - 1.0);
    let (mut xt, yt) = rkeras::data::shapes::generate(200, size, 8);
    xt.data_mut().iter_mut().for_each(|v| *v = *v * 2.0 - 1.0);

    // inputs -> augmentation -> backbone (frozen: its BatchNormalizations in inference)
    //        -> pooled features -> dropout -> new classifier.
    let inputs = Input::new((size, size, 3));
    let augmented = RandomFlip::new("horizontal").call(&inputs)?;
    let features = MobileNetV2::new()
        .input_shape((size, size, 3))
        .alpha(0.35)
        .include_top(false)
        .pooling("avg")
        .call(&augmented)?;
    let dropped = Dropout::new(0.2).name("head_dropout").call(&features)?;
    let outputs = Dense::new(4)
        .activation("softmax")
        .name("head")
        .call(&dropped)?;
    let mut model = Model::functional(&inputs, &outputs)?;
    // Keras's published file, by layer name: the new head is not in it.
    let skipped = model.load_weights_by_name(&weights, true)?;
    println!("Loaded {weights} ({} weights skipped)", skipped.len());

    // 1. Feature extraction: everything below the head frozen.
    model.set_trainable_from(Some("head_dropout"), true)?;
    model.compile(
        Adam::default().learning_rate(1e-3),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )?;
    let mut history = model
        .fit(&x, &y)
        .epochs(4)
        .batch_size(32)
        .verbose(2)
        .run()?;

    // 2. Fine-tuning: unfreeze the top of the backbone, recompile with a lower rate.
    model.set_trainable_from(Some("block_16_expand"), true)?;
    model.compile(
        Adam::default().learning_rate(1e-5),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )?;
    let fine = model
        .fit(&x, &y)
        .epochs(6)
        .initial_epoch(4)
        .batch_size(32)
        .verbose(2)
        .run()?;
    history.extend(fine);
    let score = model.evaluate(&xt, &yt)?;
    println!(
        "Test accuracy after {} epochs (4 with the backbone frozen, 2 fine-tuning its top): {:.4}",
        history.epoch.len(),
        score.get("accuracy").unwrap_or(f64::NAN)
    );
    Ok(())
}
