//! The preprocessing and augmentation layers against golden outputs of real Keras 3.15.1
//! on TensorFlow (generator: `golden/augment/make_aug_golden.py`, notes in `SPEC.md`).
//! Random layers are made deterministic the way the generator made them: degenerate
//! factor ranges such as `RandomRotation((0.25, 0.25))`.

use rkeras::layers::{full_config, FactorArg, Layer};
use rkeras::prelude::*;
use rkeras_kernels::image::{affine_transform, affine_transform_to, Fill, ImageRef, Interpolation};
use serde_json::Value;

fn golden() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/augment/aug_golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden")).expect("json")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn dims(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|x| x.as_u64().expect("dim") as usize)
        .collect()
}

fn factor(v: &Value) -> FactorArg {
    match v {
        Value::Array(a) => FactorArg::Pair(a[0].as_f64().expect("n"), a[1].as_f64().expect("n")),
        other => FactorArg::Scalar(other.as_f64().expect("n")),
    }
}

fn s<'a>(k: &'a Value, key: &str, default: &'a str) -> &'a str {
    k[key].as_str().unwrap_or(default)
}

fn f(k: &Value, key: &str, default: f64) -> f64 {
    k[key].as_f64().unwrap_or(default)
}

/// The layer a golden case describes.
fn make(layer: &str, k: &Value) -> Box<dyn Layer> {
    let seed = k["seed"].as_u64();
    match layer {
        "RandomRotation" => {
            let mut l = RandomRotation::new(factor(&k["factor"]))
                .fill_mode(s(k, "fill_mode", "reflect"))
                .interpolation(s(k, "interpolation", "bilinear"))
                .fill_value(f(k, "fill_value", 0.0));
            if let Some(sd) = seed {
                l = l.seed(sd);
            }
            l.into()
        }
        "RandomZoom" => {
            let mut l = RandomZoom::new(factor(&k["height_factor"]))
                .fill_mode(s(k, "fill_mode", "reflect"))
                .interpolation(s(k, "interpolation", "bilinear"))
                .fill_value(f(k, "fill_value", 0.0));
            if !k["width_factor"].is_null() {
                l = l.width_factor(factor(&k["width_factor"]));
            }
            if let Some(sd) = seed {
                l = l.seed(sd);
            }
            l.into()
        }
        "RandomTranslation" => {
            let mut l =
                RandomTranslation::new(factor(&k["height_factor"]), factor(&k["width_factor"]))
                    .fill_mode(s(k, "fill_mode", "reflect"))
                    .interpolation(s(k, "interpolation", "bilinear"))
                    .fill_value(f(k, "fill_value", 0.0));
            if let Some(sd) = seed {
                l = l.seed(sd);
            }
            l.into()
        }
        "RandomContrast" => {
            let mut l = RandomContrast::new(factor(&k["factor"]));
            if let Some(v) = k["value_range"].as_array() {
                l = l.value_range((v[0].as_f64().expect("n"), v[1].as_f64().expect("n")));
            }
            if let Some(sd) = seed {
                l = l.seed(sd);
            }
            l.into()
        }
        "RandomBrightness" => {
            let mut l = RandomBrightness::new(factor(&k["factor"]));
            if let Some(v) = k["value_range"].as_array() {
                l = l.value_range((v[0].as_f64().expect("n"), v[1].as_f64().expect("n")));
            }
            if let Some(sd) = seed {
                l = l.seed(sd);
            }
            l.into()
        }
        "Resizing" => Resizing::new(
            k["height"].as_u64().expect("h") as usize,
            k["width"].as_u64().expect("w") as usize,
        )
        .interpolation(s(k, "interpolation", "bilinear"))
        .crop_to_aspect_ratio(k["crop_to_aspect_ratio"].as_bool().unwrap_or(false))
        .pad_to_aspect_ratio(k["pad_to_aspect_ratio"].as_bool().unwrap_or(false))
        .fill_value(f(k, "fill_value", 0.0))
        .into(),
        "Rescaling" => Rescaling::new(f(k, "scale", 1.0))
            .offset(f(k, "offset", 0.0))
            .into(),
        other => panic!("no constructor for {other}"),
    }
}

/// Runs `layer` on `x` (one image or a batch) in training mode.
fn run(mut layer: Box<dyn Layer>, shape: &[usize], x: &[f32]) -> Vec<f32> {
    let (n, img) = if shape.len() == 4 {
        (shape[0], &shape[1..])
    } else {
        (1, shape)
    };
    if layer.base().name.is_none() {
        layer.base_mut().name = Some("l".into());
    }
    let out = layer
        .build(img, &mut rkeras::rng::Rng::new(1))
        .expect("build");
    layer.allocate(n);
    let mut y = vec![0.0; n * out.iter().product::<usize>()];
    layer.forward(x, &mut y, n, rkeras::layers::Mode::Train);
    y
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: value {i}: {a} vs {b}"
        );
    }
}

fn input(g: &Value, name: &str) -> (Vec<usize>, Vec<f32>) {
    let v = &g["inputs"][name];
    (dims(&v["shape"]), floats(&v["data"]))
}

#[test]
fn fill_modes_map_coordinates_like_tensorflow() {
    let g = golden();
    for p in g["coord_probe"].as_array().expect("probes") {
        let row = floats(&p["row"]);
        let n = row.len();
        let fill = match s(p, "fill_mode", "") {
            "reflect" => Fill::Reflect,
            "wrap" => Fill::Wrap,
            "nearest" => Fill::Nearest,
            _ => Fill::Constant(p["fill_value"].as_f64().expect("fill") as f32),
        };
        let interp = if s(p, "interpolation", "") == "nearest" {
            Interpolation::Nearest
        } else {
            Interpolation::Bilinear
        };
        let count = p["count"].as_u64().expect("count") as usize;
        let t = [0.25, 0.0, -10.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let mut out = vec![0.0; count];
        affine_transform_to(
            ImageRef::new(&row, 1, n, 1),
            &t,
            interp,
            fill,
            (1, count),
            &mut out,
        );
        let what = format!("n={n} {fill:?} {interp:?}");
        assert_close(&out, &floats(&p["output"]), 1e-6, &what);
    }
}

#[test]
fn rotation_zoom_translation_match_keras() {
    let g = golden();
    for case in g["affine_cases"].as_array().expect("cases") {
        let layer = s(case, "layer", "");
        let (shape, x) = input(&g, s(case, "input", ""));
        let want = floats(&case["output"]);
        let what = format!("{layer} {}", case["kwargs"]);
        // The kernel alone, with Keras's own matrix.
        if shape.len() == 3 {
            let m = floats(&case["matrix"]);
            let t: [f32; 8] = m[..8].try_into().expect("8 values");
            let k = &case["kwargs"];
            let fill = match s(k, "fill_mode", "reflect") {
                "reflect" => Fill::Reflect,
                "wrap" => Fill::Wrap,
                "nearest" => Fill::Nearest,
                _ => Fill::Constant(f(k, "fill_value", 0.0) as f32),
            };
            let interp = if s(k, "interpolation", "bilinear") == "nearest" {
                Interpolation::Nearest
            } else {
                Interpolation::Bilinear
            };
            let mut out = vec![0.0; x.len()];
            affine_transform(
                ImageRef::new(&x, shape[0], shape[1], shape[2]),
                &t,
                interp,
                fill,
                &mut out,
            );
            assert_close(&out, &want, 1e-5, &format!("kernel {what}"));
        }
        // The layer: its own matrix from the degenerate range.
        let got = run(make(layer, &case["kwargs"]), &shape, &x);
        assert_close(&got, &want, 1e-4, &what);
    }
}

#[test]
fn resizing_crops_and_rescaling_match_keras() {
    let g = golden();
    for case in g["resize_cases"].as_array().expect("cases") {
        let (shape, x) = input(&g, s(case, "input", ""));
        if case["kwargs"]["antialias"].as_bool() == Some(true) {
            continue; // not implemented (rejected with an error)
        }
        let got = run(make("Resizing", &case["kwargs"]), &shape, &x);
        assert_close(
            &got,
            &floats(&case["output"]),
            1e-4,
            &format!("Resizing {}", case["kwargs"]),
        );
    }
    for case in g["center_crop_cases"].as_array().expect("cases") {
        let (shape, x) = input(&g, s(case, "input", ""));
        let (h, w) = (
            case["height"].as_u64().expect("h") as usize,
            case["width"].as_u64().expect("w") as usize,
        );
        let got = run(CenterCrop::new(h, w).into(), &shape, &x);
        assert_close(
            &got,
            &floats(&case["output"]),
            1e-4,
            &format!("CenterCrop {h}x{w}"),
        );
    }
    for case in g["random_crop_cases"].as_array().expect("cases") {
        let (shape, x) = input(&g, s(case, "input", ""));
        let (h, w) = (
            case["height"].as_u64().expect("h") as usize,
            case["width"].as_u64().expect("w") as usize,
        );
        let (ih, iw) = (shape[shape.len() - 3], shape[shape.len() - 2]);
        if ih > h && iw > w {
            continue; // random window: checked by the unit tests
        }
        let got = run(RandomCrop::new(h, w).into(), &shape, &x);
        assert_close(
            &got,
            &floats(&case["output"]),
            1e-4,
            &format!("RandomCrop {h}x{w}"),
        );
    }
    for case in g["rescaling_cases"].as_array().expect("cases") {
        let (shape, x) = input(&g, s(case, "input", ""));
        let got = run(make("Rescaling", &case["kwargs"]), &shape, &x);
        assert_close(&got, &floats(&case["output"]), 1e-6, "Rescaling");
    }
}

#[test]
fn contrast_and_brightness_match_keras() {
    let g = golden();
    let mut checked = 0;
    for case in g["color_cases"].as_array().expect("cases") {
        if !s(case, "via", "").starts_with("layer call") {
            continue; // k < 1 cannot be made degenerate in Keras; see the unit tests
        }
        let (shape, x) = input(&g, s(case, "input", ""));
        let got = run(make(s(case, "layer", ""), &case["kwargs"]), &shape, &x);
        assert_close(
            &got,
            &floats(&case["output"]),
            1e-4,
            &format!("{} {}", case["layer"], case["kwargs"]),
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} colour cases checked");
}

#[test]
fn flips_match_keras() {
    let g = golden();
    let (shape, x) = input(&g, "batch");
    let per: usize = shape[1..].iter().product();
    let [h, w, c] = [shape[1], shape[2], shape[3]];
    for case in g["flip_cases"].as_array().expect("cases") {
        let mode = s(case, "mode", "");
        let want = floats(&case["output"]);
        for (i, flip) in case["flips"].as_array().expect("flips").iter().enumerate() {
            let img = &x[i * per..(i + 1) * per];
            let (fh, fv) = match (mode, flip.as_bool() == Some(true)) {
                (_, false) => (false, false),
                ("horizontal", true) => (true, false),
                ("vertical", true) => (false, true),
                _ => (true, true),
            };
            let op =
                rkeras::preprocessing::RandomOp::Flip(rkeras::preprocessing::FlipMode::Horizontal);
            let mut out = vec![0.0; per];
            op.apply(
                &rkeras::preprocessing::Sampled::Flip(fh, fv),
                img,
                &mut out,
                [h, w, c],
            );
            assert_close(
                &out,
                &want[i * per..(i + 1) * per],
                0.0,
                &format!("flip {mode} {i}"),
            );
        }
    }
}

#[test]
fn configs_match_keras() {
    let g = golden();
    for case in g["configs"].as_array().expect("configs") {
        let layer = s(case, "layer", "");
        let k = &case["kwargs"];
        let mut l: Box<dyn Layer> = match layer {
            "RandomFlip" => {
                let mut l = RandomFlip::new(s(k, "mode", "horizontal_and_vertical"));
                if let Some(seed) = k["seed"].as_u64() {
                    l = l.seed(seed);
                }
                l.into()
            }
            "CenterCrop" => CenterCrop::new(
                k["height"].as_u64().expect("h") as usize,
                k["width"].as_u64().expect("w") as usize,
            )
            .into(),
            "RandomCrop" => RandomCrop::new(
                k["height"].as_u64().expect("h") as usize,
                k["width"].as_u64().expect("w") as usize,
            )
            .seed(k["seed"].as_u64().expect("seed"))
            .into(),
            "Resizing" if k["antialias"].as_u64() == Some(1) => continue,
            other => make(other, k),
        };
        l.base_mut().name = Some("l".into());
        let _ = l.build(&[6, 6, 2], &mut rkeras::rng::Rng::new(0));
        let got = serde_json::to_string(&full_config(l.as_ref())).expect("json");
        let want: Value = serde_json::from_str(s(case, "config_json", "")).expect("config json");
        let got: Value = serde_json::from_str(&got).expect("ours");
        assert_eq!(
            serde_json::to_string(&got).expect("a"),
            serde_json::to_string(&want).expect("b"),
            "{layer} {k}"
        );
    }
}

/// A Keras Sequential model with RandomShear, RandomPerspective, RandomErasing and
/// RandomGaussianBlur before a Conv2D (generator: `golden/augment/make_geometry_golden.py`)
/// loads from Keras's `.keras` file, predicts as Keras in inference (the augmentation layers
/// are the identity there) and writes each augmentation layer's config as Keras did.
#[test]
fn geometry_layers_load_from_keras_and_predict_as_keras() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/augment");
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("geometry_golden.json")).expect("golden"),
    )
    .expect("json");
    let x = Tensor::new(dims(&g["input"]["shape"]), floats(&g["input"]["data"])).expect("x");
    let want = floats(&g["output"]["data"]);
    let mut m = rkeras::saving::load_model(dir.join("geometry.keras")).expect("Keras's .keras");
    let y = m.predict(&x).expect("predict");
    assert_eq!(y.shape(), &dims(&g["output"]["shape"])[..]);
    assert_close(y.data(), &want, 1e-5, "inference prediction");
    for class in [
        "RandomShear",
        "RandomPerspective",
        "RandomErasing",
        "RandomGaussianBlur",
    ] {
        let layer = m
            .layers()
            .iter()
            .find(|l| l.class_name() == class)
            .unwrap_or_else(|| panic!("{class} loaded"));
        let ours = full_config(layer.as_ref());
        for (k, v) in g["configs"][class].as_object().expect("config") {
            assert_eq!(&ours[k], v, "{class}.{k}");
        }
    }
    // Training runs through the four (their backward passes), and stays finite.
    m.compile(SGD::new().learning_rate(0.01), "mse", &[])
        .expect("compile");
    let target = Tensor::new(y.shape().to_vec(), vec![0.5; y.data().len()]).expect("target");
    let h = m
        .fit(&x, &target)
        .epochs(3)
        .batch_size(2)
        .verbose(0)
        .run()
        .expect("fit");
    let loss = h.get("loss").expect("loss");
    assert!(loss.iter().all(|l| l.is_finite()), "{loss:?}");
}
