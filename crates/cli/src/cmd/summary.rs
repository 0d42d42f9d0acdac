//! `rkeras summary [MODEL]`: the Keras summary table of a saved model (`.keras`, legacy
//! `.h5`, or a Keras config `.json`) or of a built-in model (`--model seed`).

use crate::models::ModelKind;
use anyhow::{Context, Result};
use std::path::Path;

pub fn run(model: ModelKind, line_length: Option<usize>) -> Result<()> {
    if let ModelKind::Config(path) | ModelKind::Saved(path) = &model {
        return run_file(path, line_length);
    }
    let m = model.build(model.default_input(), 10)?;
    print!("{}", m.summary_string(line_length));
    Ok(())
}

pub fn run_file(path: &Path, line_length: Option<usize>) -> Result<()> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let m = if is_json {
        rkeras::saving::model_from_json_file(path)
            .with_context(|| format!("building the model of {}", path.display()))?
    } else {
        rkeras::saving::load_model(path)?
    };
    print!("{}", m.summary_string(line_length));
    Ok(())
}
