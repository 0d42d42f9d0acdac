//! The `rkeras` binary end to end: outputs, exit codes, and training on a tiny IDX dataset
//! written by the test.

mod common;
use common::{rkeras, temp_dir, text, tiny_dataset, tiny_folder};
use std::path::Path;
use std::process::Command;

#[test]
fn summary_prints_the_keras_table() {
    let out = rkeras(&["summary", "--model", "seed"]);
    assert!(out.status.success());
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rkeras/tests/golden/seed_summary_compiled.txt"
    ))
    .expect("golden");
    assert_eq!(text(&out.stdout), golden);
}

/// `--model NASNetMobile` and `NASNetLarge`: Keras's NASNet cells, the "tf" preprocessing in
/// the model as a `Rescaling`.
#[test]
fn summary_of_nasnet_models() {
    for (model, layer) in [
        ("NASNetMobile", "normal_concat_12"),
        ("nasnetlarge", "normal_concat_18"),
    ] {
        let out = rkeras(&["summary", "--model", model]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let shown = text(&out.stdout);
        assert!(
            shown.contains(layer) && shown.contains("rescaling"),
            "{model}: {shown}"
        );
    }
}

#[test]
fn usage_errors_exit_1_with_a_message() {
    for args in [
        &["summary", "--model", "resnet"][..],
        &["train", "--batch-size", "0"],
        &["train", "--validation-split", "1.5"],
        &["train", "--optimizer", "adamx"],
        &["train", "--verbose", "3"],
        &["bench", "w9"],
        &["bench", "scaling", "--epochs", "0"],
        &["bench", "w1", "--threads", "0"],
        &["bench", "w2", "--regions"],
        &["bench", "w1", "--frozen"],
        &["frobnicate"],
    ] {
        let out = rkeras(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let out = rkeras(&["train", "--optimizer", "adamx"]);
    assert!(
        text(&out.stderr).contains("adam, adamw, sgd, rmsprop"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_dataset_exits_2_and_says_how_to_install() {
    let out = rkeras(&[
        "train",
        "--data-dir",
        "/nonexistent-rkeras-data",
        "--epochs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("apt-get install dataset-fashion-mnist")
            && err.contains("/nonexistent-rkeras-data"),
        "{err}"
    );
}

#[test]
fn train_on_a_tiny_idx_dataset() {
    let dir = temp_dir("train");
    tiny_dataset(&dir);
    let d = dir.to_string_lossy().to_string();
    let out = rkeras(&[
        "train",
        "--data-dir",
        &d,
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--verbose",
        "2",
        "--threads",
        "2",
    ]);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}\n{}", text(&out.stderr));
    assert!(
        so.contains("Model: \"sequential\"") && so.contains("dropout (Dropout)"),
        "{so}"
    );
    assert!(so.contains("Epoch 3/3"), "{so}");
    assert!(
        so.lines()
            .any(|l| l.starts_with("7/7 - ") && l.contains(" - val_loss: ")),
        "{so}"
    );
    let acc: f64 = so
        .lines()
        .find_map(|l| l.strip_prefix("Test accuracy: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("test accuracy line");
    assert!(acc > 0.5, "{so}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_runs_small() {
    let dir = temp_dir("demo");
    let d = dir.to_string_lossy().into_owned();
    let demo = |samples: &str| {
        rkeras(&[
            "demo",
            "--samples",
            samples,
            "--epochs",
            "1",
            "--verbose",
            "0",
            "--data-dir",
            &d,
        ])
    };
    let out = demo("64");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Test accuracy: "));
    // Everything is kept and named; a second run replaces the images instead of mixing.
    assert!(text(&out.stdout).contains(&format!("Saved in {d}")));
    for f in ["model.keras", "best.keras", "history.json", "history.png"] {
        assert!(dir.join(f).is_file(), "{f} kept");
    }
    let count = |split: &str| {
        std::fs::read_dir(dir.join(split))
            .expect("split")
            .flatten()
            .map(|c| std::fs::read_dir(c.path()).expect("class").count())
            .sum::<usize>()
    };
    assert_eq!(count("train"), 64);
    let out = demo("32");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(count("train"), 32);
    // A train/ folder holding someone else's files is left alone.
    std::fs::write(dir.join("train").join("notes.txt"), b"mine").expect("file");
    let out = demo("32");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did not write"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.join("train").join("notes.txt").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_lists_every_file_with_its_split_and_label() {
    let dir = temp_dir("data-list");
    tiny_folder(&dir, 20);
    let d = dir.to_string_lossy().into_owned();
    let out = rkeras(&[
        "data",
        &d,
        "--image-size",
        "16x16",
        "--color-mode",
        "grayscale",
        "--validation-split",
        "0.25",
        "--seed",
        "3",
        "--list",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Found 20 files belonging to 4 classes."),
        "{stdout}"
    );
    assert!(stdout.contains("Using 15 files for training."), "{stdout}");
    assert!(stdout.contains("Using 5 files for validation."), "{stdout}");
    assert!(stdout.contains("Class names: ne, nw, se, sw"), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.matches('\t').count() == 2)
        .collect();
    assert_eq!(rows.len(), 20, "{stdout}");
    assert_eq!(
        rows.iter()
            .filter(|r| r.starts_with("validation\t"))
            .count(),
        5
    );
    for r in &rows {
        let parts: Vec<&str> = r.split('\t').collect();
        // The label is the class folder the file sits in.
        assert!(parts[2].contains(&format!("/{}/", parts[1])), "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_on_a_folder() {
    let dir = temp_dir("train-folder");
    tiny_folder(&dir, 64);
    let d = dir.to_string_lossy().into_owned();
    let out = rkeras(&[
        "train",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "6",
        "--batch-size",
        "8",
        "--verbose",
        "2",
        "--validation-split",
        "0.25",
        "--augment",
        "contrast=0.1",
        "--cache",
        "--learning-rate",
        "0.003",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Found 64 files belonging to 4 classes."),
        "{stdout}"
    );
    assert!(stdout.contains("training: 48 files"), "{stdout}");
    assert!(stdout.contains("rescaling (Rescaling)"), "{stdout}");
    assert!(stdout.contains("Epoch 6/6"), "{stdout}");
    let acc: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Validation accuracy: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("validation accuracy line");
    assert!(acc >= 0.75, "validation accuracy {acc}\n{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn folder_errors_are_clear() {
    let dir = temp_dir("folder-errors");
    let d = dir.to_string_lossy().into_owned();
    // Empty folder: a runtime error explaining the layout.
    let out = rkeras(&["train", &d, "--epochs", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("No images found") && err.contains("one sub-folder per class"),
        "{err}"
    );
    // Bad flag values: usage errors.
    for args in [
        vec!["data", &d, "--image-size", "0x3"],
        vec!["data", &d, "--augment", "blur=2"],
        vec!["data", &d, "--rescale", "1/0"],
        vec!["data", &d, "--color-mode", "cmyk"],
    ] {
        let out = rkeras(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn callbacks_from_flags_write_the_logs() {
    let dir = temp_dir("callbacks");
    tiny_folder(&dir.join("data"), 32);
    let d = dir.join("data").to_string_lossy().into_owned();
    let csv = dir.join("logs/history.csv").to_string_lossy().into_owned();
    let json = dir.join("history.json").to_string_lossy().into_owned();
    let out = rkeras(&[
        "train",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--verbose",
        "0",
        "--validation-split",
        "0.25",
        "--early-stopping",
        "5",
        "--restore-best-weights",
        "--reduce-lr-on-plateau",
        "2",
        "--csv-log",
        &csv,
        "--history",
        &json,
        "--plot",
        &dir.join("history.png").to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(&csv).expect("csv log");
    assert_eq!(
        log.lines().next(),
        Some("epoch,accuracy,loss,val_accuracy,val_loss")
    );
    assert_eq!(log.lines().count(), 4, "{log}");
    let hist = std::fs::read_to_string(&json).expect("history json");
    assert!(hist.starts_with("{\"accuracy\":["), "{hist}");
    assert!(text(&out.stdout).contains("Restoring model weights from the end of the best epoch"));
    let png = std::fs::read(dir.join("history.png")).expect("--plot wrote the PNG");
    assert_eq!(&png[1..4], b"PNG");
    // `rkeras plot` draws the CSV log too, as SVG.
    let svg = dir.join("from-csv.svg").to_string_lossy().into_owned();
    let out = rkeras(&["plot", &csv, "-o", &svg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Plotted 3 epochs"),
        "{}",
        text(&out.stdout)
    );
    let drawn = std::fs::read_to_string(&svg).expect("svg");
    assert!(drawn.contains("val_accuracy") && drawn.contains("Epoch"));
    let out = rkeras(&["plot", &csv, "-o", "plot.jpg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(".png or .svg"));
    let out = rkeras(&["plot", "missing.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.csv"));
    // --restore-best-weights alone is a usage error.
    let out = rkeras(&["train", &d, "--restore-best-weights"]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoints_and_the_final_model_are_keras_files() {
    let dir = temp_dir("checkpoint");
    tiny_folder(&dir.join("data"), 32);
    let d = dir.join("data").to_string_lossy().into_owned();
    let ckpt = dir
        .join("ckpt/m-{epoch:02d}-{val_loss:.2f}.keras")
        .to_string_lossy()
        .into_owned();
    let out_model = dir.join("final.keras").to_string_lossy().into_owned();
    let out = rkeras(&[
        "train",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--verbose",
        "0",
        "--validation-split",
        "0.25",
        "--checkpoint",
        &ckpt,
        "--output",
        &out_model,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved: Vec<String> = std::fs::read_dir(dir.join("ckpt"))
        .expect("ckpt dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(saved.iter().any(|n| n.starts_with("m-01-")), "{saved:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Epoch 1: saving model to"), "{stdout}");
    // The saved model prints its summary.
    let out = rkeras(&["summary", &out_model]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Optimizer params"),
        "{}",
        text(&out.stdout)
    );
    // A checkpoint that is not a model file is a usage error.
    let out = rkeras(&["train", &d, "--checkpoint", "model.weights.h5"]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Weights of a saved model, as raw bits.
fn weight_bits(path: &Path) -> Vec<Vec<u32>> {
    rkeras::saving::load_model(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .get_weights()
        .iter()
        .map(|t| t.data().iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn killed_runs_resume_to_the_same_weights_and_checkpoints_stay_loadable() {
    let dir = temp_dir("sigkill");
    tiny_folder(&dir.join("data"), 96);
    let d = dir.join("data").to_string_lossy().into_owned();
    // Each kill waits for one to three more epochs to be backed up, then at most about one
    // epoch more, so four kills use at most sixteen: the test does not depend on how fast the
    // machine or the build is.
    let epochs = "24";
    let common = [
        "train",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        epochs,
        "--batch-size",
        "8",
        "--verbose",
        "0",
        "--validation-split",
        "0.25",
        "--seed",
        "5",
        "--threads",
        "2",
    ];
    let reference = dir.join("reference.keras").to_string_lossy().into_owned();
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--output", &reference]);
    let started = std::time::Instant::now();
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let epoch_us = started.elapsed().as_micros() as u64 / 24 + 1;

    let backup = dir.join("backup").to_string_lossy().into_owned();
    let ckpt = dir.join("ckpt.keras");
    let ckpt_s = ckpt.to_string_lossy().into_owned();
    let fin = dir.join("final.keras").to_string_lossy().into_owned();
    let mut args: Vec<&str> = common.to_vec();
    args.extend([
        "--resume",
        &backup,
        "--checkpoint",
        &ckpt_s,
        "--output",
        &fin,
    ]);
    // The last completed epoch the backup records, if any.
    let meta = Path::new(&backup).join("training_metadata.json");
    let backed_up = || -> Option<u64> {
        let t = std::fs::read_to_string(&meta).ok()?;
        let v: serde_json::Value = serde_json::from_str(&t).ok()?;
        v.get("epoch")?.as_u64()
    };
    // Kill the run four times, each time after it has backed up one to three more epochs and
    // then run on for a pseudo-random moment (so some kills land while it writes), then let
    // it finish.
    const KILLS: usize = 4;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut kills = 0;
    while kills < KILLS {
        let target = backed_up().map_or(0, |e| e + 1) + next() % 3;
        let extra = std::time::Duration::from_micros(next() % epoch_us);
        let mut child = Command::new(env!("CARGO_BIN_EXE_rkeras"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let finished = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "run failed");
                break true;
            }
            if backed_up().is_some_and(|e| e >= target) {
                std::thread::sleep(extra);
                child.kill().expect("SIGKILL");
                let _ = child.wait();
                kills += 1;
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        // Whatever is on disk after a kill loads.
        if ckpt.exists() {
            weight_bits(&ckpt);
        }
        if finished {
            break;
        }
    }
    eprintln!("interrupted {kills} times");
    assert_eq!(
        kills, KILLS,
        "the run finished before it was killed {KILLS} times"
    );
    if !Path::new(&fin).exists() {
        let out = rkeras(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(
        weight_bits(Path::new(&fin)),
        weight_bits(Path::new(&reference)),
        "after {kills} kills"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn evaluate_and_predict_with_a_saved_model() {
    let dir = temp_dir("infer");
    tiny_folder(&dir.join("data"), 32);
    let d = dir.join("data").to_string_lossy().into_owned();
    let model = dir.join("m.keras").to_string_lossy().into_owned();
    let out = rkeras(&[
        "train",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--validation-split",
        "0",
        "--output",
        &model,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = rkeras(&["evaluate", &model, &d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("loss: ") && text(&out.stdout).contains("accuracy: "));
    let img = dir.join("data/ne/00.png").to_string_lossy().into_owned();
    let out = rkeras(&[
        "predict",
        &model,
        &img,
        "--classes-from",
        &d,
        "--top",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).expect("json");
    assert_eq!(v[0]["top"].as_array().map(Vec::len), Some(2));
    let first = v[0]["top"][0]["class"].as_str().unwrap_or("");
    assert!(["ne", "nw", "se", "sw"].contains(&first), "{v}");
    let out = rkeras(&["predict", &model, "missing.png"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.png"));

    // NumPy arrays in and out give the same probabilities as the image files.
    let files = ["ne/00.png", "nw/01.png"];
    let mut pixels = Vec::new();
    for f in files {
        let p = dir.join("data").join(f);
        pixels.extend(rkeras::data::directory::load_image(&p, (16, 16), 1).expect("image"));
    }
    let x = rkeras::Tensor::new(vec![2, 16, 16, 1], pixels).expect("tensor");
    let xs = dir.join("x.npy");
    rkeras::data::write_npy(&xs, &x).expect("x.npy");
    let ys = dir.join("y.npy");
    let (xs, ys) = (xs.to_string_lossy(), ys.to_string_lossy());
    let out = rkeras(&["predict", &model, "--input", &xs, "--output", &ys]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let y = rkeras::data::read_npy(ys.as_ref()).expect("y.npy");
    assert_eq!(y.shape(), &[2, 4]);
    for (row, f) in files.iter().enumerate() {
        let img = dir.join("data").join(f).to_string_lossy().into_owned();
        let out = rkeras(&["predict", &model, &img, "--top", "4", "--json"]);
        let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).expect("json");
        for entry in v[0]["top"].as_array().expect("top") {
            let i = entry["index"].as_u64().expect("index") as usize;
            let p = entry["probability"].as_f64().expect("probability");
            assert!((y.data()[row * 4 + i] as f64 - p).abs() < 1e-6, "{f}: {v}");
        }
    }
    // A wrong shape names both files; --input without --output is a usage error.
    let out = rkeras(&["predict", &model, "--input", &ys, "--output", &xs]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("takes (batch, 16, 16, 1) arrays"),
        "{}",
        text(&out.stderr)
    );
    let out = rkeras(&["predict", &model, "--input", &xs]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_keras_model_json_trains_on_a_folder_and_is_summarized() {
    let dir = temp_dir("json-model");
    tiny_folder(&dir.join("data"), 32);
    let d = dir.join("data").to_string_lossy().into_owned();
    // What `model.to_json()` gives in Python Keras, trimmed to the keys that matter.
    let json = r#"{"class_name": "Sequential", "config": {"name": "tiny", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 16, 16, 1]}},
        {"class_name": "Rescaling", "config": {"scale": 0.00392156862745098}},
        {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [3, 3]}},
        {"class_name": "BatchNormalization", "config": {"momentum": 0.9}},
        {"class_name": "Activation", "config": {"activation": "relu"}},
        {"class_name": "GlobalAveragePooling2D", "config": {}},
        {"class_name": "Dense", "config": {"units": 4, "activation": "softmax"}}]}}"#;
    let model = dir.join("model.json").to_string_lossy().into_owned();
    std::fs::write(&model, json).expect("model.json");
    let out = rkeras(&["summary", &model]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(BatchNormalization)"));
    assert!(text(&out.stdout).contains("Non-trainable params: 16"));
    let train = |size: &str| {
        rkeras(&[
            "train",
            &d,
            "--model",
            &model,
            "--image-size",
            size,
            "--color-mode",
            "grayscale",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--verbose",
            "0",
        ])
    };
    let out = train("16");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Using the model of"));
    assert!(text(&out.stdout).contains("Validation accuracy: "));
    // Images of another size than the model's input: the error says both.
    let out = train("20");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("[16, 16, 1]") && err.contains("20x20x1"),
        "{err}"
    );
    let out = rkeras(&["train", &d, "--model", "missing.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_saved_model_trains_further_with_its_own_compile_settings() {
    let dir = temp_dir("train-further");
    tiny_folder(&dir.join("data"), 48);
    let d = dir.join("data").to_string_lossy().into_owned();
    let m = dir.join("m.keras").to_string_lossy().into_owned();
    let common = [
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--batch-size",
        "8",
        "--verbose",
        "2",
        "--validation-split",
        "0",
    ];
    let mut args = vec![
        "train",
        d.as_str(),
        "--model",
        "mnist-convnet",
        "--epochs",
        "3",
    ];
    args.extend(common);
    args.extend([
        "--output",
        &m,
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.05",
    ]);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let final_loss = |so: &str| -> f64 {
        so.lines()
            .find_map(|l| l.strip_prefix("Final training loss: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("final loss")
    };
    let first = final_loss(&text(&out.stdout));
    // Training further: the saved SGD and its learning rate are kept, and the weights go on
    // from where they were.
    let m2 = dir.join("m2.keras").to_string_lossy().into_owned();
    let mut args = vec!["train", d.as_str(), "--model", m.as_str(), "--epochs", "1"];
    args.extend(common);
    args.extend(["--output", &m2]);
    let out = rkeras(&args);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        so.contains("saved compile settings (optimizer SGD, learning rate 0.05"),
        "{so}"
    );
    let again = final_loss(&so);
    assert!(again < first * 1.2, "went on from {first}, got {again}");
    // --learning-rate replaces the saved settings.
    let mut args = vec!["train", d.as_str(), "--model", m.as_str(), "--epochs", "1"];
    args.extend(common);
    args.extend(["--learning-rate", "0.001"]);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("saved compile settings"));
    // summary --model takes a saved model too; a weights file is not a model.
    assert!(rkeras(&["summary", "--model", &m]).status.success());
    let out = rkeras(&["train", &d, "--model", "w.weights.h5"]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transfer_learning_flags_freeze_then_fine_tune_the_top() {
    let dir = temp_dir("transfer");
    tiny_folder(&dir.join("data"), 48);
    let d = dir.join("data").to_string_lossy().into_owned();
    let (m, m2) = (
        dir.join("m.keras").to_string_lossy().into_owned(),
        dir.join("m2.keras").to_string_lossy().into_owned(),
    );
    let h = dir.join("h.json").to_string_lossy().into_owned();
    let common = [
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--batch-size",
        "8",
        "--verbose",
        "0",
        "--validation-split",
        "0",
    ];
    let mut args = vec!["train", d.as_str(), "--epochs", "1", "--output", m.as_str()];
    args.extend(common);
    assert!(rkeras(&args).status.success());
    // Phase 1 trains the head only; phase 2 unfreezes from conv2d_1 at a lower rate.
    let mut args = vec![
        "train",
        d.as_str(),
        "--model",
        m.as_str(),
        "--epochs",
        "1",
        "--train-from",
        "dense",
        "--fine-tune-from",
        "conv2d_1",
        "--fine-tune-epochs",
        "2",
        "--optimizer",
        "adam",
        "--output",
        m2.as_str(),
        "--history",
        h.as_str(),
    ];
    args.extend(common);
    let out = rkeras(&args);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(so.contains("the layers before it are frozen"), "{so}");
    assert!(
        so.contains(
            "Fine-tuning the layers from \"conv2d_1\" on for 2 epochs at learning rate 0.00001"
        ),
        "{so}"
    );
    let hist = rkeras::callbacks::History::load(&h).expect("history");
    assert_eq!(hist.epoch, vec![0, 1, 2], "both phases in one history");
    let (a, b) = (
        rkeras::saving::load_model(&m).expect("m"),
        rkeras::saving::load_model(&m2).expect("m2"),
    );
    let w = |model: &rkeras::Model, l: &str| model.get_layer(l).expect(l).params()[0].value.clone();
    assert_eq!(
        w(&a, "conv2d"),
        w(&b, "conv2d"),
        "below conv2d_1: never trained"
    );
    assert_ne!(w(&a, "conv2d_1"), w(&b, "conv2d_1"), "fine-tuned");
    assert_ne!(w(&a, "dense"), w(&b, "dense"), "trained");
    let out = rkeras(&["train", "--fine-tune-from", "conv2d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("are for `train DIR`"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mobilenetv2_from_the_cli_with_weights_and_a_frozen_base() {
    let dir = temp_dir("mnv2");
    let d = dir.join("shapes").to_string_lossy().into_owned();
    let out = rkeras(&[
        "export",
        "--dataset",
        "shapes",
        "--count",
        "24",
        "--size",
        "32",
        "--output",
        &d,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (m, w, m2) = (
        dir.join("m.keras").to_string_lossy().into_owned(),
        dir.join("w.weights.h5").to_string_lossy().into_owned(),
        dir.join("m2.keras").to_string_lossy().into_owned(),
    );
    let common = [
        "--model",
        "mobilenetv2",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--validation-split",
        "0",
        "--verbose",
        "0",
    ];
    let mut args = vec!["train", d.as_str(), "--output", m.as_str()];
    args.extend(common);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("MobileNetV2 preprocesses its inputs itself"));
    let trained = rkeras::saving::load_model(&m).expect("m");
    trained.save_weights(&w).expect("weights");
    // --weights loads them, --freeze-base trains the classifier only.
    let mut args = vec![
        "train",
        d.as_str(),
        "--weights",
        w.as_str(),
        "--freeze-base",
        "--output",
        m2.as_str(),
    ];
    args.extend(common);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tuned = rkeras::saving::load_model(&m2).expect("m2");
    let p = |model: &rkeras::Model, l: &str| model.get_layer(l).expect(l).params()[0].value.clone();
    assert_eq!(
        p(&trained, "Conv1"),
        p(&tuned, "Conv1"),
        "the base is frozen"
    );
    assert_eq!(
        p(&trained, "block_16_project"),
        p(&tuned, "block_16_project")
    );
    assert_ne!(
        p(&trained, "predictions"),
        p(&tuned, "predictions"),
        "the head trains"
    );
    let out = rkeras(&["summary", "--model", "MobileNetV2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("block_16_project_BN"));
    // The ResNet V2 family too.
    let out = rkeras(&["summary", "--model", "ResNet50V2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("conv5_block3_out"));
    // EfficientNet brings its own Rescaling and Normalization.
    let out = rkeras(&["summary", "--model", "EfficientNetB0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("block7a_se_excite") && shown.contains("normalization"));
    let out = rkeras(&["summary", "--model", "MobileNetV3Small"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("logits (Conv2D)"));
    let out = rkeras(&["summary", "--model", "Xception"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("block13_pool"));
    let out = rkeras(&["summary", "--model", "InceptionV3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("mixed9_1"));
    // ConvNeXt normalizes in the model; its stem is a nested Sequential.
    let out = rkeras(&["summary", "--model", "ConvNeXtTiny"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(Sequential)"));
    let out = rkeras(&["summary", "--model", "InceptionResNetV2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("block8_10_conv"));
    // EfficientNetV2 rescales in the model; fused blocks, then MBConv blocks.
    let out = rkeras(&["summary", "--model", "EfficientNetV2B0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("block1a_project_bn") && shown.contains("block6h_dwconv2"));
    // ResNet50's caffe preprocessing goes in the model as Keras's own operations.
    let out = rkeras(&["summary", "--model", "resnet50"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("(Stack)") && shown.contains("conv5_block3_out"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resnet50_from_the_cli_with_caffe_preprocessing_and_weights() {
    let dir = temp_dir("resnet50");
    let d = dir.join("shapes").to_string_lossy().into_owned();
    let out = rkeras(&[
        "export",
        "--dataset",
        "shapes",
        "--count",
        "16",
        "--size",
        "32",
        "--output",
        &d,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (m, w, m2) = (
        dir.join("m.keras").to_string_lossy().into_owned(),
        dir.join("w.weights.h5").to_string_lossy().into_owned(),
        dir.join("m2.keras").to_string_lossy().into_owned(),
    );
    let common = [
        "--model",
        "ResNet50",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--validation-split",
        "0",
        "--verbose",
        "0",
    ];
    let mut args = vec!["train", d.as_str(), "--output", m.as_str()];
    args.extend(common);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("resnet50 preprocesses its inputs itself"));
    let trained = rkeras::saving::load_model(&m).expect("m");
    let classes: Vec<&str> = trained.layers()[..5]
        .iter()
        .map(|l| l.class_name())
        .collect();
    assert_eq!(classes, ["GetItem", "GetItem", "GetItem", "Stack", "Add"]);
    trained.save_weights(&w).expect("weights");
    // --weights loads them, --freeze-base trains the classifier only.
    let mut args = vec![
        "train",
        d.as_str(),
        "--weights",
        w.as_str(),
        "--freeze-base",
        "--output",
        m2.as_str(),
    ];
    args.extend(common);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tuned = rkeras::saving::load_model(&m2).expect("m2");
    let p = |model: &rkeras::Model, l: &str| model.get_layer(l).expect(l).params()[0].value.clone();
    assert_eq!(p(&trained, "conv1_conv"), p(&tuned, "conv1_conv"));
    assert_ne!(p(&trained, "predictions"), p(&tuned, "predictions"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_a_folder_with_class_weights_and_shorter_epochs() {
    let dir = temp_dir("class-weight");
    tiny_folder(&dir, 40);
    let d = dir.to_string_lossy().into_owned();
    let base = [
        "train",
        d.as_str(),
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--validation-split",
        "0.2",
        "--verbose",
        "2",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--class-weight",
        "balanced",
        "--steps-per-epoch",
        "2",
        "--validation-steps",
        "1",
        "--validation-freq",
        "3",
    ]);
    let out = rkeras(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("Class weights (balanced): 0:"), "{stdout}");
    // Two steps an epoch; validation only after the third epoch.
    assert_eq!(stdout.matches("2/2 - ").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("val_loss").count(), 1, "{stdout}");
    for (flag, value, want) in [
        ("--class-weight", "0:1,x", "CLASS:WEIGHT"),
        ("--class-weight", "9:2", "class 9 does not exist"),
        ("--class-weight", "1:-2", "must be finite and >= 0"),
        (
            "--steps-per-epoch",
            "0",
            "--steps-per-epoch must be a positive integer",
        ),
        (
            "--validation-freq",
            "0",
            "--validation-freq must be a positive integer",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        let out = rkeras(&args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{flag} {value}: {all}");
        assert!(all.contains(want), "{flag} {value}: {all}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_with_a_learning_rate_schedule() {
    let dir = temp_dir("lr-schedule");
    tiny_folder(&dir, 32);
    let d = dir.to_string_lossy().into_owned();
    let out_model = dir.join("m.keras");
    let o = out_model.to_string_lossy().into_owned();
    let base = [
        "train",
        d.as_str(),
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--validation-split",
        "0.25",
        "--verbose",
        "2",
        "--learning-rate",
        "0.002",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--lr-schedule",
        "cosine",
        "--warmup-epochs",
        "1",
        "--output",
        o.as_str(),
    ]);
    let out = rkeras(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "Learning rate schedule: CosineDecay (3 steps per epoch): 0.000e0 at the first step"
        ),
        "{stdout}"
    );
    let m = rkeras::saving::load_model(&out_model).expect("saved model");
    let opt = m.optimizer().expect("compiled");
    assert_eq!(opt.iterations(), 9);
    let cfg = opt.config();
    assert_eq!(cfg["config"]["learning_rate"]["class_name"], "CosineDecay");
    assert_eq!(
        cfg["config"]["learning_rate"]["config"]["warmup_target"],
        0.002
    );
    assert_eq!(cfg["config"]["learning_rate"]["config"]["warmup_steps"], 3);
    for (extra, want) in [
        (
            vec!["--lr-schedule", "cosinus"],
            "unknown schedule 'cosinus'",
        ),
        (
            vec!["--warmup-epochs", "1"],
            "--warmup-epochs needs --lr-schedule cosine",
        ),
        (
            vec!["--lr-schedule", "cosine", "--warmup-epochs", "3"],
            "must be fewer than --epochs",
        ),
        (
            vec!["--lr-schedule", "exponential", "--decay-rate", "0"],
            "--decay-rate must be a positive number",
        ),
        (
            vec!["--lr-schedule", "cosine", "--reduce-lr-on-plateau", "2"],
            "not both",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter().copied());
        let out = rkeras(&args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{extra:?}: {all}");
        assert!(all.contains(want), "{extra:?}: {all}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_with_weight_decay_ema_and_gradient_accumulation() {
    let dir = temp_dir("optimizer-options");
    tiny_folder(&dir, 32);
    let d = dir.to_string_lossy().into_owned();
    let out_model = dir.join("m.keras");
    let o = out_model.to_string_lossy().into_owned();
    let base = [
        "train",
        d.as_str(),
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--verbose",
        "0",
        "--optimizer",
        "sgd",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--weight-decay",
        "0.01",
        "--ema-momentum",
        "0.9",
        "--gradient-accumulation-steps",
        "2",
        "--output",
        o.as_str(),
    ]);
    let out = rkeras(&args);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // 32 images, batch 8, 2 epochs: 8 steps, 4 updates; the options are in the file.
    let m = rkeras::saving::load_model(&out_model).expect("saved model");
    let opt = m.optimizer().expect("compiled");
    assert_eq!(opt.iterations(), 4);
    let cfg = opt.config();
    assert_eq!(cfg["config"]["weight_decay"], 0.01);
    assert_eq!(cfg["config"]["use_ema"], true);
    assert_eq!(cfg["config"]["ema_momentum"], 0.9);
    assert_eq!(cfg["config"]["gradient_accumulation_steps"], 2);
    for (extra, want) in [
        (
            vec!["--gradient-accumulation-steps", "1"],
            "gradient_accumulation_steps",
        ),
        (vec!["--ema-momentum", "1.5"], "ema_momentum"),
        (vec!["--weight-decay=-1"], "weight_decay"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter().copied());
        let out = rkeras(&args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{extra:?}: {all}");
        assert!(all.contains(want), "{extra:?}: {all}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_with_metrics_then_evaluate_as_json_and_with_a_confusion_matrix() {
    let dir = temp_dir("metrics");
    tiny_folder(&dir, 32);
    let d = dir.to_string_lossy().into_owned();
    let model = dir.join("m.keras");
    let m = model.to_string_lossy().into_owned();
    let out = rkeras(&[
        "train",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--model",
        "mnist-convnet",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--verbose",
        "2",
        "--metrics",
        "precision,recall,auc,f1,f1_score",
        "--output",
        &m,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("val_auc: "), "{stdout}");
    // Keras's F1Score(), one score per class: the progress line shows their mean.
    assert!(stdout.contains(" - val_f1_score: "), "{stdout}");
    let out = rkeras(&["evaluate", &m, &d, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value =
        serde_json::from_str(text(&out.stdout).trim()).expect("one JSON object");
    for k in ["loss", "accuracy", "precision", "recall", "auc", "f1"] {
        assert!(v[k].is_number(), "{k} in {v}");
    }
    // A JSON array, one score per class (Keras's return_dict holds an array).
    let per_class = v["f1_score"].as_array().expect("f1_score is an array");
    assert!(per_class.len() == 4 && per_class.iter().all(serde_json::Value::is_number));
    let out = rkeras(&["evaluate", &m, &d]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(" - f1_score: ["), "{stdout}");
    assert!(
        stdout.contains("Confusion matrix (rows: true class, columns: predicted):"),
        "{stdout}"
    );
    assert!(stdout.contains("precision  recall  support"), "{stdout}");
    // Eight images a class; the supports say so.
    for class in ["ne", "nw", "se", "sw"] {
        let row = format!("    {class}     ");
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.trim_end().ends_with(" 8"), "{line}");
    }
    let out = rkeras(&["train", &d, "--image-size", "16", "--metrics", "precisionx"]);
    assert!(
        text(&out.stderr).contains("--metrics: Unknown metric"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
