//! `rkeras export`: writes a dataset as a folder of images per class, the layout
//! `rkeras train DIR` and Keras's `image_dataset_from_directory` read.

use anyhow::{bail, Context, Result};
use rkeras::data::export::{write_image_folder_as, ExportFormat};
use rkeras::data::{fashion_mnist, shapes};
use std::path::{Path, PathBuf};

pub fn run(
    dataset: &str,
    output: &Path,
    format: &str,
    count: Option<usize>,
    size: usize,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    let format = match format {
        "png" => ExportFormat::Png,
        "jpeg" | "jpg" => ExportFormat::Jpeg,
        "mixed" => ExportFormat::Alternate,
        other => bail!("unknown --format '{other}'; known: png, jpeg, mixed"),
    };
    let (x, labels, names, scale): (rkeras::Tensor, Vec<usize>, Vec<String>, f32) = match dataset {
        "fashion-mnist" => {
            let dir = data_dir.unwrap_or_else(fashion_mnist::default_dir);
            let (train, _) =
                fashion_mnist::load_data_from(&dir).context("loading Fashion-MNIST")?;
            let n = count.unwrap_or(train.x.rows()).min(train.x.rows());
            let labels = train.y.data()[..n].iter().map(|v| *v as usize).collect();
            // "T-shirt/top" is not a folder name.
            let names = fashion_mnist::CLASS_NAMES
                .iter()
                .map(|s| s.replace('/', "_"))
                .collect();
            (train.x.slice_rows(0, n), labels, names, 255.0)
        }
        "shapes" => {
            let (x, y) = shapes::generate(count.unwrap_or(2000), size, 7);
            let labels = y.data().iter().map(|v| *v as usize).collect();
            let names = shapes::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
            (x, labels, names, 255.0)
        }
        other => bail!("unknown --dataset '{other}'; known: fashion-mnist, shapes"),
    };
    let written = write_image_folder_as(output, &x, &labels, &names, scale, format)
        .with_context(|| format!("writing {}", output.display()))?;
    println!(
        "Wrote {written} images in {} class folders under {}",
        names.len(),
        output.display()
    );
    Ok(())
}
