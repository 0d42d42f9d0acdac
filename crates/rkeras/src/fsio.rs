//! Files written safely: every file rkeras writes (models, checkpoints, weights, logs,
//! histories, plots, `.npy` arrays) goes through [`write_atomic`].
//!
//! A write goes to a temporary file beside the target, named after the target, this process
//! and a counter (`.final.keras.4242-3.rkeras-tmp`), so two processes or threads writing the
//! same path never touch each other's temporary file. The temporary file is synced and
//! renamed over the target, so a reader sees the old file or the new one, never half of one.
//! A failed write (disk full, a missing folder) removes its temporary file; a temporary file
//! left by a process that was killed is removed by the next write to the same folder once
//! that process is gone.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The suffix of every temporary file.
const TMP_SUFFIX: &str = ".rkeras-tmp";

/// Distinguishes the temporary files of one process's concurrent writes.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file in the same folder, synced and renamed
/// into place; creates the parent folders.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("rkeras-fsio-doc-{}", std::process::id()));
/// let path = dir.join("notes.txt");
/// rkeras::fsio::write_atomic(&path, b"hello")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// The folder cannot be created, or the temporary file cannot be written, synced or renamed
/// (the error names the file; the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if !crate::distribution::is_chief() {
        // Data-parallel: rank 0 alone writes (checkpoints, logs, models, plots).
        return Ok(());
    }
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let Some(name) = path.file_name() else {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file name (it ends in `..` or `/`)",
            ),
        });
    };
    remove_stale(dir.unwrap_or(Path::new(".")));
    let tmp = temp_name(path, name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path, e)
    })
}

/// `.NAME.PID-N.rkeras-tmp` beside `path`.
fn temp_name(path: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".{}-{}{TMP_SUFFIX}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(tmp)
}

/// Removes the temporary files in `dir` (of any target) whose writing process no longer runs.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(temp_owner) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process that wrote temporary file `file` (`.NAME.PID-N.rkeras-tmp`), if it is one.
fn temp_owner(file: &str) -> Option<u32> {
    let rest = file.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    let (_, tail) = rest.rsplit_once('.')?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether process `pid` still runs (on systems without `/proc`, assumed to).
fn process_alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rkeras-fsio-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("listing")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(TMP_SUFFIX))
            .collect()
    }

    #[test]
    fn concurrent_writes_of_one_path_never_collide() {
        let dir = scratch("concurrent");
        let path = dir.join("ckpt.keras");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[t; 4096]).expect("every write succeeds");
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).expect("the file is there");
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "one writer's bytes");
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = scratch("failed");
        // The target is an existing folder: the rename fails after the data was written.
        let target = dir.join("taken");
        std::fs::create_dir_all(target.join("inside")).expect("folder");
        let err = write_atomic(&target, b"data").expect_err("cannot replace a folder");
        assert!(err.to_string().contains("taken"), "{err}");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        // A parent that is a file: nothing can be created, the error names the folder.
        write_atomic(&target.join("inside").join("x").join("y"), b"z")
            .expect("nested folders are created");
        let file = dir.join("plain");
        std::fs::write(&file, b"f").expect("file");
        let err = write_atomic(&file.join("m.keras"), b"z").expect_err("parent is a file");
        assert!(err.to_string().contains("plain"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn stale_temporary_files_of_dead_processes_are_removed() {
        let dir = scratch("stale");
        // A pid that cannot run (above Linux's pid_max of 2^22), and our own pid.
        let dead = dir.join(".m.keras.4294967295-0.rkeras-tmp");
        let ours = dir.join(format!(".m.keras.{}-99999.rkeras-tmp", std::process::id()));
        let other = dir.join(".epoch-3.weights.h5.4294967295-7.rkeras-tmp");
        let user = dir.join(".notes.4294967295.txt");
        for p in [&dead, &ours, &other, &user] {
            std::fs::write(p, b"partial").expect("stale file");
        }
        write_atomic(&dir.join("m.keras"), b"new").expect("write");
        assert!(!dead.exists(), "a dead process's file is removed");
        assert!(!other.exists(), "whatever target it was for");
        assert!(ours.exists(), "this process's own files are left to it");
        assert!(user.exists(), "files not named as ours are never touched");
        std::fs::remove_dir_all(&dir).ok();
    }
}
