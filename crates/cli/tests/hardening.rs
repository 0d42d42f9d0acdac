//! Hostile sizes, lost models and silent nonsense, end to end through the binary: each case
//! is an error with a clear message and a non-zero exit (never an abort or a hang), or it
//! works and says what it did.

mod common;
use common::{rkeras, temp_dir, text, tiny_dataset, tiny_folder};
use std::path::Path;
use std::process::Output;

/// Exit code, stdout and stderr, for assertion messages.
fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The temporary files rkeras's atomic writes leave when something goes wrong.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".rkeras-tmp") || n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// The rescue file an error message names.
fn rescued(stderr: &str) -> std::path::PathBuf {
    let start = stderr
        .find("saved to ")
        .expect("a rescue file in the message")
        + 9;
    let tail = &stderr[start..];
    let end = tail.find(".keras").expect("a .keras path") + ".keras".len();
    std::path::PathBuf::from(&tail[..end])
}

#[test]
fn hostile_sizes_are_errors_that_name_the_value_not_aborts() {
    let dir = temp_dir("sizes");
    // A Keras config whose input is 100000 x 100000 x 3: the first Conv2D's output alone
    // would need more memory than any machine has.
    let config = r#"{"class_name": "Sequential", "config": {"name": "huge", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 100000, 100000, 3], "name": "input_layer"}},
        {"class_name": "Conv2D", "config": {"name": "conv2d", "filters": 32, "kernel_size": [3, 3], "activation": "relu"}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10}}]}}"#;
    let huge = dir.join("huge.json");
    std::fs::write(&huge, config).expect("config");
    let h = huge.to_string_lossy().into_owned();
    let out = rkeras(&["summary", &h]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("needs") && err.contains("memory limit"),
        "{err}"
    );
    assert!(err.contains("(None, 100000, 100000, 3)"), "{err}");

    tiny_folder(&dir.join("imgs"), 8);
    let imgs = dir.join("imgs").to_string_lossy().into_owned();
    let o = dir.join("out").to_string_lossy().into_owned();
    for (args, expect) in [
        (
            vec!["summary", "--line-length", "100000000000"],
            "--line-length must be between 20 and 10000",
        ),
        (
            vec!["train", &imgs, "--image-size", "100000"],
            "each side must be at most 16384",
        ),
        (
            vec![
                "export",
                "--dataset",
                "shapes",
                "--size",
                "100000",
                "--output",
                &o,
            ],
            "--size between 8 and 16384",
        ),
        (
            vec!["train", &imgs, "--threads", "100000"],
            "--threads 100000 is more than",
        ),
        (vec!["demo", "--samples", "100000000000"], "needs"),
        (
            vec!["bench", "w1", "--epochs", "1"],
            "must be at least 2: the first epoch is a warm-up",
        ),
    ] {
        let out = rkeras(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", show(&out));
        assert!(
            text(&out.stderr).contains(expect),
            "{args:?}: {}",
            show(&out)
        );
    }
    // Within the flag's bounds but past the machine: the loader's buffers are checked.
    let out = rkeras(&[
        "train",
        &imgs,
        "--image-size",
        "16000",
        "--batch-size",
        "64",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("image_size=(16000, 16000)"),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs of `kib` KiB mounted at `dir` (unmounted on drop): a real full disk.
struct SmallDisk(std::path::PathBuf);
impl SmallDisk {
    fn mount(dir: &Path, kib: usize) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mounting a small tmpfs needs root (as in CI)");
        SmallDisk(dir.to_path_buf())
    }
}
impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_never_loses_the_trained_model() {
    let dir = temp_dir("disk-full");
    tiny_dataset(&dir);
    let d = dir.to_string_lossy().into_owned();
    let disk = SmallDisk::mount(&dir.join("small"), 64);
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data-dir",
            &d,
            "--model",
            "mnist-convnet",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--verbose",
            "0",
        ];
        args.extend_from_slice(extra);
        rkeras(&args)
    };

    // The final save fails: the model goes to a rescue file the message names, exit 2.
    let full = disk.0.join("final.keras").to_string_lossy().into_owned();
    let out = train(&["--output", &full]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("the trained model is saved to"), "{err}");
    let rescue = rescued(&err);
    let loaded = rkeras(&["summary", &rescue.to_string_lossy()]);
    assert!(loaded.status.success(), "{}", show(&loaded));
    let _ = std::fs::remove_file(&rescue);
    assert!(
        temporaries(&disk.0).is_empty(),
        "{:?}",
        temporaries(&disk.0)
    );

    // A checkpoint that cannot be written stops training with an error (as Keras raises).
    let ckpt = disk.0.join("ckpt.keras").to_string_lossy().into_owned();
    let out = train(&["--checkpoint", &ckpt]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("ModelCheckpoint could not save"), "{err}");
    assert!(
        err.contains("the model as trained so far is saved to"),
        "{err}"
    );
    let _ = std::fs::remove_file(rescued(&err));
    assert!(
        temporaries(&disk.0).is_empty(),
        "{:?}",
        temporaries(&disk.0)
    );

    // ... unless asked to go on: a warning per failed save, and the run completes.
    let out = train(&["--checkpoint", &ckpt, "--checkpoint-continue-on-error"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("training goes on"),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stdout).contains("Test accuracy"),
        "{}",
        show(&out)
    );

    // A folder that cannot be created fails the same way, on any machine.
    std::fs::write(dir.join("file"), b"x").expect("file");
    let blocked = dir
        .join("file")
        .join("m.keras")
        .to_string_lossy()
        .into_owned();
    let out = train(&["--output", &blocked]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let _ = std::fs::remove_file(rescued(&text(&out.stderr)));
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_runs_checkpointing_to_one_file_both_finish() {
    let dir = temp_dir("concurrent-ckpt");
    tiny_dataset(&dir);
    let d = dir.to_string_lossy().into_owned();
    let ckpt = dir.join("ckpt.keras").to_string_lossy().into_owned();
    let args = [
        "train",
        "--data-dir",
        &d,
        "--model",
        "mnist-convnet",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--verbose",
        "0",
        "--checkpoint",
        &ckpt,
        "--save-freq",
        "1",
        "--threads",
        "1",
    ];
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rkeras"))
            .args(args)
            .env_remove("RKERAS_FASHION_MNIST")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", show(&out));
        assert!(
            text(&out.stdout).contains("Test accuracy"),
            "{}",
            show(&out)
        );
    }
    assert!(rkeras(&["summary", &ckpt]).status.success());
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replaces one PNG of `dir` by a copy whose compressed data is damaged but whose header and
/// end marker are intact: it passes the up-front check and fails only when decoded.
fn damage_one_png(dir: &Path) -> std::path::PathBuf {
    let class = dir.join("ne");
    let mut files: Vec<_> = std::fs::read_dir(&class)
        .expect("class folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let victim = files[0].clone();
    let bytes = std::fs::read(&victim).expect("png");
    let idat = bytes
        .windows(4)
        .position(|w| w == b"IDAT")
        .expect("an IDAT chunk");
    let mut bad = bytes[..idat + 4].to_vec();
    bad.extend(std::iter::repeat_n(0xFFu8, 12));
    bad.extend(&bytes[idat + 16..]);
    std::fs::write(&victim, bad).expect("damaged png");
    victim
}

#[test]
fn skip_bad_files_skips_late_decode_failures_on_train_evaluate_and_predict() {
    let dir = temp_dir("late-decode");
    let data = dir.join("data");
    tiny_folder(&data, 24);
    let victim = damage_one_png(&data);
    let d = data.to_string_lossy().into_owned();
    let check = rkeras(&[
        "data",
        &d,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
    ]);
    assert!(
        check.status.success(),
        "the damage passes the up-front check: {}",
        show(&check)
    );
    let model = dir.join("m.keras").to_string_lossy().into_owned();
    let train = |extra: &[&str]| {
        let mut args = vec![
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
            "--batch-size",
            "8",
            "--verbose",
            "0",
            "--validation-split",
            "0",
            "--output",
            &model,
        ];
        args.extend_from_slice(extra);
        rkeras(&args)
    };
    let out = train(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("--skip-bad-files"),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_file(rescued(&text(&out.stderr)));

    let out = train(&["--skip-bad-files"]);
    assert!(out.status.success(), "{}", show(&out));
    let so = text(&out.stdout);
    assert!(
        so.contains("Skipped 1 file that could not be decoded"),
        "{so}"
    );
    assert!(so.contains(&victim.to_string_lossy().into_owned()), "{so}");

    let out = rkeras(&["evaluate", &model, &d]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("--skip-bad-files"),
        "{}",
        show(&out)
    );
    let out = rkeras(&["evaluate", &model, &d, "--skip-bad-files"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("loss: "), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("Skipped 1 file"),
        "{}",
        show(&out)
    );

    // predict: the bad image is reported, the good one still predicted, with the class
    // names the model was trained with.
    let good = data
        .join("sw")
        .read_dir()
        .expect("sw")
        .flatten()
        .next()
        .expect("file")
        .path();
    let (v, g) = (
        victim.to_string_lossy().into_owned(),
        good.to_string_lossy().into_owned(),
    );
    let out = rkeras(&["predict", &model, &v, &g]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let so = text(&out.stdout);
    assert!(so.starts_with(&format!("{g}: ")), "{so}");
    assert!(
        ["ne ", "nw ", "se ", "sw "].iter().any(|c| so.contains(c)),
        "class names: {so}"
    );
    assert!(
        text(&out.stderr).contains("1 of 2 images could not be read"),
        "{}",
        show(&out)
    );
    let out = rkeras(&["predict", &model, &v, &g, "--skip-bad-files", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        json[0]["error"].is_string() && json[1]["top"].is_array(),
        "{json}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn folder_papercuts() {
    let dir = temp_dir("papercuts");
    let data = dir.join("data");
    tiny_folder(&data, 40);
    let d = data.to_string_lossy().into_owned();
    let base = [
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
        "2",
        "--validation-split",
        "0",
    ];
    // --limit limits a folder too.
    let mut args = base.to_vec();
    args.extend(["--limit", "12"]);
    let out = rkeras(&args);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("training: 12 files"),
        "{}",
        show(&out)
    );
    // --lr is the learning rate (Keras's old name), not a typo of --color-mode.
    let mut args = base.to_vec();
    args.extend(["--lr", "0.01", "--optimizer", "sgd"]);
    assert!(rkeras(&args).status.success());

    // One class folder: an error that says how to frame a one-class problem.
    let one = dir.join("one");
    std::fs::create_dir_all(&one).expect("one");
    std::fs::rename(data.join("ne"), one.join("ne")).expect("move");
    let o = one.to_string_lossy().into_owned();
    let out = rkeras(&[
        "train",
        &o,
        "--image-size",
        "16",
        "--color-mode",
        "grayscale",
        "--validation-split",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("a classifier needs at least two"),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn predict_papercuts() {
    let dir = temp_dir("predict-papercuts");
    let mut m = rkeras::Sequential::new([rkeras::layers::Dense::new(3)
        .activation("softmax")
        .input_shape(2)
        .into()])
    .expect("model");
    let model = dir.join("m.keras");
    m.save(&model).expect("save");
    let x = rkeras::Tensor::new(vec![2, 2], vec![0.0, 1.0, 2.0, 3.0]).expect("x");
    let xp = dir.join("x.npy");
    rkeras::data::write_npy(&xp, &x).expect("npy");
    let (mp, xs) = (
        model.to_string_lossy().into_owned(),
        xp.to_string_lossy().into_owned(),
    );
    // Writing the predictions over the input (or the model) is refused before any work.
    let same = dir.join(".").join("x.npy").to_string_lossy().into_owned();
    let out = rkeras(&["predict", &mp, "--input", &xs, "--output", &same]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("is --input"), "{}", show(&out));
    assert_eq!(
        rkeras::data::read_npy(&xp).expect("input intact").data(),
        x.data()
    );

    // Class names from a folder that does not match: the error names --classes-from.
    let img_model = dir.join("img.keras");
    let im = rkeras::Sequential::new([
        rkeras::layers::Flatten::new()
            .input_shape((16, 16, 1))
            .into(),
        rkeras::layers::Dense::new(3).activation("softmax").into(),
    ])
    .expect("model");
    im.save(&img_model).expect("save");
    tiny_folder(&dir.join("four"), 4);
    let img = dir
        .join("four")
        .join("ne")
        .read_dir()
        .expect("ne")
        .flatten()
        .next()
        .expect("f")
        .path();
    let out = rkeras(&[
        "predict",
        &img_model.to_string_lossy(),
        &img.to_string_lossy(),
        "--classes-from",
        &dir.join("four").to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("--classes-from"),
        "{}",
        show(&out)
    );
    assert!(
        !text(&out.stderr).contains("--class-names"),
        "{}",
        show(&out)
    );

    // A model whose weights are NaN: predictions come with a warning naming the layer.
    let mut w = m.get_weights();
    w[0] = rkeras::Tensor::new(vec![2, 3], vec![f32::NAN; 6]).expect("nan");
    m.set_weights(&w).expect("set");
    let nan = dir.join("nan.keras");
    m.save(&nan).expect("save");
    let y = dir.join("y.npy").to_string_lossy().into_owned();
    let out = rkeras(&[
        "predict",
        &nan.to_string_lossy(),
        "--input",
        &xs,
        "--output",
        &y,
    ]);
    let err = text(&out.stderr);
    assert!(
        err.contains("layer \"dense\"") && err.contains("NaN"),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_keras_config_with_its_own_rescaling_gets_raw_pixels() {
    let dir = temp_dir("own-rescaling");
    tiny_dataset(&dir);
    let config = r#"{"class_name": "Sequential", "config": {"name": "rescaled", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1], "name": "input_layer"}},
        {"class_name": "Rescaling", "config": {"name": "rescaling", "scale": 0.00392156862745098, "offset": 0.0}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax"}}]}}"#;
    let json = dir.join("rescaled.json");
    std::fs::write(&json, config).expect("config");
    let out = rkeras(&[
        "train",
        "--data-dir",
        &dir.to_string_lossy(),
        "--model",
        &json.to_string_lossy(),
        "--epochs",
        "8",
        "--batch-size",
        "16",
        "--learning-rate",
        "0.01",
        "--verbose",
        "0",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let so = text(&out.stdout);
    assert!(so.contains("pixels go in as 0..255"), "{so}");
    // Scaled once, the squares are easy; scaled twice (inputs near 0), they were not.
    let acc: f64 = so
        .lines()
        .find_map(|l| l.strip_prefix("Test accuracy: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("test accuracy");
    assert!(acc > 0.9, "{so}");
    let _ = std::fs::remove_dir_all(&dir);
}
