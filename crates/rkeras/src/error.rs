//! The one error type of the library. Messages say what was expected and what was received,
//! and name the layer, argument or file at fault.

use std::path::PathBuf;

/// Everything that can go wrong in rkeras.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer received an input it cannot take.
    #[error("Input 0 of layer \"{layer}\" is incompatible with the layer: expected {expected}, received input shape {received}")]
    IncompatibleShape {
        /// Layer name.
        layer: String,
        /// What the layer expects, in words.
        expected: String,
        /// The shape it received, Keras-style.
        received: String,
    },
    /// An argument has a value outside what it accepts.
    #[error("Invalid value for argument `{arg}`{context}: {message}")]
    InvalidArgument {
        /// The argument's name (`rate`, `batch_size`, ...).
        arg: String,
        /// ` of layer "name"` or empty.
        context: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A name (activation, loss, optimizer, metric, initializer) is unknown.
    #[error("Unknown {kind}: '{name}'. Known {kind}s: {known}")]
    UnknownName {
        /// What kind of thing ("activation", "loss", ...).
        kind: &'static str,
        /// The name received.
        name: String,
        /// The names accepted, comma-separated.
        known: String,
    },
    /// Data handed to fit/evaluate/predict is unusable.
    #[error("Invalid data: {0}")]
    Data(String),
    /// The model is not in the state the call needs (not built, not compiled...).
    #[error("{0}")]
    State(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A size (from a file, a flag or a config) is more than this machine can hold: checked
    /// before anything is allocated.
    #[error("{what} needs {bytes}, more than this machine's memory limit of {limit}")]
    Memory {
        /// What the memory was for, naming the layer, argument or file.
        what: String,
        /// The size asked for, in words.
        bytes: String,
        /// The limit, in words.
        limit: String,
    },
    /// A file was read but its content is wrong.
    #[error("{path}: {message}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn arg(arg: &str, context: &str, message: impl Into<String>) -> Self {
        let context = if context.is_empty() {
            String::new()
        } else {
            format!(" of layer \"{context}\"")
        };
        Error::InvalidArgument {
            arg: arg.into(),
            context,
            message: message.into(),
        }
    }

    pub(crate) fn unknown(kind: &'static str, name: &str, known: &[&str]) -> Self {
        Error::UnknownName {
            kind,
            name: name.into(),
            known: known.join(", "),
        }
    }
}
