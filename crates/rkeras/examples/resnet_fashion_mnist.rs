//! A small ResNet on Fashion-MNIST, built with the functional API: a stem convolution, two
//! residual blocks (Conv-BN-ReLU-Conv-BN + the skip connection, then ReLU) at 28x28, a
//! strided transition to 14x14 and one more residual block, global average pooling and a
//! softmax head. Random horizontal flips while training (`RandomFlip`, the identity in
//! inference), Adam, batch 128, validation_split 0.1, the learning rate divided by 10 for the
//! last third of the epochs (a `LearningRateScheduler`); then the test accuracy.
//!
//! Run: `sudo apt-get install dataset-fashion-mnist`, then
//! `cargo run --release -p rkeras --example resnet_fashion_mnist -- [EPOCHS] [WIDTH] [DECAY_AT] [FLIP]`
//! (defaults: 24 epochs, 16 filters, decay from epoch 16, 0-based; FLIP 1, 0 for none).

use rkeras::callbacks::LearningRateScheduler;
use rkeras::data::fashion_mnist;
use rkeras::prelude::*;

/// Conv-BN-ReLU-Conv-BN, added to the block's input, then ReLU.
fn residual_block(x: &KerasTensor, filters: usize) -> rkeras::Result<KerasTensor> {
    let y = Conv2D::new(filters, 3)
        .padding("same")
        .use_bias(false)
        .call(x)?;
    let y = BatchNormalization::new().call(&y)?;
    let y = Activation::new("relu").call(&y)?;
    let y = Conv2D::new(filters, 3)
        .padding("same")
        .use_bias(false)
        .call(&y)?;
    let y = BatchNormalization::new().call(&y)?;
    let y = Add::new().call_on(&[x, &y])?;
    Activation::new("relu").call(&y)
}

/// Conv-BN-ReLU with the given stride.
fn conv_bn_relu(x: &KerasTensor, filters: usize, stride: usize) -> rkeras::Result<KerasTensor> {
    let y = Conv2D::new(filters, 3)
        .strides(stride)
        .padding("same")
        .use_bias(false)
        .call(x)?;
    let y = BatchNormalization::new().call(&y)?;
    Activation::new("relu").call(&y)
}

fn main() -> rkeras::Result<()> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(24);
    let width: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let decay_at: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(epochs * 2 / 3);
    let flip = args.next().is_none_or(|a| a != "0");
    rkeras::set_random_seed(42);
    let (train, test) = fashion_mnist::load_data()?;

    let inputs = Input::new((28, 28, 1));
    let x = if flip {
        RandomFlip::new("horizontal").call(&inputs)?
    } else {
        inputs.clone()
    };
    let x = conv_bn_relu(&x, width, 1)?;
    let x = residual_block(&x, width)?;
    let x = residual_block(&x, width)?;
    let x = conv_bn_relu(&x, 2 * width, 2)?;
    let x = residual_block(&x, 2 * width)?;
    let x = GlobalAveragePooling2D::new().call(&x)?;
    let outputs = Dense::new(10).activation("softmax").call(&x)?;
    let mut model = Model::functional_named(&inputs, &outputs, "resnet")?;
    model.summary();
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    let start = std::time::Instant::now();
    let mut schedule =
        LearningRateScheduler::new(move |epoch, _| if epoch < decay_at { 1e-3 } else { 1e-4 });
    model
        .fit(&train.x, &train.y)
        .callback(&mut schedule)
        .batch_size(128)
        .epochs(epochs)
        .validation_split(0.1)
        .verbose(2)
        .run()?;
    let secs = start.elapsed().as_secs_f64();
    let score = model.evaluate(&test.x, &test.y)?;
    println!("Test loss: {:.4}", score.loss());
    println!(
        "Test accuracy: {:.4}",
        score.get("accuracy").unwrap_or(f64::NAN)
    );
    println!(
        "Training time: {secs:.0} s ({:.0} images/s including validation)",
        54_000.0 * epochs as f64 / secs
    );
    Ok(())
}
