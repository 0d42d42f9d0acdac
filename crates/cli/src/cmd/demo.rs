//! `rkeras demo`: the seed's CNN learning coloured shapes it draws itself. No download, no
//! arguments, about a minute on two cores.

use super::compile;
use crate::models::ModelKind;
use crate::plan::FitPlan;
use anyhow::Result;
use rkeras::data::shapes;

pub fn run(samples: usize, fit: &FitPlan) -> Result<()> {
    let size = 64;
    println!(
        "Generating {samples} training and {} test images of {size}x{size}x3 coloured shapes: {}",
        samples / 5,
        shapes::CLASS_NAMES.join(", ")
    );
    let (x, y) = shapes::generate(samples, size, fit.seed);
    let (xt, yt) = shapes::generate((samples / 5).max(4), size, fit.seed.wrapping_add(1));
    rkeras::set_random_seed(fit.seed);
    let mut model = ModelKind::Seed.build((size, size, 3), shapes::CLASS_NAMES.len())?;
    model.summary();
    compile(&mut model, fit)?;
    let history = model
        .fit(&x, &y)
        .epochs(fit.epochs)
        .batch_size(fit.batch_size)
        .validation_split(fit.validation_split)
        .verbose(fit.verbose)
        .seed(fit.seed)
        .run()?;
    let score = model.evaluate_batched(&xt, &yt, fit.batch_size)?;
    if let (Some(first), Some(last)) = (
        history.get("loss").and_then(|l| l.first()),
        history.last("loss"),
    ) {
        println!("Training loss went from {first:.4} to {last:.4}");
    }
    println!("Test loss: {:.4}", score.loss());
    println!(
        "Test accuracy: {:.4}",
        score.get("accuracy").unwrap_or(f64::NAN)
    );
    Ok(())
}
