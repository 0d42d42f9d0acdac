//! What the CLI tests share: running the binary, scratch folders, and tiny datasets written
//! by the tests themselves (an IDX look-alike of Fashion-MNIST, a folder of PNG files).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `rkeras ARGS` with a clean environment for the settings the tests depend on.
pub fn rkeras(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rkeras"))
        .args(args)
        .env_remove("COLUMNS")
        .env_remove("RKERAS_FASHION_MNIST")
        .output()
        .expect("run rkeras")
}

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty scratch folder, unique per test tag and process.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rkeras-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Writes an uncompressed IDX file of bytes.
pub fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut b = vec![0u8, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(data);
    std::fs::write(path, b).expect("write idx");
}

/// A tiny Fashion-MNIST look-alike: class k is a bright square at position k.
pub fn tiny_dataset(dir: &Path) {
    for (prefix, n) in [("train", 120u32), ("t10k", 40)] {
        let mut imgs = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let k = (i % 4) as usize;
            let mut img = vec![10u8; 28 * 28];
            for y in 0..8 {
                for x in 0..8 {
                    img[(4 + (k / 2) * 12 + y) * 28 + 4 + (k % 2) * 12 + x] = 250;
                }
            }
            imgs.extend(img);
            labels.push(k as u8);
        }
        write_idx(
            &dir.join(format!("{prefix}-images-idx3-ubyte")),
            &[n, 28, 28],
            &imgs,
        );
        write_idx(
            &dir.join(format!("{prefix}-labels-idx1-ubyte")),
            &[n],
            &labels,
        );
    }
}

/// A folder of 4 classes: class k is a bright square at position k (as the IDX dataset).
pub fn tiny_folder(dir: &Path, n: usize) {
    use rkeras::data::export;
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let k = i % 4;
        let mut img = vec![0.04f32; 16 * 16];
        for y in 0..6 {
            for x in 0..6 {
                img[(1 + (k / 2) * 8 + y) * 16 + 1 + (k % 2) * 8 + x] = 0.98;
            }
        }
        data.extend(img);
        labels.push(k);
    }
    let x = rkeras::Tensor::new(vec![n, 16, 16, 1], data).expect("tensor");
    let names: Vec<String> = ["ne", "nw", "se", "sw"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    export::write_image_folder(dir, &x, &labels, &names, 255.0).expect("export");
}
