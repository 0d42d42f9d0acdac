//! Mutation fuzzing of every loader that reads a user's file: `.keras`, `.weights.h5`, legacy
//! `.h5` (full models, and weights-only files read in order and by name), Keras config JSON, `.npy`, IDX and image files (PNG, JPEG, BMP, GIF). The seed
//! corpus is real: the Keras-written files under `tests/golden`, and files the test writes
//! with rkeras and the `image` crate. Each seed is mutated many times (bytes flipped, ranges
//! cut or repeated, size fields replaced by huge or zero values, files truncated); every
//! mutant must load or give an error, never panic. A failure names the seed and mutation so
//! it can be replayed and become a regression test.
//!
//! `RKERAS_FUZZ_ITERS=N` runs N mutations per seed (default 400, a few seconds in all with
//! the test profile); CI runs the default.

use rkeras::prelude::*;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

mod common;
use common::TempDir;

/// What a mutant is fed to.
#[derive(Clone, Copy, Debug)]
enum Loader {
    Model,
    Weights,
    LegacyWeights,
    Json,
    Npy,
    Idx,
    Image,
}

/// xorshift64*: the mutations of a seed are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `seed`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if b.is_empty() {
            b.push(0);
        }
        let at = rng.below(b.len());
        match rng.below(7) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => {
                // A 4- or 8-byte field set to a huge, zero or all-ones value (sizes, offsets).
                let v: u64 = [u64::MAX, 0, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 40][rng.below(5)];
                let w = if rng.below(2) == 0 { 4 } else { 8 };
                for (k, byte) in v.to_le_bytes()[..w].iter().enumerate() {
                    if let Some(x) = b.get_mut(at + k) {
                        *x = *byte;
                    }
                }
            }
            3 => b.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                b.drain(at..end);
            }
            5 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(at..at, junk);
            }
        }
    }
    b
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Encodes a small picture in `format`.
fn image_bytes(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

/// The seed corpus: (name, file suffix, bytes, loader).
fn corpus(dir: &Path) -> Vec<(String, &'static str, Vec<u8>, Loader)> {
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut seeds = vec![
        (
            "cnn.keras".to_string(),
            ".keras",
            read(golden("saving/cnn.keras")),
            Loader::Model,
        ),
        (
            "residual.keras".into(),
            ".keras",
            read(golden("functional/residual.keras")),
            Loader::Model,
        ),
        (
            "cnn_legacy.h5".into(),
            ".h5",
            read(golden("saving/cnn_legacy.h5")),
            Loader::Model,
        ),
        (
            "cnn.weights.h5".into(),
            ".weights.h5",
            read(golden("saving/cnn.weights.h5")),
            Loader::Weights,
        ),
    ];
    seeds.push((
        "legacy_weights.h5".into(),
        ".h5",
        read(golden("saving/legacy_weights.h5")),
        Loader::LegacyWeights,
    ));
    seeds.push((
        "activations.keras".into(),
        ".keras",
        read(golden("activations/activations.keras")),
        Loader::Model,
    ));
    let model = rkeras::saving::load_model(golden("saving/cnn.keras")).expect("golden loads");
    seeds.push((
        "cnn.json".into(),
        ".json",
        model.to_json().into_bytes(),
        Loader::Json,
    ));
    let x = Tensor::new(vec![2, 3], vec![0.5, -1.0, 2.0, 3.0, 4.0, 1e-3]).expect("x");
    let npy = dir.join("seed.npy");
    rkeras::data::write_npy(&npy, &x).expect("npy");
    seeds.push(("x.npy".into(), ".npy", read(npy), Loader::Npy));
    let mut idx = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2];
    idx.extend(0..12u8);
    seeds.push(("images.idx".into(), ".idx", idx, Loader::Idx));
    for (name, format) in [
        ("png", image::ImageFormat::Png),
        ("jpg", image::ImageFormat::Jpeg),
        ("bmp", image::ImageFormat::Bmp),
        ("gif", image::ImageFormat::Gif),
    ] {
        let suffix = match name {
            "png" => ".png",
            "jpg" => ".jpg",
            "bmp" => ".bmp",
            _ => ".gif",
        };
        seeds.push((
            format!("seed.{name}"),
            suffix,
            image_bytes(format),
            Loader::Image,
        ));
    }
    seeds
}

/// Feeds `path` to `loader`; the result is ignored, only a panic matters.
fn feed(loader: Loader, path: &Path, weights_model: &mut Model, legacy_model: &mut Model) {
    match loader {
        Loader::Model => drop(rkeras::saving::load_model(path)),
        Loader::Weights => drop(weights_model.load_weights(path)),
        Loader::LegacyWeights => {
            drop(legacy_model.load_weights(path));
            drop(legacy_model.load_weights_by_name(path, true));
        }
        Loader::Json => drop(rkeras::saving::model_from_json_file(path)),
        Loader::Npy => drop(rkeras::data::read_npy(path)),
        Loader::Idx => drop(rkeras::data::idx::read_u8(path)),
        Loader::Image => drop(rkeras::data::directory::load_image(path, (8, 8), 3)),
    }
}

#[test]
fn mutated_files_load_or_fail_cleanly_never_panic() {
    let iters: usize = std::env::var("RKERAS_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let dir = TempDir::new("fuzz");
    let mut weights_model =
        rkeras::saving::load_model(golden("saving/cnn.keras")).expect("golden loads");
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(golden("saving/legacy_weights.json")).expect("golden"),
    )
    .expect("json");
    let mut legacy_model = rkeras::saving::from_config(&g["config"]).expect("config");
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for (name, suffix, seed, loader) in corpus(&dir.0) {
        // The unmutated seed must load.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64 ^ seed.len() as u64);
        for i in 0..=iters {
            let bytes = if i == 0 {
                seed.clone()
            } else {
                mutate(&seed, &mut rng)
            };
            let path = dir.0.join(format!("mutant{suffix}"));
            std::fs::write(&path, &bytes).expect("write mutant");
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                feed(loader, &path, &mut weights_model, &mut legacy_model)
            }));
            if let Err(p) = run {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let keep = dir.0.join(format!("crash-{name}-{i}{suffix}"));
                let _ = std::fs::copy(&path, &keep);
                failures.push(format!("{name} mutation {i} ({loader:?}): {msg}"));
            }
        }
    }
    std::panic::set_hook(quiet);
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}
