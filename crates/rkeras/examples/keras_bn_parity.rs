//! BatchNormalization over 100 Adam steps against Keras, from the same initial weights: run
//! `bench/keras_bn_parity.py DIR` first (it trains the model in Keras and writes the files),
//! then `cargo run --release -p rkeras --example keras_bn_parity -- DIR`. Prints the largest
//! difference of every weight, moving statistics included.

use rkeras::prelude::*;
fn block(x: &KerasTensor, f: usize) -> rkeras::Result<KerasTensor> {
    let y = Conv2D::new(f, 3).padding("same").use_bias(false).call(x)?;
    let y = BatchNormalization::new().call(&y)?;
    let y = Activation::new("relu").call(&y)?;
    let y = Conv2D::new(f, 3).padding("same").use_bias(false).call(&y)?;
    let y = BatchNormalization::new().call(&y)?;
    let y = Add::new().call_on(&[x, &y])?;
    Activation::new("relu").call(&y)
}
fn cbr(x: &KerasTensor, f: usize, s: usize) -> rkeras::Result<KerasTensor> {
    let y = Conv2D::new(f, 3)
        .strides(s)
        .padding("same")
        .use_bias(false)
        .call(x)?;
    let y = BatchNormalization::new().call(&y)?;
    Activation::new("relu").call(&y)
}
fn model() -> rkeras::Result<Model> {
    rkeras::clear_session();
    let i = Input::new((28, 28, 1));
    let h = cbr(&i, 8, 1)?;
    let h = block(&h, 8)?;
    let h = cbr(&h, 16, 2)?;
    let h = block(&h, 16)?;
    let h = GlobalAveragePooling2D::new().call(&h)?;
    let o = Dense::new(10).activation("softmax").call(&h)?;
    Model::functional_named(&i, &o, "resnet")
}
fn main() -> rkeras::Result<()> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/bnpar".into()),
    );
    let x = rkeras::data::read_npy(dir.join("x.npy"))?;
    let y = rkeras::data::read_npy(dir.join("y.npy"))?;
    let mut m = model()?;
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    m.load_weights(dir.join("initial.weights.h5"))?;
    m.fit(&x, &y)
        .epochs(2)
        .batch_size(128)
        .shuffle(false)
        .verbose(2)
        .run()?;
    let mut k = model()?;
    k.load_weights(dir.join("final.weights.h5"))?;
    for (l, lk) in m.layers().iter().zip(k.layers()) {
        for (p, pk) in l.params().iter().zip(lk.params()) {
            let d = p
                .value
                .iter()
                .zip(&pk.value)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let scale = pk.value.iter().map(|v| v.abs()).fold(0f32, f32::max);
            println!(
                "{:24} {:16} max|diff| {:.5} (max|w| {:.4}) ours {:?}",
                l.name(),
                p.name,
                d,
                scale,
                &p.value[..4.min(p.value.len())]
            );
        }
    }
    Ok(())
}
