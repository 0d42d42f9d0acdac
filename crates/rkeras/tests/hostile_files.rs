//! Files and configs made to hurt: a ZIP bomb, sizes past any machine, NaN weights. Each is
//! an error that names the file or layer and the size, or a warning; never an abort.

use rkeras::prelude::*;
use std::io::Write;

mod common;
use common::TempDir;

/// A `.keras` archive whose members are the given (name, bytes), deflated.
fn archive(path: &std::path::Path, members: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("archive");
    let mut zw = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zw.start_file(*name, opts).expect("member");
        zw.write_all(bytes).expect("bytes");
    }
    zw.finish().expect("finish");
}

#[test]
fn a_config_json_that_inflates_past_the_cap_is_refused_unread() {
    let dir = TempDir::new("zip-bomb");
    let path = dir.0.join("bomb.keras");
    // 65 MiB of spaces compress to about 65 KiB.
    let mut config = vec![b' '; 65 << 20];
    config.extend(b"{}");
    archive(
        &path,
        &[("config.json", &config), ("model.weights.h5", b"")],
    );
    assert!(std::fs::metadata(&path).expect("size").len() < 1 << 20);
    let e = rkeras::saving::load_model(&path)
        .expect_err("refused")
        .to_string();
    assert!(e.contains("config.json") && e.contains("refusing"), "{e}");
    assert!(e.contains("bomb.keras"), "{e}");
}

#[test]
fn shapes_past_the_machine_are_errors_naming_the_layer() {
    // A config whose input alone is larger than any memory.
    let json = r#"{"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 100000, 100000, 3]}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10}}]}}"#;
    let e = rkeras::saving::model_from_json(json).expect_err("too large");
    assert!(matches!(e, Error::Memory { .. }), "{e:?}");
    assert!(e.to_string().contains("(None, 100000, 100000, 3)"), "{e}");
    // Per-sample sizes that fit, but a weight that does not: the layer is named.
    let e = Sequential::new([
        Flatten::new().input_shape((1000, 1000, 3)).into(),
        Dense::new(1_000_000).into(),
    ])
    .expect_err("the kernel is 12 TB")
    .to_string();
    assert!(e.contains("the kernel of layer \"dense"), "{e}");
    // Shapes whose element count overflows.
    let e = Sequential::new([Dense::new(2).input_shape((usize::MAX / 2, 4)).into()])
        .expect_err("overflow")
        .to_string();
    assert!(e.contains("more than 2^64"), "{e}");
}

#[test]
fn a_batch_past_the_machine_is_an_error_before_allocation() {
    // One sample's output is 64 * 64 * 200000 floats (3.3 GB): it fits, but a batch of 16
    // with its gradients (105 GB) does not, and is refused before anything is allocated.
    let mut m = Sequential::new([
        Conv2D::new(200_000, 1).input_shape((64, 64, 1)).into(),
        GlobalAveragePooling2D::new().into(),
    ])
    .expect("one sample fits");
    let x = Tensor::zeros(vec![16, 64, 64, 1]);
    let e = m
        .predict_batched(&x, 16)
        .expect_err("too large")
        .to_string();
    assert!(
        e.contains("a batch of 16") && e.contains("memory limit"),
        "{e}"
    );
}

#[test]
fn class_names_travel_with_the_model_and_nan_weights_are_named() {
    let dir = TempDir::new("class-names");
    let path = dir.0.join("m.keras");
    let mut m = Sequential::new([Dense::new(2).activation("softmax").input_shape(3).into()])
        .expect("model");
    m.set_class_names(["cat", "dog"]);
    m.save(&path).expect("save");
    let back = rkeras::saving::load_model(&path).expect("load");
    assert_eq!(
        back.class_names(),
        Some(&["cat".to_string(), "dog".to_string()][..])
    );
    let mut w = m.get_weights();
    w[0] = Tensor::new(
        vec![3, 2],
        vec![0.0, f32::INFINITY, 0.0, 0.0, f32::NAN, 0.0],
    )
    .expect("weights");
    m.set_weights(&w).expect("set");
    assert_eq!(
        m.non_finite_weights(),
        vec![("dense".to_string(), "kernel", 2)]
    );
}
