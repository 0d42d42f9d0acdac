//! Times each augmentation of the CLI's `--augment` pipeline on 64x64x3 images.
//! `cargo run --release -p rkeras --example augment_speed`
use rkeras::preprocessing::Pipeline;
use std::time::Instant;

fn main() -> rkeras::Result<()> {
    let img: Vec<f32> = (0..64 * 64 * 3).map(|v| (v % 251) as f32).collect();
    for spec in [
        "flip=horizontal",
        "rotation=0.1",
        "zoom=0.1",
        "contrast=0.2",
        "rotation=0.1,zoom=0.1",
        "flip=horizontal,rotation=0.1,zoom=0.1,contrast=0.2",
    ] {
        let p = Pipeline::parse(spec)?;
        let mut x = img.clone();
        let mut scratch = Vec::new();
        let n = 4000;
        let t = Instant::now();
        for i in 0..n {
            x.copy_from_slice(&img);
            p.apply_one(&mut x, [64, 64, 3], 1, i, &mut scratch);
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{spec:55} {us:8.1} us/image ({:.0} img/s)", 1e6 / us);
    }
    Ok(())
}
