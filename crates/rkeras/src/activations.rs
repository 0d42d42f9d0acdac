//! Activation names as Keras spells them, mapped to the kernels' [`Act`].

use crate::error::{Error, Result};
pub use rkeras_kernels::Act;

const NAMES: &[&str] = &[
    "linear",
    "relu",
    "relu6",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "elu",
    "selu",
    "leaky_relu",
    "gelu",
    "swish",
    "silu",
    "softplus",
    "softsign",
    "exponential",
    "softmax",
    "hard_silu",
    "hard_swish",
    "mish",
];

/// Parses a Keras activation name (`None`/`"linear"` is the identity).
///
/// ```
/// use rkeras::activations::{parse, Act};
/// assert_eq!(parse("relu")?, Act::Relu);
/// assert!(parse("relux").is_err());
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// Unknown names, listing the known ones.
pub fn parse(name: &str) -> Result<Act> {
    Ok(match name {
        "linear" | "" => Act::Linear,
        "relu" => Act::Relu,
        "relu6" => Act::Relu6,
        "sigmoid" => Act::Sigmoid,
        "hard_sigmoid" => Act::HardSigmoid,
        "tanh" => Act::Tanh,
        "elu" => Act::Elu(1.0),
        "selu" => Act::Selu,
        "leaky_relu" => Act::LeakyRelu(0.2),
        "gelu" => Act::Gelu(false),
        "swish" | "silu" => Act::Swish,
        "softplus" => Act::Softplus,
        "softsign" => Act::Softsign,
        "exponential" => Act::Exponential,
        "softmax" => Act::Softmax,
        "hard_silu" | "hard_swish" => Act::HardSilu,
        "mish" => Act::Mish,
        _ => return Err(Error::unknown("activation", name, NAMES)),
    })
}

/// The Keras name of an activation (what `get_config` stores).
pub fn name(act: Act) -> &'static str {
    match act {
        Act::Linear => "linear",
        Act::Relu => "relu",
        Act::Relu6 => "relu6",
        Act::Sigmoid => "sigmoid",
        Act::HardSigmoid => "hard_sigmoid",
        Act::Tanh => "tanh",
        Act::Elu(_) => "elu",
        Act::Selu => "selu",
        Act::LeakyRelu(_) => "leaky_relu",
        Act::Gelu(_) => "gelu",
        Act::Swish => "silu",
        Act::Softplus => "softplus",
        Act::Softsign => "softsign",
        Act::Exponential => "exponential",
        Act::Softmax => "softmax",
        Act::HardSilu => "hard_silu",
        Act::Mish => "mish",
        // Only the ReLU layer makes it; as a name it is the plain relu.
        Act::ReluWith { .. } => "relu",
    }
}

/// Every activation name accepted by [`parse`].
pub fn known() -> &'static [&'static str] {
    NAMES
}
