//! `image_dataset_from_directory` against golden files made by real Keras 3.15.1 on
//! TensorFlow (generator: `golden/data/make_data_golden.py`): indexing order, numpy shuffle
//! and split, messages and errors, label encodings, and the decoded and resized pixels.
//! Plus the bad-input cases: corrupt, truncated, empty and mislabelled files, odd layouts.

use rkeras::data::{image_dataset_from_directory, ImageDataset, Labels};
use serde_json::Value;
use std::path::Path;

fn golden(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/data")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("golden file");
    serde_json::from_str(&text).expect("golden json")
}

mod common;
use common::TempDir;

/// Writes the golden tree: tiny images with pixels `(seed*37 + y*11 + x*5 + c*71) % 256`.
fn make_tree(root: &Path, tree: &Value) {
    for e in tree.as_array().expect("tree") {
        let rel = e["path"].as_str().expect("path");
        let path = root.join(rel);
        let kind = e["kind"].as_str().expect("kind");
        if kind == "dir" {
            std::fs::create_dir_all(&path).expect("dir");
            continue;
        }
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        let seed = e["seed"].as_u64().expect("seed") as usize;
        if kind == "txt" {
            std::fs::write(&path, format!("not an image {seed}")).expect("txt");
            continue;
        }
        let (h, w) = (
            e["h"].as_u64().expect("h") as u32,
            e["w"].as_u64().expect("w") as u32,
        );
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v =
                |c: usize| ((seed * 37 + y as usize * 11 + x as usize * 5 + c * 71) % 256) as u8;
            image::Rgb([v(0), v(1), v(2)])
        });
        let format = match kind {
            "png" => image::ImageFormat::Png,
            "jpg" => image::ImageFormat::Jpeg,
            "bmp" => image::ImageFormat::Bmp,
            "gif" => image::ImageFormat::Gif,
            other => panic!("unknown kind {other}"),
        };
        img.save_with_format(&path, format).expect("save image");
    }
}

fn rel_paths(ds: &ImageDataset, root: &Path) -> Vec<String> {
    ds.file_paths()
        .iter()
        .map(|p| {
            p.strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// A JSON list of strings (`null`, Python's `None`, as an empty list).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map_or(&[][..], |a| a.as_slice())
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_i64().expect("int"))
        .collect()
}

#[test]
fn indexing_shuffle_and_split_match_keras() {
    let g = golden("index_golden.json");
    let dir = TempDir::new("index");
    let root = &dir.0;
    make_tree(root, &g["tree"]);

    let ds = image_dataset_from_directory(root)
        .shuffle(false)
        .load()
        .expect("load");
    assert_eq!(ds.messages(), strings(&g["inferred"]["stdout"]));
    assert_eq!(ds.class_names(), strings(&g["inferred"]["class_names"]));
    assert_eq!(rel_paths(&ds, root), strings(&g["inferred"]["file_paths"]));
    assert_eq!(ds.labels().expect("labels"), ints(&g["inferred"]["labels"]));

    for case in g["shuffled_no_split"].as_array().expect("cases") {
        let seed = case["seed"].as_u64().expect("seed");
        let ds = image_dataset_from_directory(root)
            .seed(seed)
            .verbose(false)
            .load()
            .expect("load");
        assert_eq!(
            rel_paths(&ds, root),
            strings(&case["file_paths"]),
            "seed {seed}"
        );
    }
    for case in g["splits"].as_array().expect("splits") {
        let seed = case["seed"].as_u64().expect("seed");
        let split = case["validation_split"].as_f64().expect("split");
        let (train, val) = image_dataset_from_directory(root)
            .seed(seed)
            .validation_split(split)
            .load_both()
            .expect("load_both");
        assert_eq!(val.messages(), strings(&case["stdout"]));
        assert_eq!(
            rel_paths(&train, root),
            strings(&case["train"]),
            "seed {seed} split {split}"
        );
        assert_eq!(
            rel_paths(&val, root),
            strings(&case["val"]),
            "seed {seed} split {split}"
        );
        assert_eq!(train.labels().expect("labels"), ints(&case["train_labels"]));
        assert_eq!(val.labels().expect("labels"), ints(&case["val_labels"]));
    }
    for case in g["single_subsets"].as_array().expect("subsets") {
        let mut o = image_dataset_from_directory(root)
            .validation_split(case["validation_split"].as_f64().expect("split"));
        o = match case["seed"].as_u64() {
            Some(seed) => o.seed(seed),
            None => o.shuffle(false),
        };
        let subset = case["subset"].as_str().expect("subset");
        if subset == "both" {
            let (t, v) = o.load_both().expect("both");
            assert_eq!(rel_paths(&t, root), strings(&case["train"]));
            assert_eq!(rel_paths(&v, root), strings(&case["val"]));
            assert_eq!(t.messages(), strings(&case["stdout"]));
        } else {
            let ds = o.subset(subset).load().expect("load");
            assert_eq!(rel_paths(&ds, root), strings(&case["file_paths"]));
            assert_eq!(ds.messages(), strings(&case["stdout"]));
        }
    }

    let c = &g["class_names_subset"];
    let ds = image_dataset_from_directory(root)
        .class_names(&strings(&c["class_names_arg"]))
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("subset of classes");
    assert_eq!(ds.class_names(), strings(&c["class_names"]));
    assert_eq!(rel_paths(&ds, root), strings(&c["file_paths"]));

    for key in ["labels_none", "label_mode_none"] {
        let mut o = image_dataset_from_directory(root)
            .shuffle(false)
            .verbose(false);
        o = if key == "labels_none" {
            o.labels(Labels::None)
        } else {
            o.label_mode("none")
        };
        let ds = o.load().expect("no labels");
        assert_eq!(
            rel_paths(&ds, root),
            strings(&g[key]["file_paths"]),
            "{key}"
        );
        assert!(ds.labels().is_none());
    }

    let e = &g["explicit_labels"];
    let ds = image_dataset_from_directory(root)
        .labels(Labels::List(ints(&e["labels_arg"])))
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("explicit labels");
    assert_eq!(ds.class_names(), strings(&e["class_names"]));
    assert_eq!(rel_paths(&ds, root), strings(&e["file_paths"]));
    let es = &g["explicit_labels_shuffled"];
    let ds = image_dataset_from_directory(root)
        .labels(Labels::List(ints(&e["labels_arg"])))
        .seed(es["seed"].as_u64().expect("seed"))
        .verbose(false)
        .load()
        .expect("explicit labels");
    assert_eq!(rel_paths(&ds, root), strings(&es["file_paths"]));
}

#[test]
fn empty_class_folders_still_count_as_classes() {
    let g = golden("index_golden.json");
    let c = &g["empty_class_dir"];
    let dir = TempDir::new("empty-class");
    make_tree(&dir.0, &c["tree"]);
    let ds = image_dataset_from_directory(&dir.0)
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("load");
    assert_eq!(ds.class_names(), strings(&c["class_names"]));
    assert_eq!(rel_paths(&ds, &dir.0), strings(&c["file_paths"]));
}

#[test]
fn numpy_permutations_match() {
    let g = golden("index_golden.json");
    for case in g["permutations"].as_array().expect("perms") {
        let seed = case["seed"].as_u64().expect("seed") as u32;
        let n = case["n"].as_u64().expect("n") as usize;
        let want = ints(case.get("perm").unwrap_or(&case["first50"]));
        let mut v: Vec<i64> = (0..n as i64).collect();
        rkeras::data::numpy_random::shuffle(&mut v, seed);
        assert_eq!(v[..want.len()], want[..], "seed {seed} n {n}");
    }
}

#[test]
fn argument_errors_carry_keras_messages() {
    let g = golden("index_golden.json");
    let dir = TempDir::new("errors");
    let root = &dir.0;
    make_tree(root, &g["tree"]);
    let errs = &g["errors"];
    let msg = |case: &str| {
        errs[case]["message"]
            .as_str()
            .expect("message")
            .replace("{dir}", &root.display().to_string())
    };
    let base = || image_dataset_from_directory(root).verbose(false);
    let check = |r: rkeras::Result<ImageDataset>, case: &str| {
        let e = r.expect_err(case).to_string();
        assert!(e.contains(&msg(case)), "{case}: {e}\nwant: {}", msg(case));
    };
    check(
        base().validation_split(0.2).subset("training").load(),
        "split_shuffle_no_seed",
    );
    check(
        base().subset("training").seed(1).load(),
        "subset_without_split",
    );
    check(
        base().validation_split(0.2).seed(1).load(),
        "split_without_subset",
    );
    check(
        base()
            .validation_split(1.0)
            .subset("training")
            .seed(1)
            .load(),
        "split_out_of_range",
    );
    check(
        base()
            .validation_split(-0.1)
            .subset("training")
            .seed(1)
            .load(),
        "split_negative",
    );
    check(
        base().validation_split(0.2).subset("test").seed(1).load(),
        "subset_invalid",
    );
    check(base().label_mode("binary").load(), "binary_with_3_classes");
    check(
        base().labels(Labels::List(vec![0, 1, 0])).load(),
        "explicit_labels_wrong_length",
    );
    check(
        base().class_names(&["cat", "dog"]).load(),
        "class_names_not_subset",
    );
}

/// Sources of the resize golden, written as PNGs with their own channel count.
fn write_sources(root: &Path, g: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for s in g["sources"].as_array().expect("sources") {
        let file = s["file"].as_str().expect("file");
        let shape: Vec<u32> = s["pixels"]["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().expect("dim") as u32)
            .collect();
        let data: Vec<u8> = s["pixels"]["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|v| v.as_u64().expect("px") as u8)
            .collect();
        let color = match shape[2] {
            1 => image::ExtendedColorType::L8,
            2 => image::ExtendedColorType::La8,
            3 => image::ExtendedColorType::Rgb8,
            _ => image::ExtendedColorType::Rgba8,
        };
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        image::save_buffer_with_format(
            &path,
            &data,
            shape[1],
            shape[0],
            color,
            image::ImageFormat::Png,
        )
        .expect("png");
        names.push(file.to_string());
    }
    names
}

#[test]
fn decoded_and_resized_pixels_match_tensorflow() {
    let g = golden("resize_golden.json");
    let dir = TempDir::new("resize");
    write_sources(&dir.0, &g);
    let mut worst = 0.0f32;
    for case in g["cases"].as_array().expect("cases") {
        let size: Vec<usize> = case["image_size"]
            .as_array()
            .expect("size")
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .collect();
        let mode = case["mode"].as_str().expect("mode");
        let ds = image_dataset_from_directory(&dir.0)
            .labels(Labels::None)
            .shuffle(false)
            .batch_size(None)
            .image_size((size[0], size[1]))
            .color_mode(case["color_mode"].as_str().expect("color"))
            .interpolation(case["interpolation"].as_str().expect("interp"))
            .crop_to_aspect_ratio(mode == "crop")
            .pad_to_aspect_ratio(mode == "pad")
            .verbose(false)
            .load()
            .expect("load");
        let outputs = case["outputs"].as_array().expect("outputs");
        for (i, batch) in ds.in_order().enumerate() {
            let batch = batch.expect("batch");
            let want: Vec<f32> = outputs[i]["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|v| v.as_f64().expect("num") as f32)
                .collect();
            assert_eq!(batch.x.len(), want.len());
            for (k, (a, b)) in batch.x.iter().zip(&want).enumerate() {
                let d = (a - b).abs();
                worst = worst.max(d);
                assert!(d <= 2e-3, "{case}: image {i} value {k}: {a} vs {b}");
            }
        }
    }
    assert!(worst < 2e-3, "worst difference {worst}");
}

#[test]
fn label_encodings_match_keras() {
    let g = golden("labels_golden.json");
    for case in g["cases"].as_array().expect("cases") {
        let dir = TempDir::new("labels");
        make_tree(&dir.0, &g["trees"][case["tree"].as_str().expect("tree")]);
        let mode = case["label_mode"].as_str().unwrap_or("none");
        let ds = image_dataset_from_directory(&dir.0)
            .label_mode(mode)
            .shuffle(false)
            .batch_size(4)
            .image_size((3, 4))
            .load()
            .expect("load");
        assert_eq!(ds.class_names(), strings(&case["class_names"]));
        assert_eq!(rel_paths(&ds, &dir.0), strings(&case["file_paths"]));
        let want: Vec<f32> = case["labels"]
            .as_array()
            .map_or(&[][..], |v| v.as_slice())
            .iter()
            .flat_map(|v| match v {
                Value::Array(a) => a.iter().map(|x| x.as_f64().expect("n") as f32).collect(),
                other => vec![other.as_f64().expect("n") as f32],
            })
            .collect();
        let got: Vec<f32> = ds.in_order().flat_map(|b| b.expect("batch").y).collect();
        assert_eq!(got, want, "{mode}");
        assert_eq!(ds.messages(), strings(&case["stdout"]));
        let sizes: Vec<usize> = ds.in_order().map(|b| b.expect("batch").n).collect();
        let want_sizes: Vec<usize> = case["batched4"]["batch_shapes"]
            .as_array()
            .expect("shapes")
            .iter()
            .map(|b| b["image"][0].as_u64().expect("n") as usize)
            .collect();
        assert_eq!(sizes, want_sizes, "{mode}");
    }
}
