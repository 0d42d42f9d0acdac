//! The small HDF5 interface rkeras needs, over the pure-Rust `hdf5-pure` crate: write a tree
//! of groups, `f32`/`i64` datasets and string attributes in one go; read datasets, child
//! names and string attributes back. Keeping it this narrow lets the crate be swapped.

use crate::error::{Error, Result};
use hdf5_pure::AttrValue;
use std::path::Path;

/// Dataset values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// A group to write: attributes, datasets (name, shape, values) and sub-groups.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    pub name: String,
    pub attrs: Vec<(String, AttrValue)>,
    pub datasets: Vec<(String, Vec<u64>, Data)>,
    pub groups: Vec<Group>,
}

impl Group {
    pub fn new(name: &str) -> Group {
        Group {
            name: name.into(),
            ..Group::default()
        }
    }
    /// A variable-length UTF-8 string attribute (what h5py writes for Python strings).
    pub fn attr_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.attrs
            .push((k.into(), AttrValue::VarLenString(v.into())));
        self
    }
    /// An array of variable-length strings; an empty list is written as h5py writes `[]`
    /// (an empty float64 array).
    pub fn attr_strs(&mut self, k: &str, v: &[String]) -> &mut Self {
        let value = if v.is_empty() {
            AttrValue::F64Array(Vec::new())
        } else {
            AttrValue::VarLenStringArray(v.to_vec())
        };
        self.attrs.push((k.into(), value));
        self
    }
    pub fn dataset(&mut self, name: &str, shape: &[usize], data: Data) -> &mut Self {
        let shape = shape.iter().map(|d| *d as u64).collect();
        self.datasets.push((name.into(), shape, data));
        self
    }
    /// The child group `name`, created when missing.
    pub fn child(&mut self, name: &str) -> &mut Group {
        if let Some(i) = self.groups.iter().position(|g| g.name == name) {
            return &mut self.groups[i];
        }
        self.groups.push(Group::new(name));
        let last = self.groups.len() - 1;
        &mut self.groups[last]
    }
}

fn fill_dataset(b: &mut hdf5_pure::DatasetBuilder, shape: &[u64], data: &Data) {
    match data {
        Data::F32(v) => b.with_f32_data(v),
        Data::I32(v) => b.with_i32_data(v),
        Data::I64(v) => b.with_i64_data(v),
    };
    b.with_shape(shape);
}

fn build_group(g: &Group, b: &mut hdf5_pure::GroupBuilder) {
    for (k, v) in &g.attrs {
        b.set_attr(k, v.clone());
    }
    for (name, shape, data) in &g.datasets {
        fill_dataset(b.create_dataset(name), shape, data);
    }
    for sub in &g.groups {
        let mut sb = b.create_group(&sub.name);
        build_group(sub, &mut sb);
        b.add_group(sb.finish());
    }
}

fn h5err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: format!("HDF5: {e}"),
    }
}

/// Serializes `root` (its own name is ignored) to HDF5 bytes.
pub(crate) fn to_bytes(root: &Group, path: &Path) -> Result<Vec<u8>> {
    let mut fb = hdf5_pure::FileBuilder::new();
    for (k, v) in &root.attrs {
        fb.set_attr(k, v.clone());
    }
    for (name, shape, data) in &root.datasets {
        fill_dataset(fb.create_dataset(name), shape, data);
    }
    for sub in &root.groups {
        let mut sb = fb.create_group(&sub.name);
        build_group(sub, &mut sb);
        fb.add_group(sb.finish());
    }
    fb.finish().map_err(|e| h5err(path, e))
}

/// An HDF5 file opened for reading.
pub(crate) struct Reader {
    file: hdf5_pure::File,
    path: std::path::PathBuf,
}

impl Reader {
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Reader> {
        if !hdf5_pure::is_hdf5_bytes(&bytes) {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: "not an HDF5 file (no HDF5 signature)".into(),
            });
        }
        let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| h5err(path, e))?;
        Ok(Reader {
            file,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Format {
            path: self.path.clone(),
            message: format!("{what}: {e}"),
        }
    }

    /// True when `path` names a group.
    pub fn has_group(&self, path: &str) -> bool {
        self.file.group(path).is_ok()
    }

    /// Names of the datasets directly in group `path`.
    pub fn datasets(&self, path: &str) -> Result<Vec<String>> {
        let g = self.group(path)?;
        g.datasets().map_err(|e| self.err(path, e))
    }

    fn group(&self, path: &str) -> Result<hdf5_pure::Group> {
        if path.is_empty() || path == "/" {
            return Ok(self.file.root());
        }
        self.file
            .group(path)
            .map_err(|e| self.err(&format!("missing group \"{path}\""), e))
    }

    fn open_dataset(&self, path: &str) -> Result<(hdf5_pure::Dataset, Vec<usize>)> {
        let d = self
            .file
            .dataset(path)
            .map_err(|e| self.err(&format!("missing dataset \"{path}\""), e))?;
        let shape: Vec<usize> = d
            .shape()
            .map_err(|e| self.err(path, e))?
            .iter()
            .map(|v| usize::try_from(*v).unwrap_or(usize::MAX))
            .collect();
        match shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d)) {
            Some(n) if n <= 1 << 31 => Ok((d, shape)),
            _ => Err(self.err(
                path,
                format!("implausibly large dataset of shape {shape:?}"),
            )),
        }
    }

    /// A dataset's shape, without reading its values.
    pub fn shape(&self, path: &str) -> Result<Vec<usize>> {
        Ok(self.open_dataset(path)?.1)
    }

    /// The first value of an integer dataset (a counter such as the optimizer's iteration).
    pub fn read_i64_scalar(&self, path: &str) -> Result<i64> {
        let (d, _) = self.open_dataset(path)?;
        let v = d.read_i64().map_err(|e| self.err(path, e))?;
        v.first()
            .copied()
            .ok_or_else(|| self.err(path, "an empty dataset where a counter was expected"))
    }

    /// A dataset's shape and values as `f32` (any numeric type converts).
    pub fn read_f32(&self, path: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (d, shape) = self.open_dataset(path)?;
        let n: usize = shape.iter().product();
        let v = d.read_f32().map_err(|e| self.err(path, e))?;
        if v.len() != n {
            return Err(self.err(path, format!("{} values for shape {shape:?}", v.len())));
        }
        Ok((shape, v))
    }

    /// A string attribute (fixed or variable length) of the object at `path`.
    pub fn attr_str(&self, path: &str, name: &str) -> Result<Option<String>> {
        Ok(match self.attr(path, name)? {
            Some(AttrValue::String(s))
            | Some(AttrValue::VarLenString(s))
            | Some(AttrValue::AsciiString(s))
            | Some(AttrValue::VarLenAsciiString(s)) => Some(s),
            Some(AttrValue::StringSized { value, .. })
            | Some(AttrValue::AsciiStringSized { value, .. }) => Some(value),
            Some(other) => {
                return Err(self.err(path, format!("attribute {name} is not a string: {other:?}")))
            }
            None => None,
        })
    }

    /// A string-list attribute (fixed or variable length); an empty numeric array reads as
    /// an empty list (h5py writes `[]` as float64).
    pub fn attr_strs(&self, path: &str, name: &str) -> Result<Option<Vec<String>>> {
        Ok(match self.attr(path, name)? {
            Some(AttrValue::StringArray(v))
            | Some(AttrValue::VarLenStringArray(v))
            | Some(AttrValue::AsciiStringArray(v))
            | Some(AttrValue::VarLenAsciiStringArray(v)) => Some(v),
            Some(AttrValue::StringArraySized { values, .. })
            | Some(AttrValue::AsciiStringArraySized { values, .. }) => Some(values),
            Some(AttrValue::F64Array(v)) if v.is_empty() => Some(Vec::new()),
            Some(AttrValue::String(s)) | Some(AttrValue::VarLenString(s)) => Some(vec![s]),
            Some(other) => {
                return Err(self.err(
                    path,
                    format!("attribute {name} is not a list of strings: {other:?}"),
                ))
            }
            None => None,
        })
    }

    fn attr(&self, path: &str, name: &str) -> Result<Option<AttrValue>> {
        let attrs = if let Ok(g) = self.group(path) {
            g.attrs().map_err(|e| self.err(path, e))?
        } else {
            self.file
                .dataset(path)
                .and_then(|d| d.attrs())
                .map_err(|e| self.err(path, e))?
        };
        Ok(attrs.get(name).cloned())
    }
}
