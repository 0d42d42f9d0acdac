//! `rkeras evaluate MODEL DIR` and `rkeras predict MODEL IMAGE...`: a saved model (`.keras`
//! or `.h5`) on a folder of images or on single image files.

use crate::plan::ClassNames;
use anyhow::{bail, Context, Result};
use rkeras::data::image_dataset_from_directory;
use std::path::{Path, PathBuf};

fn load(model: &Path) -> Result<rkeras::Model> {
    Ok(rkeras::saving::load_model(model)?)
}

/// The model's image input: (height, width, channels).
fn image_input(m: &rkeras::Model, path: &Path) -> Result<(usize, usize, usize)> {
    match m.input_shape() {
        Some([h, w, c]) => Ok((*h, *w, *c)),
        other => bail!(
            "{} takes inputs of shape {other:?}, not images (height, width, channels)",
            path.display()
        ),
    }
}

pub fn evaluate(
    model: &Path,
    dir: &Path,
    batch_size: usize,
    skip_bad_files: bool,
    json: bool,
) -> Result<()> {
    let mut m = load(model)?;
    let (h, w, c) = image_input(&m, model)?;
    let loss = m
        .loss()
        .with_context(|| format!("{} was saved without compile settings", model.display()))?;
    let label_mode = match loss.name() {
        "sparse_categorical_crossentropy" => "int",
        "binary_crossentropy" => "binary",
        _ => "categorical",
    };
    let color = match c {
        1 => "grayscale",
        4 => "rgba",
        _ => "rgb",
    };
    let ds = image_dataset_from_directory(dir)
        .image_size((h, w))
        .color_mode(color)
        .label_mode(label_mode)
        .batch_size(batch_size)
        .shuffle(false)
        .skip_bad_files(skip_bad_files)
        .verbose(!json)
        .load()
        .with_context(|| format!("loading images from {}", dir.display()))?;
    let ev = m.evaluate_dataset(&ds)?;
    if json {
        // A vector-valued metric (Keras's F1Score(), one score per class) is a JSON array.
        let obj: serde_json::Map<String, serde_json::Value> = ev
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let v = match ev.get_vector(n) {
                    Some(x) => serde_json::Value::from(x.to_vec()),
                    None => serde_json::Value::from(ev.values[i]),
                };
                (n.clone(), v)
            })
            .collect();
        println!("{}", serde_json::Value::Object(obj));
        return Ok(());
    }
    super::folder::print_skipped(&ds.skipped_files());
    let parts: Vec<String> = ev
        .names
        .iter()
        .zip(&ev.values)
        .map(|(n, v)| match ev.get_vector(n) {
            Some(x) => {
                let items: Vec<String> = x.iter().map(|x| format!("{x:.4}")).collect();
                format!("{n}: [{}]", items.join(", "))
            }
            None => format!("{n}: {v:.4}"),
        })
        .collect();
    println!("{}", parts.join(" - "));
    let p = m.predict_dataset(&ds)?;
    print_confusion(&ds, &p);
    Ok(())
}

/// The confusion matrix of a folder's predictions (rows: true class, columns: predicted),
/// and each class's precision and recall. One output unit means a binary decision at 0.5.
fn print_confusion(ds: &rkeras::data::ImageDataset, p: &rkeras::Tensor) {
    let names = ds.class_names();
    let k = names.len();
    let Some(labels) = ds.labels() else { return };
    if k < 2 || p.rows() != labels.len() {
        return;
    }
    let width = p.row_len();
    let mut cm = vec![vec![0usize; k]; k];
    for (row, &l) in p.data().chunks(width.max(1)).zip(labels) {
        if row.iter().any(|v| v.is_nan()) {
            continue; // a skipped file
        }
        let (Some(t), pred) = (
            ds.class_index(l),
            if width == 1 {
                usize::from(row[0] > 0.5)
            } else {
                rkeras_kernels::reduce::argmax(row)
            },
        ) else {
            continue;
        };
        if t < k && pred < k {
            cm[t][pred] += 1;
        }
    }
    let w = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i} {n}").chars().count())
        .max()
        .unwrap_or(4)
        .max(6);
    println!("Confusion matrix (rows: true class, columns: predicted):");
    let head: Vec<String> = (0..k).map(|j| format!("{j:>6}")).collect();
    println!("{:>w$} {}", "", head.join(""));
    for (i, row) in cm.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
        println!("{:>w$} {}", format!("{i} {}", names[i]), cells.join(""));
    }
    println!("{:>w$}  precision  recall  support", "class");
    for i in 0..k {
        let tp = cm[i][i] as f64;
        let predicted: usize = cm.iter().map(|r| r[i]).sum();
        let support: usize = cm[i].iter().sum();
        let div = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        println!(
            "{:>w$}  {:>9.4}  {:>6.4}  {:>7}",
            names[i],
            div(tp, predicted),
            div(tp, support),
            support
        );
    }
}

/// `rkeras predict MODEL --input x.npy --output y.npy`: the model's outputs for an array.
pub fn predict_array(model: &Path, input: &Path, output: &Path, batch_size: usize) -> Result<()> {
    let mut m = load(model)?;
    let x = rkeras::data::read_npy(input)?;
    let want = m.input_shape().map(<[usize]>::to_vec).unwrap_or_default();
    if x.shape().len() != want.len() + 1 || x.shape()[1..] != want[..] {
        let dims: Vec<String> = want.iter().map(usize::to_string).collect();
        bail!(
            "{} has shape {:?}, but {} takes (batch, {}) arrays",
            input.display(),
            x.shape(),
            model.display(),
            dims.join(", ")
        );
    }
    let y = m.predict_batched(&x, batch_size)?;
    rkeras::data::write_npy(output, &y)
        .with_context(|| format!("writing the predictions to {}", output.display()))?;
    let dims: Vec<String> = y.shape().iter().map(usize::to_string).collect();
    println!(
        "Wrote predictions of shape ({}) to {}",
        dims.join(", "),
        output.display()
    );
    Ok(())
}

pub fn predict(
    model: &Path,
    images: &[PathBuf],
    class_names: Option<ClassNames>,
    top: usize,
    json: bool,
    skip_bad_files: bool,
) -> Result<()> {
    let mut m = load(model)?;
    let (h, w, c) = image_input(&m, model)?;
    let class_names = class_names.or_else(|| {
        m.class_names().map(|names| ClassNames {
            names: names.to_vec(),
            from: format!("the class names saved in {}", model.display()),
        })
    });
    let name = |i: usize| {
        class_names
            .as_ref()
            .and_then(|n| n.names.get(i).cloned())
            .unwrap_or_else(|| i.to_string())
    };
    let mut all = Vec::new();
    let mut bad: Vec<(PathBuf, String)> = Vec::new();
    // A chunk of images at a time, so memory stays bounded for long lists.
    for chunk in images.chunks(256) {
        let mut data = Vec::with_capacity(chunk.len() * h * w * c);
        let mut good = Vec::with_capacity(chunk.len());
        for p in chunk {
            match rkeras::data::directory::load_image(p, (h, w), c) {
                Ok(pixels) => {
                    data.extend(pixels);
                    good.push(p);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    if json {
                        all.push(serde_json::json!({"file": p.display().to_string(), "error": e.to_string()}));
                    }
                    bad.push((p.clone(), e.to_string()));
                }
            }
        }
        if good.is_empty() {
            continue;
        }
        let x = rkeras::Tensor::new(vec![good.len(), h, w, c], data)?;
        let y = m.predict(&x)?;
        let k = y.row_len();
        if let Some(names) = &class_names {
            if names.names.len() != k {
                bail!(
                    "{} gives {} names but the model has {k} outputs",
                    names.from,
                    names.names.len()
                );
            }
        }
        for (p, row) in good.iter().zip(y.data().chunks(k.max(1))) {
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
            order.truncate(top.max(1));
            if json {
                let best: Vec<serde_json::Value> = order
                    .iter()
                    .map(|&i| serde_json::json!({"class": name(i), "index": i, "probability": row[i]}))
                    .collect();
                all.push(serde_json::json!({"file": p.display().to_string(), "top": best}));
            } else {
                let best: Vec<String> = order
                    .iter()
                    .map(|&i| format!("{} {:.4}", name(i), row[i]))
                    .collect();
                println!("{}: {}", p.display(), best.join(", "));
            }
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(all));
    }
    if !bad.is_empty() && !skip_bad_files {
        bail!(
            "{} of {} images could not be read (the others were predicted; --skip-bad-files makes this exit 0): {}",
            bad.len(),
            images.len(),
            bad.iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !json && !bad.is_empty() {
        eprintln!("Skipped {} unreadable image(s)", bad.len());
    }
    Ok(())
}
