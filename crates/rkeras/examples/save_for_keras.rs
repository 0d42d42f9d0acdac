//! Writes rkeras's own `.keras`, `.weights.h5` and legacy `.h5` files of the golden CNN, for
//! `bench/check_keras_load.py` to load in Python Keras:
//! `cargo run --release -p rkeras --example save_for_keras -- OUT_DIR`
use rkeras::saving::load_model;
use std::path::PathBuf;

fn main() -> rkeras::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "rkeras-saved".into()),
    );
    std::fs::create_dir_all(&out).map_err(|source| rkeras::Error::Io {
        path: out.clone(),
        source,
    })?;
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/saving/cnn.keras");
    let model = load_model(&golden)?;
    model.save(out.join("cnn.keras"))?;
    model.save_weights(out.join("cnn.weights.h5"))?;
    model.save(out.join("cnn_legacy.h5"))?;
    println!(
        "wrote {0}/cnn.keras, {0}/cnn.weights.h5 and {0}/cnn_legacy.h5",
        out.display()
    );
    Ok(())
}
