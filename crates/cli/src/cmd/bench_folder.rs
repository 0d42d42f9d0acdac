//! `rkeras bench folder --dir DIR`: the folder pipeline against training. Times the scan
//! (index, check every file, shuffle, split), one pass of decode + resize (+ augmentation)
//! on the loader threads alone, and training the seed CNN from the folder versus from the
//! same images in memory, step for step. Make a folder with
//! `rkeras export --dataset shapes --count 10000 --size 96 --format mixed --output DIR`.

use crate::models::ModelKind;
use anyhow::{Context, Result};
use rkeras::callbacks::{Callback, Control, Logs};
use rkeras::data::image_dataset_from_directory;
use rkeras::prelude::*;
use rkeras::preprocessing::Pipeline;
use std::path::Path;
use std::time::Instant;

const AUGMENT: &str = "flip=horizontal,rotation=0.1,zoom=0.1,contrast=0.2";

/// Step times after `skip` warm-up steps; stops training after `stop` steps.
struct Steps {
    prev: Option<Instant>,
    times: Vec<f64>,
    count: usize,
    skip: usize,
    stop: usize,
}

impl Callback for Steps {
    fn on_epoch_begin(&mut self, _epoch: usize, _model: &mut Model) {
        self.prev = Some(Instant::now());
    }
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _model: &mut Model,
    ) -> rkeras::Result<Control> {
        let now = Instant::now();
        if let Some(p) = self.prev {
            if self.count >= self.skip {
                self.times.push((now - p).as_secs_f64());
            }
        }
        self.prev = Some(now);
        self.count += 1;
        if self.count >= self.stop {
            Ok(Control::Stop)
        } else {
            Ok(Control::Continue)
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn run(dir: &Path, steps: usize) -> Result<()> {
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let ds = image_dataset_from_directory(dir)
        .image_size((64, 64))
        .batch_size(32)
        .seed(1)
        .verbose(false)
        .load()
        .with_context(|| format!("loading {}", dir.display()))?;
    let scan_s = t.elapsed().as_secs_f64();
    let n = ds.len();
    println!(
        "scan: {n} files in {scan_s:.2} s ({:.0} files/s)",
        n as f64 / scan_s
    );

    let pass = |ds: &rkeras::data::ImageDataset| -> Result<f64> {
        let t = Instant::now();
        let mut seen = 0;
        for b in ds.epoch(0) {
            seen += b?.n;
        }
        Ok(seen as f64 / t.elapsed().as_secs_f64())
    };
    let load1 = pass(&ds)?;
    let load2 = pass(&ds.clone().reshuffle_each_epoch(true))?;
    let pipeline = Pipeline::parse(AUGMENT)?;
    let aug = ds.clone().augment(pipeline.clone());
    let load_aug = pass(&aug)?;
    println!("decode+resize: {load1:.0} img/s (second pass {load2:.0}); with augmentation ({AUGMENT}): {load_aug:.0} img/s; 1 loader thread");

    // The first `steps` batches of the epoch, in memory, in the same order.
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for b in ds.epoch(0).take(steps) {
        let b = b?;
        xs.extend_from_slice(&b.x);
        ys.extend_from_slice(&b.y);
    }
    let rows = ys.len();
    let x = Tensor::new(vec![rows, 64, 64, 3], xs)?;
    let y = Tensor::new(vec![rows], ys)?;
    let classes = ds.class_names().len();
    let build = || -> Result<Model> {
        rkeras::set_random_seed(42);
        let mut m =
            ModelKind::Seed.build_for_images((64, 64, 3), 1.0 / 255.0, classes, "softmax")?;
        m.compile(
            Adam::default(),
            "sparse_categorical_crossentropy",
            &["accuracy"],
        )?;
        Ok(m)
    };
    let skip = 3.min(steps / 4);
    let time = |model: &mut Model, folder: Option<&rkeras::data::ImageDataset>| -> Result<f64> {
        let mut st = Steps {
            prev: None,
            times: Vec::new(),
            count: 0,
            skip,
            stop: steps,
        };
        match folder {
            Some(ds) => model
                .fit_dataset(ds)
                .epochs(1)
                .verbose(0)
                .callback(&mut st)
                .run()?,
            None => model
                .fit(&x, &y)
                .epochs(1)
                .batch_size(32)
                .shuffle(false)
                .verbose(0)
                .callback(&mut st)
                .run()?,
        };
        Ok(median(&mut st.times))
    };
    // Rounds alternate the variants so that the machine's drift hits them alike.
    let rounds = 12;
    let (mut mems, mut folders, mut folder_augs, mut mem_augs) = (vec![], vec![], vec![], vec![]);
    // The same augmentation as layers in the model, from memory (Keras's usual set-up).
    let with_layers = || -> Result<Model> {
        rkeras::set_random_seed(42);
        let mut m = Sequential::new([
            InputLayer::new((64, 64, 3)).into(),
            RandomFlip::new("horizontal").into(),
            RandomRotation::new(0.1).into(),
            RandomZoom::new(0.1).into(),
            RandomContrast::new(0.2).into(),
            Rescaling::new(1.0 / 255.0).into(),
            Conv2D::new(32, (3, 3)).activation("relu").into(),
            MaxPooling2D::new((2, 2)).into(),
            Conv2D::new(64, (3, 3)).activation("relu").into(),
            MaxPooling2D::new((2, 2)).into(),
            Conv2D::new(64, (3, 3)).activation("relu").into(),
            Flatten::new().into(),
            Dense::new(classes).activation("softmax").into(),
        ])?;
        m.compile(
            Adam::default(),
            "sparse_categorical_crossentropy",
            &["accuracy"],
        )?;
        Ok(m)
    };
    for _ in 0..rounds {
        mems.push(time(&mut build()?, None)?);
        folders.push(time(&mut build()?, Some(&ds))?);
        folder_augs.push(time(&mut build()?, Some(&aug))?);
        mem_augs.push(time(&mut with_layers()?, None)?);
    }
    let (mem, folder) = (median(&mut mems), median(&mut folders));
    let (folder_aug, mem_aug) = (median(&mut folder_augs), median(&mut mem_augs));
    let pct = |a: f64, b: f64| (a / b - 1.0) * 100.0;
    println!(
        "training the seed CNN, median step time ({rounds} alternating rounds of {steps} steps):"
    );
    println!(
        "  from memory                          {:6.1} ms",
        mem * 1e3
    );
    println!(
        "  from the folder                      {:6.1} ms ({:+.1}%)",
        folder * 1e3,
        pct(folder, mem)
    );
    println!(
        "  memory + augmentation layers         {:6.1} ms ({:+.1}%)",
        mem_aug * 1e3,
        pct(mem_aug, mem)
    );
    println!(
        "  folder + augmentation on the loader  {:6.1} ms ({:+.1}% vs memory, {:+.1}% vs layers)",
        folder_aug * 1e3,
        pct(folder_aug, mem),
        pct(folder_aug, mem_aug)
    );
    println!(
        "RESULT rkeras-{} folder files={n} scan_s={scan_s:.3} load_img_s={load1:.1} load_aug_img_s={load_aug:.1} train_mem_img_s={:.1} train_folder_img_s={:.1} train_folder_aug_img_s={:.1} train_mem_aug_layers_img_s={:.1} folder_slowdown_pct={:.1} threads={threads}",
        env!("CARGO_PKG_VERSION"),
        32.0 / mem,
        32.0 / folder,
        32.0 / folder_aug,
        32.0 / mem_aug,
        pct(folder, mem),
    );
    Ok(())
}
