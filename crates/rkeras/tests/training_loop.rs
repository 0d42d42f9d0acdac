//! The one training loop: a user-written `Batches` source and a custom train step drive
//! `fit`, models with 1, 2 and 3 outputs go through the same loop (arrays and a user
//! source train them to the same weights), and every callback hook fires in Keras's order.

use rkeras::callbacks::{Callback, LambdaCallback, Logs, TrainParams};
use rkeras::prelude::*;
use rkeras::train::{BatchMut, Batches, Step};
use std::sync::{Arc, Mutex};

/// Deterministic data: `n` samples of 5 features, and targets for each of `heads` outputs
/// (class indices of 3 classes, then regression values).
fn data(n: usize, heads: usize) -> (Tensor, Vec<Tensor>) {
    let x: Vec<f32> = (0..n * 5)
        .map(|i| ((i * 37 % 17) as f32 / 8.5) - 1.0)
        .collect();
    let mut ys = Vec::new();
    for h in 0..heads {
        if h == 0 {
            ys.push(Tensor::new(vec![n], (0..n).map(|i| (i % 3) as f32).collect()).expect("y"));
        } else {
            let v = (0..n).map(|i| ((i * (h + 3)) % 7) as f32 / 7.0).collect();
            ys.push(Tensor::new(vec![n, 1], v).expect("y"));
        }
    }
    (Tensor::new(vec![n, 5], x).expect("x"), ys)
}

/// A functional model with `heads` outputs: a softmax classifier, then linear regressors.
fn model(heads: usize) -> Model {
    rkeras::clear_session();
    let x = Input::new(5);
    let h = Dense::new(6)
        .activation("tanh")
        .name("hidden")
        .call(&x)
        .expect("h");
    let mut outs = vec![Dense::new(3)
        .activation("softmax")
        .name("cls")
        .call(&h)
        .expect("cls")];
    for i in 1..heads {
        outs.push(Dense::new(1).name(format!("reg{i}")).call(&h).expect("reg"));
    }
    let refs: Vec<&KerasTensor> = outs.iter().collect();
    let mut m = Model::functional(&x, refs.as_slice()).expect("model");
    // Every model draws the same weights, whatever was built before.
    m.set_seed(7).expect("seed");
    if heads == 1 {
        m.compile(
            SGD::default().learning_rate(0.1),
            "sparse_categorical_crossentropy",
            &["accuracy"],
        )
        .expect("compile");
        return m;
    }
    let mut specs =
        vec![OutputLoss::new("cls", "sparse_categorical_crossentropy").metrics(&["accuracy"])];
    for i in 1..heads {
        specs.push(OutputLoss::new(&format!("reg{i}"), "mse").loss_weight(0.5));
    }
    m.compile_outputs(SGD::default().learning_rate(0.1), specs)
        .expect("compile");
    m
}

/// The same samples as a user source, in order, 4 per batch.
struct UserData {
    x: Tensor,
    ys: Vec<Tensor>,
    passes: Arc<Mutex<Vec<usize>>>,
}

fn rows(t: &Tensor, from: usize, to: usize) -> Tensor {
    let mut shape = t.shape().to_vec();
    shape[0] = to - from;
    let l = t.row_len();
    Tensor::new(shape, t.data()[from * l..to * l].to_vec()).expect("rows")
}

impl Batches for UserData {
    fn len(&self) -> usize {
        self.x.rows().div_ceil(4)
    }
    fn batch_size(&self) -> usize {
        4
    }
    fn begin_pass(&mut self, pass: usize) -> rkeras::Result<()> {
        self.passes.lock().expect("lock").push(pass);
        Ok(())
    }
    fn batch(&mut self, index: usize, out: &mut BatchMut<'_>) -> rkeras::Result<usize> {
        let (a, b) = (index * 4, ((index + 1) * 4).min(self.x.rows()));
        let x = rows(&self.x, a, b);
        let ys: Vec<Tensor> = self.ys.iter().map(|y| rows(y, a, b)).collect();
        let refs: Vec<&Tensor> = ys.iter().collect();
        out.set(&x, refs)
    }
}

#[test]
fn every_head_count_trains_the_same_through_arrays_and_a_user_source() {
    for heads in 1..=3 {
        let (x, ys) = data(10, heads);
        let refs: Vec<&Tensor> = ys.iter().collect();
        let mut a = model(heads);
        let ha = a
            .fit(&x, refs.clone())
            .epochs(2)
            .batch_size(4)
            .shuffle(false)
            .verbose(0)
            .run()
            .expect("fit arrays");
        let passes = Arc::new(Mutex::new(Vec::new()));
        let mut b = model(heads);
        let src = UserData {
            x: x.clone(),
            ys: ys.clone(),
            passes: passes.clone(),
        };
        let hb = b
            .fit_batches(src)
            .epochs(2)
            .verbose(0)
            .run()
            .expect("fit user source");
        assert_eq!(*passes.lock().expect("lock"), vec![0, 1]);
        assert_eq!(a.get_weights(), b.get_weights(), "{heads} head(s)");
        assert_eq!(ha.history, hb.history, "{heads} head(s)");
        let want = if heads == 1 {
            vec!["accuracy", "loss"]
        } else {
            let mut k = vec!["cls_accuracy", "cls_loss", "loss"];
            for i in 1..heads {
                k.push(if i == 1 { "reg1_loss" } else { "reg2_loss" });
            }
            k
        };
        let mut got: Vec<&str> = ha.history.keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, want);
        // evaluate and train_on_batch go through the same heads.
        let e = a.evaluate(&x, refs.clone()).expect("evaluate");
        assert_eq!(e.names, a.metrics_names());
        let t = a.train_on_batch(&x, refs.clone()).expect("train_on_batch");
        assert_eq!(t.names, e.names);
        assert!(
            (t.loss() - e.loss()).abs() < 1e-5,
            "train_on_batch reports the loss before its update"
        );
        let p = a.predict_on_batch(&x);
        if heads == 1 {
            assert_eq!(p.expect("predict").shape(), &[10, 3]);
        }
    }
}

#[test]
fn a_custom_train_step_drives_fit() {
    let (x, ys) = data(12, 1);
    let mut plain = model(1);
    plain
        .fit(&x, &ys[0])
        .epochs(2)
        .batch_size(4)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    // The default step written out by hand: the same weights.
    let mut steps = 0;
    let mut by_hand = |s: &mut Step<'_>| -> rkeras::Result<f64> {
        steps += 1;
        s.forward();
        let loss = s.compute_loss();
        s.backward();
        Ok(loss + s.apply_gradients())
    };
    let mut custom = model(1);
    custom
        .fit(&x, &ys[0])
        .epochs(2)
        .batch_size(4)
        .shuffle(false)
        .verbose(0)
        .train_step(&mut by_hand)
        .run()
        .expect("fit custom");
    assert_eq!(steps, 6);
    assert_eq!(plain.get_weights(), custom.get_weights());
    // A step that computes no gradient leaves the weights alone but still reports.
    let before = custom.get_weights();
    let mut frozen = |s: &mut Step<'_>| -> rkeras::Result<f64> {
        s.forward();
        s.update_metrics();
        Ok(1.5)
    };
    let h = custom
        .fit(&x, &ys[0])
        .epochs(1)
        .batch_size(4)
        .verbose(0)
        .train_step(&mut frozen)
        .run()
        .expect("fit frozen");
    assert_eq!(before, custom.get_weights());
    assert_eq!(h.get("loss"), Some(&[1.5][..]));
    // An error from the step stops fit and comes back.
    let mut failing =
        |_: &mut Step<'_>| -> rkeras::Result<f64> { Err(rkeras::Error::State("boom".into())) };
    let e = custom
        .fit(&x, &ys[0])
        .verbose(0)
        .train_step(&mut failing)
        .run();
    assert!(e.expect_err("fails").to_string().contains("boom"));
    // A custom loss: mean absolute error written by hand, gradients clipped.
    let mut mae = |s: &mut Step<'_>| -> rkeras::Result<f64> {
        s.forward();
        let n = s.batch_size();
        let loss = s.custom_loss(|out, t, g| {
            let mut l = 0.0;
            for r in 0..n {
                for c in 0..3 {
                    let want = if t[r] as usize == c { 1.0 } else { 0.0 };
                    let d = out[r * 3 + c] - want;
                    l += f64::from(d.abs());
                    g[r * 3 + c] = d.signum() / (n * 3) as f32;
                }
            }
            l / (n * 3) as f64
        });
        s.backward();
        s.for_each_gradient(|_, _, g| g.iter_mut().for_each(|v| *v = v.clamp(-0.05, 0.05)));
        Ok(loss + s.apply_gradients())
    };
    let h = custom
        .fit(&x, &ys[0])
        .epochs(3)
        .batch_size(4)
        .verbose(0)
        .train_step(&mut mae)
        .run()
        .expect("mae");
    let l = h.get("loss").expect("loss");
    assert!(l[2] < l[0], "the hand-written loss goes down: {l:?}");
}

/// Records every hook it sees.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Callback for Recorder {
    fn on_train_begin(&mut self, p: &TrainParams, _m: &mut Model) -> rkeras::Result<()> {
        self.0
            .lock()
            .expect("lock")
            .push(format!("train_begin steps={}", p.steps));
        Ok(())
    }
    fn on_epoch_begin(&mut self, e: usize, _m: &mut Model) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("epoch_begin {e}"));
    }
    fn on_train_batch_begin(&mut self, b: usize, _m: &mut Model) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("batch_begin {b}"));
    }
    fn on_test_begin(&mut self, _m: &mut Model) {
        self.0.lock().expect("lock").push("test_begin".into());
    }
    fn on_test_batch_end(&mut self, b: usize, _l: &Logs, _m: &mut Model) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("test_batch_end {b}"));
    }
    fn on_test_end(&mut self, logs: &Logs, _m: &mut Model) {
        let keys: Vec<&str> = logs.keys().collect();
        self.0
            .lock()
            .expect("lock")
            .push(format!("test_end {keys:?}"));
    }
    fn on_train_end(&mut self, _l: &Logs, _m: &mut Model) {
        self.0.lock().expect("lock").push("train_end".into());
    }
}

#[test]
fn callback_hooks_fire_in_keras_order() {
    let (x, ys) = data(10, 1);
    let mut m = model(1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut rec = Recorder(seen.clone());
    let ends = Arc::new(Mutex::new(Vec::new()));
    let e2 = ends.clone();
    let mut lambda = LambdaCallback::new().on_train_batch_end(move |b, logs| {
        e2.lock()
            .expect("lock")
            .push((b, logs.get("loss").is_some()));
    });
    m.fit(&x, &ys[0])
        .epochs(2)
        .batch_size(4)
        .shuffle(false)
        .verbose(0)
        .validation_data(&x, &ys[0])
        .validation_freq(vec![2])
        .callback(&mut rec)
        .callback(&mut lambda)
        .run()
        .expect("fit");
    let seen = seen.lock().expect("lock").clone();
    let want = [
        "train_begin steps=3",
        "epoch_begin 0",
        "batch_begin 0",
        "batch_begin 1",
        "batch_begin 2",
        "epoch_begin 1",
        "batch_begin 0",
        "batch_begin 1",
        "batch_begin 2",
        "test_begin",
        "test_batch_end 0",
        "test_batch_end 1",
        "test_batch_end 2",
        "test_end [\"accuracy\", \"loss\"]",
        "train_end",
    ];
    assert_eq!(seen, want);
    assert_eq!(ends.lock().expect("lock").len(), 6);
}

#[test]
fn a_user_source_that_writes_wrong_batches_gets_a_clear_error() {
    struct Bad;
    impl Batches for Bad {
        fn len(&self) -> usize {
            1
        }
        fn batch_size(&self) -> usize {
            2
        }
        fn batch(&mut self, _i: usize, out: &mut BatchMut<'_>) -> rkeras::Result<usize> {
            let x = Tensor::zeros(vec![2, 4]);
            let y = Tensor::zeros(vec![2]);
            out.set(&x, &y)
        }
    }
    let mut m = model(1);
    let e = m
        .fit_batches(Bad)
        .verbose(0)
        .run()
        .expect_err("wrong width");
    assert!(e.to_string().contains("expected shape=(None, 5)"), "{e}");
    struct TooMany;
    impl Batches for TooMany {
        fn len(&self) -> usize {
            1
        }
        fn batch_size(&self) -> usize {
            2
        }
        fn batch(&mut self, _i: usize, out: &mut BatchMut<'_>) -> rkeras::Result<usize> {
            out.set(&Tensor::zeros(vec![3, 5]), &Tensor::zeros(vec![3]))
        }
    }
    let e = m
        .fit_batches(TooMany)
        .verbose(0)
        .run()
        .expect_err("too many");
    assert!(
        e.to_string()
            .contains("more than the source's batch_size() 2"),
        "{e}"
    );
    struct BadLabels;
    impl Batches for BadLabels {
        fn len(&self) -> usize {
            1
        }
        fn batch_size(&self) -> usize {
            2
        }
        fn batch(&mut self, _i: usize, out: &mut BatchMut<'_>) -> rkeras::Result<usize> {
            out.set(
                &Tensor::zeros(vec![2, 5]),
                &Tensor::new(vec![2], vec![0.0, 7.0])?,
            )
        }
    }
    let e = m
        .fit_batches(BadLabels)
        .verbose(0)
        .run()
        .expect_err("labels");
    assert!(e.to_string().contains("not a class index"), "{e}");
}

#[test]
fn predict_and_evaluate_read_a_user_source_with_their_hooks() {
    let (x, ys) = data(10, 1);
    let mut m = model(1);
    let mut src = UserData {
        x: x.clone(),
        ys: ys.clone(),
        passes: Arc::new(Mutex::new(Vec::new())),
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    struct Hooks(Arc<Mutex<Vec<String>>>);
    impl Callback for Hooks {
        fn on_predict_begin(&mut self, _m: &mut Model) {
            self.0.lock().expect("lock").push("predict_begin".into());
        }
        fn on_predict_batch_end(&mut self, b: usize, _m: &mut Model) {
            self.0
                .lock()
                .expect("lock")
                .push(format!("predict_batch_end {b}"));
        }
        fn on_predict_end(&mut self, _m: &mut Model) {
            self.0.lock().expect("lock").push("predict_end".into());
        }
        fn on_test_end(&mut self, _l: &Logs, _m: &mut Model) {
            self.0.lock().expect("lock").push("test_end".into());
        }
    }
    let mut hooks = Hooks(seen.clone());
    let p = m
        .predict_batches(&mut src, &mut [&mut hooks])
        .expect("predict");
    assert_eq!(p, m.predict(&x).expect("predict arrays"));
    let e = m
        .evaluate_batches(&mut src, &mut [&mut hooks])
        .expect("evaluate");
    assert_eq!(e, m.evaluate(&x, &ys[0]).expect("evaluate arrays"));
    assert_eq!(
        *seen.lock().expect("lock"),
        [
            "predict_begin",
            "predict_batch_end 0",
            "predict_batch_end 1",
            "predict_batch_end 2",
            "predict_end",
            "test_end"
        ]
    );
}

/// `fit(..).mix_up(alpha)` / `.cut_mix(factor)`: the images and the labels of each training
/// batch are mixed by the same permutation and weights (Keras's MixUp/CutMix on
/// `{"images", "labels"}`), deterministically for a seed; sparse labels are refused.
#[test]
fn mix_up_and_cut_mix_mix_images_and_labels_alike() {
    // MixUp: an identity model whose input row equals its one-hot label, so the mixed input
    // must equal the mixed label, row by row.
    let n = 12;
    let y: Vec<f32> = (0..n)
        .flat_map(|i| {
            let mut r = [0.0f32; 3];
            r[i % 3] = 1.0;
            r
        })
        .collect();
    let y = Tensor::new(vec![n, 3], y).expect("y");
    let x = y.clone();
    let seen = Arc::new(Mutex::new(Vec::<(Vec<f32>, Vec<f32>)>::new()));
    let run = |mix: bool| {
        let mut m =
            Sequential::new([Activation::new("linear").input_shape(3).into()]).expect("model");
        m.compile("sgd", "categorical_crossentropy", &[])
            .expect("compile");
        let log = Arc::clone(&seen);
        let mut record = move |s: &mut Step<'_>| {
            s.forward();
            log.lock()
                .expect("lock")
                .push((s.outputs().to_vec(), s.targets().to_vec()));
            Ok(0.0)
        };
        let mut f = m
            .fit(&x, &y)
            .epochs(2)
            .batch_size(4)
            .seed(5)
            .verbose(0)
            .train_step(&mut record);
        if mix {
            f = f.mix_up(0.4);
        }
        f.run().expect("fit");
    };
    run(true);
    let mixed = std::mem::take(&mut *seen.lock().expect("lock"));
    assert_eq!(mixed.len(), 6);
    let mut changed = 0;
    for (out, tgt) in &mixed {
        for (a, b) in out.iter().zip(tgt) {
            assert!((a - b).abs() < 1e-6, "{out:?} vs {tgt:?}");
        }
        for r in tgt.chunks(3) {
            assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{r:?}");
            changed += r.iter().filter(|v| **v > 1e-3 && **v < 1.0 - 1e-3).count();
        }
    }
    assert!(changed > 0, "nothing was mixed");
    // The same seed mixes the same way.
    run(true);
    let again = std::mem::take(&mut *seen.lock().expect("lock"));
    assert_eq!(mixed, again);

    // CutMix on images whose pixels all hold their label: a model that outputs each image's
    // mean must see, up to whole pixels against Keras's fractional box, its mixed label. A
    // fixed seed: without one, the clock's draw sometimes pairs equal labels or cuts an empty
    // box, and nothing is mixed.
    let n = 8;
    let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let x: Vec<f32> = labels.iter().flat_map(|&l| vec![l; 64]).collect();
    let x = Tensor::new(vec![n, 8, 8, 1], x).expect("x");
    let y = Tensor::new(vec![n, 1], labels.clone()).expect("y");
    let mut m = Sequential::new([GlobalAveragePooling2D::new().input_shape((8, 8, 1)).into()])
        .expect("model");
    m.compile("sgd", "mse", &[]).expect("compile");
    let log = Arc::clone(&seen);
    let mut record = move |s: &mut Step<'_>| {
        s.forward();
        log.lock()
            .expect("lock")
            .push((s.outputs().to_vec(), s.targets().to_vec()));
        Ok(0.0)
    };
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(8)
        .seed(3)
        .verbose(0)
        .cut_mix((1.0, 1.0))
        .train_step(&mut record)
        .run()
        .expect("fit");
    let batches = std::mem::take(&mut *seen.lock().expect("lock"));
    assert_eq!(batches.len(), 1);
    let (out, tgt) = &batches[0];
    let mut mixed = 0;
    for (mean, lab) in out.iter().zip(tgt) {
        assert!((mean - lab).abs() <= 0.25 + 1e-6, "{mean} vs {lab}");
        mixed += usize::from(*lab > 1e-3 && *lab < 1.0 - 1e-3);
    }
    assert!(mixed > 0, "nothing was cut and mixed: {tgt:?}");

    // Class-index labels cannot be mixed.
    let mut m = Sequential::new([Dense::new(3).activation("softmax").input_shape(3).into()])
        .expect("model");
    m.compile("adam", "sparse_categorical_crossentropy", &[])
        .expect("compile");
    let ys = Tensor::new(vec![4], vec![0.0, 1.0, 2.0, 0.0]).expect("y");
    let xs = Tensor::zeros(vec![4, 3]);
    let e = m
        .fit(&xs, &ys)
        .mix_up(0.2)
        .verbose(0)
        .run()
        .expect_err("sparse");
    assert!(e.to_string().contains("one-hot"), "{e}");
}
