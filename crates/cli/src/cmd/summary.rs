//! `rkeras summary --model seed`: the Keras summary table of a built-in model.

use crate::models::ModelKind;
use anyhow::Result;

pub fn run(model: ModelKind, line_length: Option<usize>) -> Result<()> {
    let m = model.build(model.default_input(), 10)?;
    print!("{}", m.summary_string(line_length));
    Ok(())
}
