//! Training, evaluating and predicting from a folder of PNG files, with the loader's
//! guarantees: the folder's pixels are the arrays that were written, the stream is the same
//! for any number of loader threads, with or without the cache, and augmentation is seeded.

use rkeras::data::{export, image_dataset_from_directory, shapes};
use rkeras::prelude::*;
use rkeras::preprocessing::Pipeline;

mod common;
use common::TempDir;

fn shapes_folder(tag: &str, n: usize, size: usize) -> (TempDir, Tensor, Vec<usize>) {
    let dir = TempDir::new(tag);
    let (x, y) = shapes::generate(n, size, 3);
    let labels: Vec<usize> = y.data().iter().map(|v| *v as usize).collect();
    let names: Vec<String> = shapes::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
    export::write_image_folder(&dir.0, &x, &labels, &names, 255.0).expect("export");
    (dir, x, labels)
}

#[test]
fn folder_pixels_are_the_exported_arrays() {
    let (dir, x, labels) = shapes_folder("pixels", 12, 8);
    let ds = image_dataset_from_directory(&dir.0)
        .image_size((8, 8))
        .shuffle(false)
        .batch_size(5)
        .verbose(false)
        .load()
        .expect("load");
    let names: Vec<&str> = shapes::CLASS_NAMES.to_vec();
    let mut sorted_names = names.clone();
    sorted_names.sort_unstable();
    assert_eq!(ds.class_names(), sorted_names);
    // Files are `<class>/<index>.png`: map each back to its row of x.
    let per = 8 * 8 * 3;
    let mut k = 0;
    for batch in ds.in_order() {
        let batch = batch.expect("batch");
        for i in 0..batch.n {
            let path = &ds.file_paths()[k];
            let row: usize = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .expect("index name");
            let class = path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|s| s.to_str())
                .expect("class");
            assert_eq!(names[labels[row]], class);
            assert_eq!(
                batch.y[i] as usize,
                ds.class_names()
                    .iter()
                    .position(|c| c == class)
                    .expect("class index")
            );
            for (a, b) in batch.x[i * per..(i + 1) * per]
                .iter()
                .zip(&x.data()[row * per..(row + 1) * per])
            {
                assert_eq!(*a, (b * 255.0).round());
            }
            k += 1;
        }
    }
    assert_eq!(k, 12);
}

fn collect(ds: &rkeras::data::ImageDataset, epoch: usize) -> Vec<f32> {
    ds.epoch(epoch)
        .flat_map(|b| {
            let b = b.expect("batch");
            b.x.into_iter().chain(b.y)
        })
        .collect()
}

#[test]
fn stream_is_independent_of_threads_and_cache_and_seeded() {
    let (dir, _, _) = shapes_folder("threads", 20, 8);
    let load = |workers: usize, cache: bool| {
        image_dataset_from_directory(&dir.0)
            .image_size((6, 6))
            .batch_size(3)
            .seed(5)
            .workers(workers)
            .cache(cache)
            .verbose(false)
            .load()
            .expect("load")
            .augment(
                Pipeline::parse("flip=horizontal,rotation=0.1,zoom=0.1,contrast=0.2")
                    .expect("augment"),
            )
    };
    let one = collect(&load(1, false), 1);
    assert_eq!(
        one,
        collect(&load(3, false), 1),
        "worker count changed the stream"
    );
    let cached = load(2, true);
    assert_eq!(one, collect(&cached, 1), "cache changed the stream");
    assert_eq!(one, collect(&cached, 1), "second pass over the cache");
    assert_ne!(one, collect(&load(1, false), 2), "epochs should differ");
}

/// Noisy images whose class is their dominant colour: easy to learn, so a few epochs show
/// whether training from the folder works.
fn colour_folder(tag: &str, n: usize, size: usize) -> TempDir {
    let dir = TempDir::new(tag);
    let mut rng = rkeras::rng::Rng::new(9);
    let per = size * size * 3;
    let mut data = Vec::with_capacity(n * per);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 4;
        labels.push(class);
        for _ in 0..size * size {
            for c in 0..3 {
                let base = if class == c || class == 3 { 0.7 } else { 0.2 };
                data.push(base + rng.uniform_range(-0.2, 0.2));
            }
        }
    }
    let x = Tensor::new(vec![n, size, size, 3], data).expect("tensor");
    let names: Vec<String> = ["red", "green", "blue", "white"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    export::write_image_folder(&dir.0, &x, &labels, &names, 255.0).expect("export");
    dir
}

#[test]
fn fit_evaluate_predict_on_a_folder() {
    rkeras::set_random_seed(4);
    let dir = colour_folder("fit", 96, 16);
    let (train, val) = image_dataset_from_directory(&dir.0)
        .image_size((16, 16))
        .batch_size(16)
        .validation_split(0.25)
        .seed(7)
        .verbose(false)
        .load_both()
        .expect("load");
    assert_eq!((train.len(), val.len()), (72, 24));
    let mut model = Sequential::new([
        Rescaling::new(1.0 / 255.0).input_shape((16, 16, 3)).into(),
        RandomFlip::new("horizontal").into(),
        Conv2D::new(8, (3, 3)).activation("relu").into(),
        MaxPooling2D::new((2, 2)).into(),
        Flatten::new().into(),
        Dense::new(4).activation("softmax").into(),
    ])
    .expect("model");
    model
        .compile(
            Adam::new().learning_rate(0.01),
            "sparse_categorical_crossentropy",
            &["accuracy"],
        )
        .expect("compile");
    let history = model
        .fit_dataset(&train)
        .validation_dataset(&val)
        .epochs(8)
        .verbose(0)
        .run()
        .expect("fit");
    let acc = history.get("val_accuracy").expect("val_accuracy");
    assert_eq!(acc.len(), 8);
    assert!(acc[7] > 0.6, "validation accuracy {acc:?}");
    let loss = history.get("loss").expect("loss");
    assert!(loss[7] < loss[0], "loss did not fall: {loss:?}");

    let ev = model.evaluate_dataset(&val).expect("evaluate");
    assert!((ev.get("accuracy").expect("acc") - acc[7]).abs() < 1e-9);
    let p = model.predict_dataset(&val).expect("predict");
    assert_eq!(p.shape(), &[24, 4]);

    // Labels the loss cannot read are an error that says what to change.
    let cat = image_dataset_from_directory(&dir.0)
        .image_size((16, 16))
        .label_mode("categorical")
        .verbose(false)
        .load()
        .expect("load");
    let e = model
        .evaluate_dataset(&cat)
        .expect_err("one-hot labels with a sparse loss")
        .to_string();
    assert!(e.contains("categorical"), "{e}");
    let small = image_dataset_from_directory(&dir.0)
        .image_size((8, 8))
        .verbose(false)
        .load()
        .expect("load");
    let e = model
        .evaluate_dataset(&small)
        .expect_err("wrong image size")
        .to_string();
    assert!(e.contains("image_size"), "{e}");
}

#[test]
fn two_classes_with_int_labels_train_a_sigmoid_unit() {
    // Keras's cats-vs-dogs set-up: default int labels, Dense(1, sigmoid), binary cross-entropy.
    let dir = colour_folder("binary", 32, 8);
    for class in ["blue", "white"] {
        std::fs::remove_dir_all(dir.0.join(class)).expect("drop two classes");
    }
    let ds = image_dataset_from_directory(&dir.0)
        .image_size((8, 8))
        .batch_size(8)
        .verbose(false)
        .load()
        .expect("load");
    assert_eq!(ds.class_names().len(), 2);
    let mut model = Sequential::new([
        Rescaling::new(1.0 / 255.0).input_shape((8, 8, 3)).into(),
        Flatten::new().into(),
        Dense::new(1).activation("sigmoid").into(),
    ])
    .expect("model");
    model
        .compile("adam", "binary_crossentropy", &["accuracy"])
        .expect("compile");
    let h = model
        .fit_dataset(&ds)
        .epochs(3)
        .verbose(0)
        .run()
        .expect("fit");
    assert_eq!(h.epoch.len(), 3);
}

/// A folder dataset feeds a model with two inputs and two outputs through
/// `MappedDataset` (Keras's `dataset.map`): training gives the weights that the same
/// images as arrays give, `predict_batches` over the ordered stream equals `predict`, and
/// a model with several outputs fed the folder directly is refused with the way out.
#[test]
fn a_mapped_folder_feeds_several_inputs_and_outputs() {
    use rkeras::train::MappedDataset;
    let (dir, _, _) = shapes_folder("mapped", 20, 8);
    let ds = image_dataset_from_directory(&dir.0)
        .image_size((8, 8))
        .shuffle(false)
        .batch_size(6)
        .verbose(false)
        .load()
        .expect("load");
    // The folder's images and labels as arrays, in file order.
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for b in ds.in_order() {
        let b = b.expect("batch");
        xs.extend_from_slice(&b.x[..b.n * 8 * 8 * 3]);
        ys.extend_from_slice(&b.y[..b.n]);
    }
    let x = Tensor::new(vec![20, 8, 8, 3], xs).expect("x");
    let y = Tensor::new(vec![20], ys).expect("y");
    let half = Tensor::new(
        vec![20, 8, 8, 3],
        x.data().iter().map(|v| v * 0.5).collect(),
    )
    .expect("half");
    let model = || {
        rkeras::clear_session();
        rkeras::set_random_seed(5);
        let a = Input::new([8, 8, 3]);
        let b = Input::new([8, 8, 3]);
        let fa = Flatten::new()
            .call(&Rescaling::new(1.0 / 255.0).call(&a).expect("ra"))
            .expect("fa");
        let fb = Flatten::new()
            .call(&Rescaling::new(1.0 / 255.0).call(&b).expect("rb"))
            .expect("fb");
        let h = Concatenate::new().call_on(&[&fa, &fb]).expect("cat");
        let main = Dense::new(4)
            .activation("softmax")
            .name("main")
            .call(&h)
            .expect("main");
        let aux = Dense::new(4)
            .activation("softmax")
            .name("aux")
            .call(&fa)
            .expect("aux");
        let mut m = Model::functional([&a, &b], [&main, &aux]).expect("model");
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
            .expect("compile");
        m
    };
    let mut from_arrays = model();
    from_arrays
        .fit([&x, &half], [&y, &y])
        .epochs(2)
        .batch_size(6)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit arrays");
    let mut from_folder = model();
    let map = |x: Tensor, y: Tensor| {
        let half = Tensor::new(
            x.shape().to_vec(),
            x.data().iter().map(|v| v * 0.5).collect(),
        )?;
        Ok((vec![x, half], vec![y.clone(), y]))
    };
    let history = from_folder
        .fit_batches(MappedDataset::new(&ds, map))
        .epochs(2)
        .verbose(0)
        .run()
        .expect("fit folder");
    assert_eq!(history.get("loss").map(<[f64]>::len), Some(2));
    for (a, b) in from_arrays
        .get_weights()
        .iter()
        .zip(from_folder.get_weights())
    {
        assert_eq!(a.data(), b.data());
    }
    let want = from_arrays
        .predict_outputs([&x, &half])
        .expect("predict arrays");
    let mut ordered = MappedDataset::new(&ds, map).ordered();
    let got = from_folder
        .predict_batches(&mut ordered, &mut [])
        .expect("predict folder");
    // predict_batches packs the outputs side by side per row: main's 4 then aux's 4.
    for r in 0..20 {
        assert_eq!(
            &got.data()[r * 8..r * 8 + 4],
            &want[0].data()[r * 4..r * 4 + 4]
        );
        assert_eq!(
            &got.data()[r * 8 + 4..r * 8 + 8],
            &want[1].data()[r * 4..r * 4 + 4]
        );
    }
    let e = from_folder
        .fit_dataset(&ds)
        .epochs(1)
        .verbose(0)
        .run()
        .expect_err("several inputs from a plain folder");
    assert!(e.to_string().contains("MappedDataset"), "{e}");
}
