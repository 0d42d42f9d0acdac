//! `TensorBoard`: the scalars, weight histograms and weight images Keras's TensorBoard
//! callback logs, in TensorFlow's event-file format (TFRecord framing with masked CRC-32C
//! from the `crc32c` crate; TensorFlow's `Event`/`Summary` protocol buffers declared with
//! `prost`), so that `tensorboard --logdir logs` shows an rkeras run as it shows a Keras one.

use super::{Callback, Control, Logs, TrainParams};
use crate::error::Result;
use crate::fsio::write_atomic;
use crate::model::Model;
use std::path::{Path, PathBuf};

/// How often the training scalars are written (Keras's `update_freq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFreq {
    /// After each epoch (`"epoch"`, the default): `epoch_loss`, `epoch_accuracy`, ...
    Epoch,
    /// Also every `n` batches (`update_freq=n`): `batch_loss`, ... by global batch.
    Batches(usize),
}

/// Keras's `keras.callbacks.TensorBoard(log_dir)`: after each epoch, the training logs as
/// `epoch_<name>` scalars (with `epoch_learning_rate`) in `log_dir/train`, the validation
/// logs (without their `val_` prefix) in `log_dir/validation`, and after each validation
/// `evaluation_<name>_vs_iterations` by optimizer step, as Keras 3 writes them; with
/// `histogram_freq(n)`, every `n` epochs a histogram of each weight (`<path>/histogram`, 30
/// equal buckets as `tf.summary.histogram`) and with `write_images(true)` each weight drawn as
/// Keras draws it (`<path>/image`). Each event file is rewritten atomically after every
/// epoch. Graphs, embeddings and profiling are not written.
///
/// A vector-valued metric (Keras's `F1Score()`, one score per class, or
/// `Precision(thresholds=[...])`) is not written: Keras hands it to `tf.summary.scalar`,
/// which raises `ValueError: Expected scalar shape, saw shape: (3,)` at the end of the
/// first epoch; rkeras leaves it out and writes the numbers, so training goes on (the
/// vectors are in the [`History`](super::History) and the [`CSVLogger`](super::CSVLogger)).
///
/// ```no_run
/// use rkeras::prelude::*;
/// use rkeras::callbacks::TensorBoard;
/// # let mut model = Sequential::new([Dense::new(1).input_shape(2).into()])?;
/// # model.compile("sgd", "mse", &[])?;
/// # let (x, y) = (Tensor::new(vec![2, 2], vec![0.0; 4])?, Tensor::new(vec![2, 1], vec![0.0; 2])?);
/// let mut tb = TensorBoard::new("logs");
/// model.fit(&x, &y).epochs(3).callback(&mut tb).run()?;
/// // tensorboard --logdir logs
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    steps_per_second: bool,
    train: EventFile,
    validation: EventFile,
    global_batch: u64,
    epoch_start: Option<std::time::Instant>,
    epoch_steps: u64,
    in_fit: bool,
    histogram_freq: usize,
    write_images: bool,
}

impl TensorBoard {
    /// Logs under `log_dir` (created when training starts).
    pub fn new(log_dir: impl AsRef<Path>) -> Self {
        TensorBoard {
            log_dir: log_dir.as_ref().to_path_buf(),
            update_freq: UpdateFreq::Epoch,
            steps_per_second: false,
            train: EventFile::default(),
            validation: EventFile::default(),
            global_batch: 0,
            epoch_start: None,
            epoch_steps: 0,
            in_fit: false,
            histogram_freq: 0,
            write_images: false,
        }
    }
    /// Keras's `histogram_freq`: every `n` epochs, a histogram of each weight (0: never,
    /// the default).
    pub fn histogram_freq(mut self, n: usize) -> Self {
        self.histogram_freq = n;
        self
    }
    /// Keras's `write_images`: with the histograms, each weight drawn as an image (biases
    /// as a row, dense kernels as a matrix, convolution kernels one image per input channel
    /// when that gives 1, 3 or 4 channels), values clipped to `[0, 1]` as TensorFlow does.
    pub fn write_images(mut self, yes: bool) -> Self {
        self.write_images = yes;
        self
    }
    /// Keras's `update_freq`: [`UpdateFreq::Epoch`] (default) or every `n` batches.
    pub fn update_freq(mut self, f: UpdateFreq) -> Self {
        self.update_freq = f;
        self
    }
    /// Keras's `write_steps_per_second`: also `epoch_steps_per_second`.
    pub fn write_steps_per_second(mut self, yes: bool) -> Self {
        self.steps_per_second = yes;
        self
    }
    /// The event files written so far (training, validation).
    pub fn files(&self) -> Vec<PathBuf> {
        [&self.train, &self.validation]
            .iter()
            .filter_map(|f| f.path.clone())
            .collect()
    }
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, _params: &TrainParams, _model: &mut Model) -> Result<()> {
        self.train = EventFile::open(&self.log_dir.join("train"));
        self.validation = EventFile::open(&self.log_dir.join("validation"));
        self.global_batch = 0;
        self.in_fit = true;
        Ok(())
    }
    fn on_epoch_begin(&mut self, _epoch: usize, _model: &mut Model) {
        self.epoch_start = Some(std::time::Instant::now());
        self.epoch_steps = 0;
    }
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> Result<Control> {
        self.global_batch += 1;
        self.epoch_steps += 1;
        if let UpdateFreq::Batches(n) = self.update_freq {
            if n > 0 && self.global_batch.is_multiple_of(n as u64) {
                for (name, v) in logs.iter() {
                    self.train
                        .scalar(&format!("batch_{name}"), v, self.global_batch as i64);
                }
            }
        }
        Ok(Control::Continue)
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<Control> {
        let step = epoch as i64;
        for (name, v) in logs.iter().filter(|(k, _)| !k.starts_with("val_")) {
            self.train.scalar(&format!("epoch_{name}"), v, step);
        }
        if let Some(opt) = model.optimizer() {
            self.train
                .scalar("epoch_learning_rate", f64::from(opt.learning_rate()), step);
        }
        if self.steps_per_second {
            let secs = self
                .epoch_start
                .map_or(0.0, |t| t.elapsed().as_secs_f64())
                .max(1e-9);
            self.train.scalar(
                "epoch_steps_per_second",
                self.epoch_steps as f64 / secs,
                step,
            );
        }
        for (name, v) in logs.iter().filter(|(k, _)| k.starts_with("val_")) {
            self.validation
                .scalar(&format!("epoch_{}", &name[4..]), v, step);
        }
        if self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq) {
            for w in model.weight_paths_and_values() {
                let tag = w.0.replace(':', "_");
                self.train
                    .histogram(&format!("{tag}/histogram"), &w.2, step);
                if self.write_images {
                    self.train
                        .weight_images(&format!("{tag}/image"), &w.1, &w.2, step);
                }
            }
        }
        self.train.flush()?;
        self.validation.flush()?;
        Ok(Control::Continue)
    }
    fn on_test_end(&mut self, logs: &Logs, model: &mut Model) {
        if !self.in_fit {
            return;
        }
        let it = model.optimizer().map_or(0, |o| o.iterations()) as i64;
        for (name, v) in logs.iter() {
            self.validation
                .scalar(&format!("evaluation_{name}_vs_iterations"), v, it);
        }
    }
    fn on_train_end(&mut self, _logs: &Logs, _model: &mut Model) {
        self.in_fit = false;
        // The last epoch's flush already wrote everything but a trailing evaluation.
        let _ = self.train.flush();
        let _ = self.validation.flush();
    }
}

/// One event file: its path (named as TensorFlow names them) and its records so far.
#[derive(Debug, Default)]
struct EventFile {
    path: Option<PathBuf>,
    bytes: Vec<u8>,
    written: usize,
}

impl EventFile {
    /// `dir/events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`, starting with the version
    /// record.
    fn open(dir: &Path) -> EventFile {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let now = wall_time();
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty() && !h.contains(['/', '\\']))
            .unwrap_or_else(|| "localhost".into());
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!(
            "events.out.tfevents.{}.{host}.{}.{n}.v2",
            now as u64,
            std::process::id()
        );
        let mut f = EventFile {
            path: Some(dir.join(name)),
            bytes: Vec::new(),
            written: 0,
        };
        f.write(&proto::Event {
            wall_time: now,
            step: 0,
            what: Some(proto::What::FileVersion("brain.Event:2".into())),
        });
        f
    }
    /// Appends one summary value at `step`.
    fn value(&mut self, value: proto::Value, step: i64) {
        self.write(&proto::Event {
            wall_time: wall_time(),
            step,
            what: Some(proto::What::Summary(proto::Summary { value: vec![value] })),
        });
    }
    /// Appends a scalar `tag` = `value` at `step`.
    fn scalar(&mut self, tag: &str, value: f64, step: i64) {
        self.value(
            proto::Value {
                tag: tag.into(),
                value: Some(proto::Kind::SimpleValue(value as f32)),
            },
            step,
        );
    }
    /// Appends a histogram of `values` over 30 equal buckets between their minimum and
    /// maximum (`tf.summary.histogram`'s default), at `step`.
    fn histogram(&mut self, tag: &str, values: &[f32], step: i64) {
        let h = histogram(values, 30);
        self.value(
            proto::Value {
                tag: tag.into(),
                value: Some(proto::Kind::Histo(h)),
            },
            step,
        );
    }
    /// Appends a weight drawn as Keras's `_log_weight_as_image` draws it, at most three
    /// images (`tf.summary.image`'s `max_outputs`), tagged `tag/image/i`.
    fn weight_images(&mut self, tag: &str, shape: &[usize], values: &[f32], step: i64) {
        for (i, img) in weight_images(shape, values).into_iter().take(3).enumerate() {
            self.value(
                proto::Value {
                    tag: format!("{tag}/{i}"),
                    value: Some(proto::Kind::Image(img)),
                },
                step,
            );
        }
    }
    fn write(&mut self, event: &proto::Event) {
        use prost::Message;
        self.record(&event.encode_to_vec());
    }
    /// TFRecord framing: length, its masked CRC, the data, its masked CRC.
    fn record(&mut self, data: &[u8]) {
        let len = (data.len() as u64).to_le_bytes();
        self.bytes.extend_from_slice(&len);
        self.bytes
            .extend_from_slice(&masked_crc(&len).to_le_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes
            .extend_from_slice(&masked_crc(data).to_le_bytes());
    }
    /// Rewrites the file (atomically) when it has new records.
    fn flush(&mut self) -> Result<()> {
        if let Some(p) = &self.path {
            if self.written != self.bytes.len() {
                write_atomic(p, &self.bytes)?;
                self.written = self.bytes.len();
            }
        }
        Ok(())
    }
}

fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// CRC-32C (Castagnoli), as TFRecord uses it.
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// TFRecord's masked CRC: rotated right by 15 bits plus a constant.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// A histogram of `values` over `buckets` equal buckets between their minimum and maximum
/// (one bucket when they are all equal), as TensorBoard's `HistogramProto`.
fn histogram(values: &[f32], buckets: usize) -> proto::Histogram {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    for &v in values {
        let v = f64::from(v);
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v;
        sum_sq += v * v;
    }
    if values.is_empty() {
        (lo, hi) = (0.0, 0.0);
    }
    let k = if hi > lo { buckets.max(1) } else { 1 };
    let width = (hi - lo) / k as f64;
    let mut counts = vec![0.0f64; k];
    for &v in values {
        let i = if width > 0.0 {
            (((f64::from(v) - lo) / width) as usize).min(k - 1)
        } else {
            0
        };
        counts[i] += 1.0;
    }
    proto::Histogram {
        min: lo,
        max: hi,
        num: values.len() as f64,
        sum,
        sum_squares: sum_sq,
        bucket_limit: (1..=k)
            .map(|i| if i == k { hi } else { lo + width * i as f64 })
            .collect(),
        bucket: counts,
    }
}

/// How a weight is cut into images: (count, height, width, value at (image, row, col)).
type ImagePlan<'a> = (
    usize,
    usize,
    usize,
    Box<dyn Fn(usize, usize, usize) -> f32 + 'a>,
);

/// A weight of `shape` drawn as Keras's TensorBoard draws it: squeezed; a vector as one
/// `1 x n` row, a matrix (wide side across) as one image, a 3-D kernel as one image per last
/// axis entry (channels last, so per output channel); values clipped to `[0, 1]` and scaled
/// to 0-255 as `tf.summary.image` converts floats; PNG-encoded, one channel.
fn weight_images(shape: &[usize], values: &[f32]) -> Vec<proto::Image> {
    let dims: Vec<usize> = shape.iter().copied().filter(|&d| d != 1).collect();
    let plan: Option<ImagePlan<'_>> = match dims.as_slice() {
        [n] => Some((1, 1, *n, Box::new(move |_, _, c| values[c]))),
        [a, b] if a > b => Some((1, *b, *a, Box::new(move |_, r, c| values[c * b + r]))),
        [a, b] => Some((1, *a, *b, Box::new(move |_, r, c| values[r * b + c]))),
        // (h, w, k) -> k images of h x w.
        [h, w, k] => Some((
            *k,
            *h,
            *w,
            Box::new(move |i, r, c| values[(r * w + c) * k + i]),
        )),
        _ => None,
    };
    let Some((count, h, w, at)) = plan else {
        return Vec::new();
    };
    (0..count)
        .filter_map(|i| {
            let px: Vec<u8> = (0..h * w)
                .map(|p| (at(i, p / w, p % w).clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            let mut png = Vec::new();
            let enc = image::codecs::png::PngEncoder::new(&mut png);
            image::ImageEncoder::write_image(
                enc,
                &px,
                w as u32,
                h as u32,
                image::ExtendedColorType::L8,
            )
            .ok()?;
            Some(proto::Image {
                height: h as i32,
                width: w as i32,
                colorspace: 1,
                encoded_image_string: png,
            })
        })
        .collect()
}

/// TensorFlow's `Event` and `Summary` protocol buffers (`tensorflow/core/util/event.proto`,
/// `framework/summary.proto`), the fields rkeras writes.
pub(crate) mod proto {
    /// `tensorflow.Event`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        /// Seconds since the epoch.
        #[prost(double, tag = "1")]
        pub wall_time: f64,
        /// The step.
        #[prost(int64, tag = "2")]
        pub step: i64,
        /// What the event holds.
        #[prost(oneof = "What", tags = "3, 5")]
        pub what: Option<What>,
    }
    /// `Event.what`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        /// `brain.Event:2`.
        #[prost(string, tag = "3")]
        FileVersion(String),
        /// Summary values.
        #[prost(message, tag = "5")]
        Summary(Summary),
    }
    /// `tensorflow.Summary`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        /// The values.
        #[prost(message, repeated, tag = "1")]
        pub value: Vec<Value>,
    }
    /// `Summary.Value`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        /// The tag.
        #[prost(string, tag = "1")]
        pub tag: String,
        /// The value.
        #[prost(oneof = "Kind", tags = "2, 4, 5")]
        pub value: Option<Kind>,
    }
    /// `Summary.Value.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// A scalar.
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        /// An image.
        #[prost(message, tag = "4")]
        Image(Image),
        /// A histogram.
        #[prost(message, tag = "5")]
        Histo(Histogram),
    }
    /// `Summary.Image`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        /// Height.
        #[prost(int32, tag = "1")]
        pub height: i32,
        /// Width.
        #[prost(int32, tag = "2")]
        pub width: i32,
        /// 1 gray, 3 RGB, 4 RGBA.
        #[prost(int32, tag = "3")]
        pub colorspace: i32,
        /// PNG bytes.
        #[prost(bytes = "vec", tag = "4")]
        pub encoded_image_string: Vec<u8>,
    }
    /// `tensorflow.HistogramProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        /// Minimum.
        #[prost(double, tag = "1")]
        pub min: f64,
        /// Maximum.
        #[prost(double, tag = "2")]
        pub max: f64,
        /// Count.
        #[prost(double, tag = "3")]
        pub num: f64,
        /// Sum.
        #[prost(double, tag = "4")]
        pub sum: f64,
        /// Sum of squares.
        #[prost(double, tag = "5")]
        pub sum_squares: f64,
        /// Right edges of the buckets.
        #[prost(double, repeated, tag = "6")]
        pub bucket_limit: Vec<f64>,
        /// Counts.
        #[prost(double, repeated, tag = "7")]
        pub bucket: Vec<f64>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn records_are_framed_as_tfrecord() {
        let mut f = EventFile::default();
        f.scalar("epoch_loss", 0.5, 3);
        let b = &f.bytes;
        let len = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as usize;
        assert_eq!(b.len(), 8 + 4 + len + 4);
        let crc_len = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        assert_eq!(crc_len, masked_crc(&b[..8]));
        let data = &b[12..12 + len];
        let crc = u32::from_le_bytes(b[12 + len..].try_into().expect("4 bytes"));
        assert_eq!(crc, masked_crc(data));
        // wall_time (field 1, fixed64), step 3 (field 2), summary (field 5) with the tag.
        assert_eq!(data[0], 0x09);
        assert_eq!(&data[9..11], &[0x10, 3]);
        assert_eq!(data[11], 0x2a);
        assert!(data.windows(10).any(|w| w == b"epoch_loss"));
        let v = 0.5f32.to_le_bytes();
        assert!(data.windows(5).any(|w| w[0] == 0x15 && w[1..] == v));
    }

    /// The events of an event file, decoded with the same messages.
    fn events(bytes: &[u8]) -> Vec<proto::Event> {
        use prost::Message;
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let len = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8")) as usize;
            let data = &bytes[i + 12..i + 12 + len];
            let crc = u32::from_le_bytes(bytes[i + 12 + len..i + 16 + len].try_into().expect("4"));
            assert_eq!(crc, masked_crc(data));
            out.push(proto::Event::decode(data).expect("event"));
            i += 16 + len;
        }
        out
    }

    #[test]
    fn histograms_and_images_of_every_weight_as_keras_tags_them() {
        use crate::layers::{Conv2D, Dense, Flatten};
        let dir = std::env::temp_dir().join(format!("rkeras-tb-hist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = crate::model::Sequential::new([
            Conv2D::new(3, 3).input_shape((5, 5, 1)).into(),
            Flatten::new().into(),
            Dense::new(2).into(),
        ])
        .expect("model");
        m.compile("sgd", "mse", &[]).expect("compile");
        let x = crate::Tensor::new(
            vec![4, 5, 5, 1],
            (0..100).map(|i| (i % 7) as f32 / 7.0).collect(),
        )
        .expect("x");
        let y = crate::Tensor::zeros(vec![4, 2]);
        let mut tb = TensorBoard::new(&dir).histogram_freq(2).write_images(true);
        m.fit(&x, &y)
            .epochs(3)
            .verbose(0)
            .callback(&mut tb)
            .run()
            .expect("fit");
        let train = tb.files()[0].clone();
        let ev = events(&std::fs::read(&train).expect("read"));
        let mut hist = Vec::new();
        let mut images = Vec::new();
        for e in &ev {
            if let Some(proto::What::Summary(s)) = &e.what {
                for v in &s.value {
                    match &v.value {
                        Some(proto::Kind::Histo(h)) => {
                            hist.push((v.tag.clone(), e.step, h.clone()))
                        }
                        Some(proto::Kind::Image(im)) => images.push((v.tag.clone(), im.clone())),
                        _ => {}
                    }
                }
            }
        }
        // Epochs 0 and 2; four weights each, tagged with Keras's variable paths.
        let tags: Vec<&str> = hist
            .iter()
            .filter(|h| h.1 == 0)
            .map(|h| h.0.as_str())
            .collect();
        let name = m.name().to_string();
        assert_eq!(
            tags,
            [
                format!("{name}/conv2d/kernel/histogram"),
                format!("{name}/conv2d/bias/histogram"),
                format!("{name}/dense/kernel/histogram"),
                format!("{name}/dense/bias/histogram"),
            ]
        );
        assert_eq!(hist.iter().filter(|h| h.1 == 2).count(), 4);
        assert!(hist.iter().all(|h| h.1 != 1));
        // Counts add up to the weight's size; the edges end at the maximum.
        let (_, _, k) = &hist[0];
        assert_eq!(k.num, 27.0);
        assert_eq!(k.bucket.iter().sum::<f64>(), 27.0);
        assert_eq!(k.bucket.len(), 30);
        assert_eq!(k.bucket_limit.last().copied(), Some(k.max));
        // Images: the conv kernel (3, 3, 1, 3) squeezes to (3, 3, 3): three 3x3 images; the
        // dense kernel (27, 2) is drawn 2 x 27; the biases as rows.
        let conv: Vec<_> = images
            .iter()
            .filter(|i| i.0.contains("conv2d/kernel"))
            .collect();
        assert_eq!(conv.len(), 6);
        assert_eq!((conv[0].1.height, conv[0].1.width), (3, 3));
        let dense = images
            .iter()
            .find(|i| i.0.contains("dense/kernel"))
            .expect("dense image");
        assert_eq!((dense.1.height, dense.1.width), (2, 27));
        let png = image::load_from_memory(&dense.1.encoded_image_string).expect("png");
        assert_eq!((png.width(), png.height()), (27, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
