//! Plotting a [`History`]: one panel per metric (training and validation curves, the best
//! epoch marked), drawn with `plotters` to PNG or SVG.
//!
//! The font (DejaVu Sans) is compiled in, so plots render the same on a machine with no
//! fonts installed.

use super::history::History;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Width of one panel, in pixels.
const PANEL_W: u32 = 640;
/// Height of the figure, in pixels.
const FIG_H: u32 = 480;
const FONT: &str = "sans-serif";
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALID: RGBColor = RGBColor(255, 127, 14);
const BEST: RGBColor = RGBColor(214, 39, 40);

/// One panel: a metric's training and validation curves.
#[derive(Debug)]
struct Panel {
    name: String,
    train: Option<Vec<f64>>,
    valid: Option<Vec<f64>>,
    /// (epoch, value) of the best validation value (training when there is none).
    best: Option<(usize, f64)>,
    lower_is_better: Option<bool>,
}

impl Panel {
    fn series(&self) -> impl Iterator<Item = &Vec<f64>> {
        self.train.iter().chain(self.valid.iter())
    }

    /// The y range over every finite value, padded by 5%.
    fn y_range(&self) -> Option<(f64, f64)> {
        let vals = self.series().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = vals.fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })?;
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            (lo.abs() * 0.1).max(0.05)
        };
        Some((lo - pad, hi + pad))
    }
}

/// The panels to draw: every metric but the learning rate (accuracy-like metrics first,
/// then the loss, as the usual two-panel Keras figure has them), each with its `val_` twin.
fn panels(history: &History) -> Vec<Panel> {
    let mut names: Vec<&str> = Vec::new();
    for key in history.history.keys() {
        let base = key.strip_prefix("val_").unwrap_or(key);
        if !names.contains(&base) {
            names.push(base);
        }
    }
    let skip = |n: &str| n == "learning_rate" || n == "lr";
    if names.iter().any(|n| !skip(n)) {
        names.retain(|n| !skip(n));
    }
    names.sort_by_key(|n| (*n == "loss", n.to_string()));
    names
        .into_iter()
        .map(|name| {
            let train = history.get(name).map(<[f64]>::to_vec);
            let valid = history.get(&format!("val_{name}")).map(<[f64]>::to_vec);
            let lower_is_better = super::monitor::direction(name);
            let best = lower_is_better.and_then(|lower| {
                let s = valid.as_ref().or(train.as_ref())?;
                best_epoch(s, lower)
            });
            Panel {
                name: name.to_string(),
                train,
                valid,
                best,
                lower_is_better,
            }
        })
        .collect()
}

/// The first epoch with the best finite value.
fn best_epoch(values: &[f64], lower: bool) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, b)) => (lower && v < b) || (!lower && v > b),
        };
        if better {
            best = Some((i, v));
        }
    }
    best
}

fn title(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// Registers the embedded DejaVu Sans as plotters' `sans-serif`, once per process.
fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::State(
            "the embedded plot font (DejaVu Sans) could not be loaded".into(),
        ))
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
    epochs: usize,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len()));
    // Epochs count from 1 on the axis, as `fit` prints them.
    let x_max = epochs.max(2) as i32;
    for (area, panel) in areas.iter().zip(panels) {
        let Some((lo, hi)) = panel.y_range() else {
            area.titled(
                &format!("{}: no finite values", title(&panel.name)),
                (FONT, 20),
            )?;
            continue;
        };
        let mut chart = ChartBuilder::on(area)
            .caption(title(&panel.name), (FONT, 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(1..x_max, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("Epoch")
            .y_desc(panel.name.as_str())
            .x_labels(epochs.clamp(2, 10))
            .y_labels(8)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let curves = [
            (&panel.train, TRAIN, panel.name.clone()),
            (&panel.valid, VALID, format!("val_{}", panel.name)),
        ];
        for (values, color, label) in curves {
            let Some(values) = values else { continue };
            let points: Vec<(i32, f64)> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| (i as i32 + 1, v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
        if let Some((epoch, value)) = panel.best {
            let x = epoch as i32 + 1;
            let line = BEST.mix(0.6).stroke_width(1);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, lo), (x, hi)],
                    line,
                )))?
                .label(format!("best: epoch {x} ({value:.4})"))
                .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 20, ly)], line));
            chart.draw_series(std::iter::once(Circle::new(
                (x, value),
                7,
                BEST.stroke_width(2),
            )))?;
        }
        let position = match panel.lower_is_better {
            Some(false) => SeriesLabelPosition::LowerRight,
            _ => SeriesLabelPosition::UpperRight,
        };
        chart
            .configure_series_labels()
            .position(position)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 14))
            .draw()?;
    }
    root.present()
}

fn plot_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::State(format!("could not draw the history plot ({what}): {e}"))
}

impl History {
    fn checked_panels(&self) -> Result<(Vec<Panel>, usize)> {
        let epochs = self.history.values().map(Vec::len).max().unwrap_or(0);
        if epochs == 0 {
            return Err(Error::Data("the history has no epochs to plot".into()));
        }
        register_font()?;
        Ok((panels(self), epochs))
    }

    fn size(panels: usize) -> (u32, u32) {
        (PANEL_W * panels.max(1) as u32, FIG_H)
    }

    /// The history plot as an SVG document: one panel per metric (accuracy, then loss),
    /// with training and validation curves, axes labelled, a legend, and the best epoch
    /// marked.
    ///
    /// ```
    /// let mut history = rkeras::callbacks::History::default();
    /// history.history.insert("loss".into(), vec![0.9, 0.5, 0.4]);
    /// history.history.insert("val_loss".into(), vec![0.8, 0.6, 0.7]);
    /// let svg = history.to_svg()?;
    /// assert!(svg.contains("val_loss") && svg.contains("best: epoch 2"));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// The history is empty.
    pub fn to_svg(&self) -> Result<String> {
        let (panels, epochs) = self.checked_panels()?;
        let mut svg = String::new();
        {
            let root =
                SVGBackend::with_string(&mut svg, Self::size(panels.len())).into_drawing_area();
            draw(&root, &panels, epochs).map_err(|e| plot_error("svg", e))?;
        }
        Ok(svg)
    }

    /// The history plot (as [`History::to_svg`] draws it) as PNG file bytes.
    ///
    /// ```
    /// let mut history = rkeras::callbacks::History::default();
    /// history.history.insert("accuracy".into(), vec![0.6, 0.8]);
    /// let png = history.to_png()?;
    /// assert_eq!(&png[1..4], b"PNG");
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// The history is empty.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        use image::ImageEncoder;
        let (panels, epochs) = self.checked_panels()?;
        let (w, h) = Self::size(panels.len());
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            draw(&root, &panels, epochs).map_err(|e| plot_error("png", e))?;
        }
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| plot_error("png encoding", e))?;
        Ok(png)
    }

    /// Plots the history to `path`: SVG for a `.svg` name, PNG for `.png`. The file is
    /// written atomically.
    ///
    /// ```no_run
    /// # let history = rkeras::callbacks::History::default();
    /// history.plot("history.png")?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Another extension, an empty history, or a file that cannot be written.
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let bytes = match ext.as_deref() {
            Some("png") => self.to_png()?,
            Some("svg") => self.to_svg()?.into_bytes(),
            _ => {
                return Err(Error::arg(
                    "path",
                    "",
                    format!(
                        "a history plot is written as .png or .svg, got {}",
                        path.display()
                    ),
                ))
            }
        };
        crate::fsio::write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(pairs: &[(&str, &[f64])]) -> History {
        let mut h = History::default();
        for (k, v) in pairs {
            h.history.insert(k.to_string(), v.to_vec());
        }
        h.epoch = (0..pairs.first().map_or(0, |p| p.1.len())).collect();
        h
    }

    #[test]
    fn panels_put_accuracy_before_loss_and_mark_the_best_validation_epoch() {
        let h = history(&[
            ("accuracy", &[0.5, 0.7, 0.8]),
            ("learning_rate", &[0.001; 3]),
            ("loss", &[1.0, 0.7, 0.5]),
            ("val_accuracy", &[0.6, 0.75, 0.74]),
            ("val_loss", &[0.9, 0.6, 0.65]),
        ]);
        let p = panels(&h);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["accuracy", "loss"]);
        assert_eq!(p[0].best, Some((1, 0.75)));
        assert_eq!(p[1].best, Some((1, 0.6)));
        // Without validation, the training curve decides.
        let p = panels(&history(&[("loss", &[1.0, f64::NAN, 0.5, 0.5])]));
        assert_eq!(p[0].best, Some((2, 0.5)));
        assert!(p[0].valid.is_none());
    }

    #[test]
    fn png_has_the_figure_size_and_draws_both_curves_and_text() {
        let h = history(&[
            ("accuracy", &[0.5, 0.7, 0.8, 0.85]),
            ("loss", &[1.0, 0.7, 0.5, 0.4]),
            ("val_accuracy", &[0.6, 0.75, 0.74, 0.8]),
            ("val_loss", &[0.9, 0.6, 0.65, 0.6]),
        ]);
        let png = h.to_png().expect("png");
        let img = image::load_from_memory(&png).expect("decodes").to_rgb8();
        assert_eq!(img.dimensions(), (2 * PANEL_W, FIG_H));
        let count = |c: RGBColor| img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        assert!(count(TRAIN) > 200, "training curves drawn");
        assert!(count(VALID) > 200, "validation curves drawn");
        // Text (titles, tick labels, legend) is anti-aliased grey-to-black, from the
        // embedded font.
        let dark = img.pixels().filter(|p| p.0.iter().all(|&v| v < 60)).count();
        assert!(dark > 500, "text and axes drawn, {dark} dark pixels");
    }

    #[test]
    fn svg_labels_axes_legend_and_best_epoch() {
        let h = history(&[("loss", &[1.0, 0.7]), ("val_loss", &[0.9, 0.95])]);
        let svg = h.to_svg().expect("svg");
        for needle in [
            "Epoch",
            "Loss",
            "val_loss",
            "best: epoch 1 (0.9000)",
            "<svg",
        ] {
            assert!(svg.contains(needle), "{needle} missing");
        }
    }

    #[test]
    fn a_single_epoch_and_non_finite_values_still_plot() {
        let h = history(&[("loss", &[f64::NAN]), ("accuracy", &[0.5])]);
        assert!(h.to_png().is_ok());
    }

    #[test]
    fn bad_requests_are_errors() {
        let e = History::default().to_png().expect_err("empty");
        assert!(e.to_string().contains("no epochs"), "{e}");
        let h = history(&[("loss", &[1.0])]);
        let e = h.plot("history.jpg").expect_err("extension");
        assert!(e.to_string().contains(".png or .svg"), "{e}");
    }
}
