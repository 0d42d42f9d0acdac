//! Walking a folder the way Keras's `index_directory` does: class folders in code-point
//! order, a recursive walk per class (roots sorted by path, files by name), Keras's five
//! extensions matched case-insensitively; plus a record of everything that was ignored.

use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Keras's `ALLOWLIST_FORMATS`.
pub const ALLOWED_FORMATS: [&str; 5] = [".bmp", ".gif", ".jpeg", ".jpg", ".png"];

/// The allowed formats as Keras prints them in its messages.
pub(crate) fn allowed_formats_str() -> String {
    let quoted: Vec<String> = ALLOWED_FORMATS.iter().map(|f| format!("'{f}'")).collect();
    format!("({})", quoted.join(", "))
}

/// A list of names as Python prints it: `['a', 'b']`.
pub(crate) fn py_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// What the walk skipped, so a surprising count can be explained.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ignored {
    /// Files directly in the top folder (labels are inferred from sub-folders only).
    pub top_level_files: Vec<PathBuf>,
    /// Folders whose name starts with `.` at class level.
    pub hidden_dirs: Vec<PathBuf>,
    /// Files with an extension Keras does not read, counted per lower-cased extension.
    pub unsupported: BTreeMap<String, usize>,
    /// A few of those files, for the message.
    pub unsupported_examples: Vec<PathBuf>,
    /// Symbolic links to folders that were not followed (`follow_links` is off).
    pub unfollowed_links: Vec<PathBuf>,
}

impl Ignored {
    /// True when nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.top_level_files.is_empty()
            && self.hidden_dirs.is_empty()
            && self.unsupported.is_empty()
            && self.unfollowed_links.is_empty()
    }

    /// One line per kind of skipped entry.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.top_level_files.is_empty() {
            out.push(format!(
                "{} file(s) directly in the top folder (labels come from sub-folders), e.g. {}",
                self.top_level_files.len(),
                self.top_level_files[0].display()
            ));
        }
        if !self.unsupported.is_empty() {
            let kinds: Vec<String> = self
                .unsupported
                .iter()
                .map(|(e, n)| format!("{e}: {n}"))
                .collect();
            let eg = self
                .unsupported_examples
                .first()
                .map(|p| format!(", e.g. {}", p.display()))
                .unwrap_or_default();
            out.push(format!(
                "{} file(s) with an unsupported extension ({}){eg}",
                self.unsupported.values().sum::<usize>(),
                kinds.join(", ")
            ));
        }
        if !self.hidden_dirs.is_empty() {
            let names: Vec<String> = self
                .hidden_dirs
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            out.push(format!("hidden folder(s): {}", names.join(", ")));
        }
        if !self.unfollowed_links.is_empty() {
            out.push(format!(
                "{} symbolic link(s) to folders not followed (set follow_links), e.g. {}",
                self.unfollowed_links.len(),
                self.unfollowed_links[0].display()
            ));
        }
        out
    }

    fn note_unsupported(&mut self, path: &Path) {
        let ext = path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "(no extension)".into());
        *self.unsupported.entry(ext).or_insert(0) += 1;
        if self.unsupported_examples.len() < 3 {
            self.unsupported_examples.push(path.to_path_buf());
        }
    }
}

/// The files found, in sorted walk order (before any shuffle).
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub paths: Vec<PathBuf>,
    /// Class index per file (`None` when the walk is not per class).
    pub classes: Vec<usize>,
    pub class_names: Vec<String>,
    pub ignored: Ignored,
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// True when the name ends with one of Keras's extensions, case-insensitively.
pub(crate) fn has_allowed_extension(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    ALLOWED_FORMATS.iter().any(|ext| {
        bytes.len() >= ext.len()
            && bytes[bytes.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
    })
}

/// Sub-folders of `dir` usable as classes (not starting with `.`), in code-point order.
pub(crate) fn class_dirs(dir: &Path, ignored: &mut Ignored) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        // `os.path.isdir` follows symbolic links.
        let is_dir = std::fs::metadata(&path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        let name = entry.file_name();
        if !is_dir {
            ignored.top_level_files.push(path);
            continue;
        }
        let Some(name) = name.to_str() else {
            return Err(Error::Format {
                path,
                message: "class folder name is not valid UTF-8; rename it (class names are text)"
                    .into(),
            });
        };
        if name.starts_with('.') {
            ignored.hidden_dirs.push(path);
            continue;
        }
        names.push(name.to_string());
    }
    names.sort_unstable();
    ignored.top_level_files.sort();
    Ok(names)
}

/// Every file of `dir` with an allowed extension, recursively, in Keras's order: walk roots
/// sorted by their path, files sorted by name within a root.
pub(crate) fn walk_files(
    dir: &Path,
    follow_links: bool,
    ignored: &mut Ignored,
) -> Result<Vec<PathBuf>> {
    let mut roots: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut visited: HashSet<PathBuf> = HashSet::new();
    if follow_links {
        visited.insert(std::fs::canonicalize(dir).map_err(|e| io_err(dir, e))?);
    }
    while let Some(root) = stack.pop() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(|e| io_err(&root, e))? {
            let entry = entry.map_err(|e| io_err(&root, e))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| io_err(&path, e))?;
            let is_link = ft.is_symlink();
            // Like `os.walk`: a link to a folder counts as a folder (descended only when
            // following links); a broken link counts as a file.
            let is_dir = if is_link {
                std::fs::metadata(&path)
                    .map(|m| m.is_dir())
                    .unwrap_or(false)
            } else {
                ft.is_dir()
            };
            if is_dir {
                if is_link && !follow_links {
                    ignored.unfollowed_links.push(path);
                    continue;
                }
                if follow_links {
                    let real = std::fs::canonicalize(&path).map_err(|e| io_err(&path, e))?;
                    if !visited.insert(real.clone()) {
                        return Err(Error::Format {
                            path,
                            message: format!(
                                "symbolic link loop: this folder leads back to {}, already walked; remove the link or turn follow_links off",
                                real.display()
                            ),
                        });
                    }
                }
                stack.push(path);
            } else if has_allowed_extension(&entry.file_name()) {
                files.push(path);
            } else {
                ignored.note_unsupported(&path);
            }
        }
        files.sort_unstable_by(|a, b| a.file_name().cmp(&b.file_name()));
        roots.push((root, files));
    }
    roots.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Ok(roots.into_iter().flat_map(|(_, f)| f).collect())
}

/// Indexes `dir`: per class folder when `inferred`, else the whole tree as one.
pub(crate) fn index(
    dir: &Path,
    inferred: bool,
    class_names: Option<&[String]>,
    follow_links: bool,
) -> Result<Index> {
    let meta = std::fs::metadata(dir).map_err(|e| io_err(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::Format {
            path: dir.to_path_buf(),
            message: "not a directory: image_dataset_from_directory expects a folder".into(),
        });
    }
    let mut out = Index::default();
    if !inferred {
        out.paths = walk_files(dir, follow_links, &mut out.ignored)?;
        return Ok(out);
    }
    let mut subdirs = class_dirs(dir, &mut out.ignored)?;
    if let Some(names) = class_names {
        if let Some(bad) = names.iter().find(|n| !subdirs.contains(n)) {
            return Err(Error::arg(
                "class_names",
                "",
                format!(
                    "The `class_names` passed did not match the names of the subdirectories of the target directory. Expected: {} (or a subset of it), but received: class_names={} ('{bad}' is not a sub-folder of {})",
                    py_list(&subdirs),
                    py_list(names),
                    dir.display()
                ),
            ));
        }
        subdirs = names.to_vec();
    }
    for (k, name) in subdirs.iter().enumerate() {
        let files = walk_files(&dir.join(name), follow_links, &mut out.ignored)?;
        out.classes.extend(std::iter::repeat_n(k, files.len()));
        out.paths.extend(files);
    }
    out.class_names = subdirs;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_match_case_insensitively() {
        for ok in ["a.png", "b.JPG", "c.Jpeg", "d.bmp", "e.GIF", ".png"] {
            assert!(has_allowed_extension(OsStr::new(ok)), "{ok}");
        }
        for bad in ["a.webp", "b.tiff", "c.txt", "png", "d.jpg.bak"] {
            assert!(!has_allowed_extension(OsStr::new(bad)), "{bad}");
        }
    }
}
