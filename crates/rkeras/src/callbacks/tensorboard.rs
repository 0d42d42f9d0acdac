//! `TensorBoard`: the scalars Keras's TensorBoard callback logs, in TensorFlow's event-file
//! format (TFRecord framing with masked CRC-32C, `Event`/`Summary` protocol buffers written
//! by hand: a few fields, no protobuf dependency), so that `tensorboard --logdir logs` shows
//! an rkeras run as it shows a Keras one.

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
/// `evaluation_<name>_vs_iterations` by optimizer step, as Keras 3 writes them. Each event
/// file is rewritten atomically after every epoch. Histograms, images, graphs and profiling
/// are not written.
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
        }
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
        let mut event = Vec::new();
        proto::double(&mut event, 1, now);
        proto::bytes(&mut event, 3, b"brain.Event:2");
        f.record(&event);
        f
    }
    /// Appends a scalar `tag` = `value` at `step`.
    fn scalar(&mut self, tag: &str, value: f64, step: i64) {
        let mut v = Vec::new();
        proto::bytes(&mut v, 1, tag.as_bytes());
        proto::float(&mut v, 2, value as f32);
        let mut summary = Vec::new();
        proto::bytes(&mut summary, 1, &v);
        let mut event = Vec::new();
        proto::double(&mut event, 1, wall_time());
        proto::varint_field(&mut event, 2, step as u64);
        proto::bytes(&mut event, 5, &summary);
        self.record(&event);
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
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82F6_3B78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// TFRecord's masked CRC: rotated right by 15 bits plus a constant.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The protocol-buffer wire format, for the few fields an event holds.
mod proto {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
        varint(out, u64::from((field << 3) | wire));
    }
    pub fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
        key(out, field, 0);
        varint(out, v);
    }
    pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
        key(out, field, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn float(out: &mut Vec<u8>, field: u32, v: f32) {
        key(out, field, 5);
        out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
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
}
