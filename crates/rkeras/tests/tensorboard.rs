//! The TensorBoard callback's event files, read back: TFRecord framing, the Keras 3 tags
//! (`epoch_loss`, `epoch_accuracy`, `epoch_learning_rate` in `train/`, the validation
//! scalars without their prefix in `validation/`, `evaluation_loss_vs_iterations`), steps
//! and values equal to the history's.

use rkeras::callbacks::{TensorBoard, UpdateFreq};
use rkeras::prelude::*;

mod common;

/// The scalars of an event file: (tag, step, value), checking each record's framing.
fn scalars(bytes: &[u8]) -> Vec<(String, i64, f32)> {
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    /// The fields of one message: (number, wire type, payload or value).
    fn fields(b: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key = varint(b, &mut i);
            let (field, wire) = (key >> 3, key & 7);
            let payload = match wire {
                0 => varint(b, &mut i).to_le_bytes().to_vec(),
                1 => {
                    i += 8;
                    b[i - 8..i].to_vec()
                }
                5 => {
                    i += 4;
                    b[i - 4..i].to_vec()
                }
                2 => {
                    let n = varint(b, &mut i) as usize;
                    i += n;
                    b[i - n..i].to_vec()
                }
                w => panic!("wire type {w}"),
            };
            out.push((field, wire, payload));
        }
        out
    }
    let mut out = Vec::new();
    let mut i = 0;
    let mut first = true;
    while i < bytes.len() {
        let len = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("length")) as usize;
        let data = &bytes[i + 12..i + 12 + len];
        i += 12 + len + 4;
        let f = fields(data);
        if first {
            assert!(f.iter().any(|(n, _, p)| *n == 3 && p == b"brain.Event:2"));
            first = false;
            continue;
        }
        let step = f.iter().find(|(n, _, _)| *n == 2).map_or(0, |(_, _, p)| {
            i64::from_le_bytes(p[..8].try_into().expect("step"))
        });
        let summary = &f.iter().find(|(n, _, _)| *n == 5).expect("summary").2;
        for (_, _, value) in fields(summary) {
            let v = fields(&value);
            let tag = String::from_utf8(v.iter().find(|(n, _, _)| *n == 1).expect("tag").2.clone())
                .expect("utf-8");
            let x = f32::from_le_bytes(
                v.iter().find(|(n, _, _)| *n == 2).expect("simple_value").2[..4]
                    .try_into()
                    .expect("float"),
            );
            out.push((tag, step, x));
        }
    }
    assert_eq!(i, bytes.len(), "the records fill the file exactly");
    out
}

fn only_file(dir: &std::path::Path) -> Vec<u8> {
    let files: Vec<_> = std::fs::read_dir(dir)
        .expect("event folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("events.out.tfevents.") && name.ends_with(".v2"),
        "{name}"
    );
    std::fs::read(&files[0]).expect("event file")
}

#[test]
fn tensorboard_logs_keras_scalars_by_epoch() {
    let tmp = common::TempDir::new("tensorboard");
    let mut m = Sequential::new([
        Dense::new(4).activation("relu").input_shape(3).into(),
        Dense::new(2).activation("softmax").into(),
    ])
    .expect("model");
    m.compile(
        SGD::default().learning_rate(0.05),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )
    .expect("compile");
    let x = Tensor::new(vec![20, 3], (0..60).map(|i| (i % 7) as f32 / 7.0).collect()).expect("x");
    let y = Tensor::new(vec![20], (0..20).map(|i| (i % 2) as f32).collect()).expect("y");
    let mut tb = TensorBoard::new(&tmp.0).update_freq(UpdateFreq::Batches(2));
    let h = m
        .fit(&x, &y)
        .epochs(3)
        .batch_size(4)
        .validation_split(0.2)
        .verbose(0)
        .callback(&mut tb)
        .run()
        .expect("fit");
    assert_eq!(tb.files().len(), 2);
    let train = scalars(&only_file(&tmp.0.join("train")));
    let val = scalars(&only_file(&tmp.0.join("validation")));
    let epoch = |s: &[(String, i64, f32)], tag: &str| -> Vec<(i64, f32)> {
        s.iter()
            .filter(|(t, _, _)| t == tag)
            .map(|(_, k, v)| (*k, *v))
            .collect()
    };
    let close = |got: Vec<(i64, f32)>, want: &[f64]| {
        assert_eq!(got.len(), want.len());
        for (k, ((step, v), w)) in got.iter().zip(want).enumerate() {
            assert_eq!(*step, k as i64);
            assert!((f64::from(*v) - w).abs() < 1e-6, "{v} vs {w}");
        }
    };
    close(epoch(&train, "epoch_loss"), &h.history["loss"]);
    close(epoch(&train, "epoch_accuracy"), &h.history["accuracy"]);
    close(epoch(&train, "epoch_learning_rate"), &[0.05, 0.05, 0.05]);
    close(epoch(&val, "epoch_loss"), &h.history["val_loss"]);
    close(epoch(&val, "epoch_accuracy"), &h.history["val_accuracy"]);
    // 16 training samples in batches of 4: 4 steps an epoch, a batch scalar every 2.
    let steps: Vec<i64> = epoch(&train, "batch_loss")
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(steps, [2, 4, 6, 8, 10, 12]);
    let evals: Vec<i64> = epoch(&val, "evaluation_loss_vs_iterations")
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(evals, [4, 8, 12]);
}
