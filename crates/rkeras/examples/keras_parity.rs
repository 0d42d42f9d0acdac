//! Parity check against real Keras from identical starting weights: loads the initial and
//! final weights Keras wrote (raw little-endian f32 files `init_i.bin` / `final_i.bin`, made
//! by `bench/keras_parity.py`), trains the same model on the same batches (no dropout, no
//! shuffle) and prints the loss history and the largest weight difference.
//!
//! Run: `KERAS_BACKEND=jax python bench/keras_parity.py /tmp/parity` then
//! `cargo run --release -p rkeras --example keras_parity -- /tmp/parity`

use rkeras::data::fashion_mnist;
use rkeras::prelude::*;

fn read(path: &std::path::Path, shape: &[usize]) -> rkeras::Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|source| rkeras::Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Tensor::new(shape.to_vec(), v)
}

fn main() -> rkeras::Result<()> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/parity".into()),
    );
    let (train, test) = fashion_mnist::load_data()?;
    let x = train.x.slice_rows(0, 6400);
    let labels: Vec<usize> = train.y.data()[..6400].iter().map(|&v| v as usize).collect();
    let y = Tensor::one_hot(&labels, 10)?;
    let mut model = Sequential::new([
        InputLayer::new((28, 28, 1)).into(),
        Conv2D::new(32, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Conv2D::new(64, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Flatten::new().into(),
        Dense::new(10).activation("softmax").into(),
    ])?;
    model.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])?;
    let shapes: Vec<Vec<usize>> = model
        .get_weights()
        .iter()
        .map(|w| w.shape().to_vec())
        .collect();
    let init = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| read(&dir.join(format!("init_{i}.bin")), s))
        .collect::<rkeras::Result<Vec<_>>>()?;
    model.set_weights(&init)?;
    let h = model
        .fit(&x, &y)
        .epochs(2)
        .batch_size(128)
        .shuffle(false)
        .verbose(0)
        .run()?;
    println!(
        "rkeras history loss {:?} accuracy {:?}",
        h.get("loss"),
        h.get("accuracy")
    );
    let mut worst = 0.0f32;
    for (i, w) in model.get_weights().iter().enumerate() {
        let k = read(&dir.join(format!("final_{i}.bin")), w.shape())?;
        let d = w
            .data()
            .iter()
            .zip(k.data())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let scale = k.data().iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        println!(
            "weight {i} {:?}: max |rkeras - keras| = {d:.3e} (max |w| {scale:.3})",
            w.shape()
        );
        worst = worst.max(d);
    }
    let labels_t = Tensor::one_hot(
        &test
            .y
            .data()
            .iter()
            .map(|&v| v as usize)
            .collect::<Vec<_>>(),
        10,
    )?;
    let e = model.evaluate(&test.x, &labels_t)?;
    println!(
        "rkeras eval {:?}; worst weight difference {worst:.3e}",
        e.values
    );
    Ok(())
}
