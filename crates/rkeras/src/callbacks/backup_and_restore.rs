//! `BackupAndRestore`: resumes an interrupted `fit` from the last completed epoch, with the
//! weights and the optimizer state of that epoch.

use super::monitor::Said;
use super::{Callback, Control, Logs, TrainParams};
use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::model::Model;
use std::path::{Path, PathBuf};

/// Backs up the weights and optimizer state after every epoch in `backup_dir`, and when
/// `fit` starts again after a crash, restores them and resumes at the next epoch (Keras
/// `BackupAndRestore`). With the same seed, the resumed run ends with the same weights as an
/// uninterrupted one: shuffles and random layers are seeded per epoch.
///
/// Each backup is written in full under a new name, then `training_metadata.json` (the
/// commit point) is atomically replaced to point at it, then the older backup is removed: a
/// crash at any moment leaves a consistent backup. The folder is emptied when training ends
/// normally.
///
/// ```no_run
/// use rkeras::callbacks::BackupAndRestore;
/// let mut backup = BackupAndRestore::new("backup");
/// ```
#[derive(Debug)]
pub struct BackupAndRestore {
    dir: PathBuf,
    delete_checkpoint: bool,
    said: Said,
}

const METADATA: &str = "training_metadata.json";

impl BackupAndRestore {
    /// Backs up into `backup_dir` (created when missing).
    pub fn new(backup_dir: impl AsRef<Path>) -> Self {
        BackupAndRestore {
            dir: backup_dir.as_ref().to_path_buf(),
            delete_checkpoint: true,
            said: Said::default(),
        }
    }
    /// Keep the backup after training ends (default: delete it).
    pub fn delete_checkpoint(mut self, d: bool) -> Self {
        self.delete_checkpoint = d;
        self
    }
    /// The messages printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }

    /// The last completed epoch and its weights file, if a backup exists.
    fn latest(&self) -> Result<Option<(usize, PathBuf)>> {
        let meta = self.dir.join(METADATA);
        let text = match std::fs::read_to_string(&meta) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path: meta, source }),
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Format {
            path: meta.clone(),
            message: format!("not the backup metadata rkeras writes: {e}"),
        })?;
        let epoch = v.get("epoch").and_then(serde_json::Value::as_u64);
        let file = v.get("weights").and_then(serde_json::Value::as_str);
        match (epoch, file) {
            (Some(e), Some(f)) => Ok(Some((e as usize, self.dir.join(f)))),
            _ => Err(Error::Format {
                path: meta,
                message: "expected {\"epoch\": N, \"weights\": FILE}".into(),
            }),
        }
    }
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, _params: &TrainParams, model: &mut Model) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        if let Some((epoch, weights)) = self.latest()? {
            model.load_weights(&weights)?;
            model.resume_epoch = Some(epoch + 1);
            self.said.say(format!(
                "Restored the backup of epoch {} from {}; resuming at epoch {}.",
                epoch + 1,
                self.dir.display(),
                epoch + 2
            ));
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        _logs: &Logs,
        model: &mut Model,
    ) -> crate::Result<Control> {
        let previous = self.latest().ok().flatten().map(|(_, p)| p);
        let name = format!("epoch-{:06}.weights.h5", epoch + 1);
        let commit = model.save_weights(self.dir.join(&name)).and_then(|()| {
            let meta = serde_json::json!({"epoch": epoch, "weights": name});
            write_atomic(&self.dir.join(METADATA), meta.to_string().as_bytes())
        });
        match commit {
            Ok(()) => {
                // Data-parallel: rank 0 alone wrote the backup; it alone removes the old one
                // (another rank could remove it before rank 0 commits the new one).
                if let Some(old) = previous
                    .filter(|p| !p.ends_with(&name))
                    .filter(|_| crate::distribution::is_chief())
                {
                    let _ = std::fs::remove_file(old);
                }
                Ok(Control::Continue)
            }
            Err(e) => Err(crate::Error::State(format!(
                "BackupAndRestore could not back up epoch {}: {e}",
                epoch + 1
            ))),
        }
    }

    fn on_train_end(&mut self, _logs: &Logs, _model: &mut Model) {
        if !self.delete_checkpoint || !crate::distribution::is_chief() {
            return;
        }
        if let Ok(Some((_, weights))) = self.latest() {
            let _ = std::fs::remove_file(self.dir.join(METADATA));
            let _ = std::fs::remove_file(weights);
        }
    }
}
