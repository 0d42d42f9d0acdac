//! `summary()`: the Keras 3 table (rich's box characters and column-width arithmetic), with
//! Keras's parameter totals and sizes.

use super::Model;
use crate::model::Entry;
use crate::shape::batch_shape_str;
use std::io::IsTerminal;

/// `1605760` -> `1,605,760`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras's `readable_memory_size`: 1024 steps, two decimals, `B`/`KB`/`MB`/`GB`.
pub fn readable_size(bytes: f64) -> String {
    let mut v = bytes;
    for unit in ["B", "KB", "MB", "GB", "TB"] {
        if v / 1024.0 < 1.0 {
            return format!("{v:.2} {unit}");
        }
        v /= 1024.0;
    }
    format!("{v:.2} PB")
}

/// Python's `round` (half to even).
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        let t = x.trunc() as i64;
        if t % 2 == 0 {
            t
        } else {
            r as i64
        }
    } else {
        r as i64
    }
}

/// rich's `ratio_reduce(total, ratios=[1]*n, maximums=widths, values=widths)`.
fn ratio_reduce(total: usize, widths: &[usize]) -> Vec<usize> {
    let mut total_ratio = widths.len() as i64;
    let mut remaining = total as i64;
    widths
        .iter()
        .map(|&w| {
            let d = (w as i64).min(round_half_even(remaining as f64 / total_ratio as f64));
            remaining -= d;
            total_ratio -= 1;
            (w as i64 - d).max(0) as usize
        })
        .collect()
}

/// Cell widths (padding included) for a table `line_length` wide at relative `positions`.
pub fn column_widths(line_length: usize, positions: &[f64]) -> Vec<usize> {
    let pos: Vec<usize> = positions
        .iter()
        .map(|p| (line_length as f64 * p) as usize)
        .collect();
    let mut widths = vec![pos[0]];
    widths.extend(pos.windows(2).map(|w| w[1] - w[0]));
    let available = line_length.saturating_sub(widths.len() + 1);
    let sum: usize = widths.iter().sum();
    if sum > available {
        widths = ratio_reduce(sum - available, &widths);
    }
    widths
}

/// The default line length: `min(88, columns - 4)`, where columns come from `COLUMNS`, or 80
/// when stdout is not a terminal (Python's fallback).
pub fn default_line_length() -> usize {
    default_line_length_for(88)
}

/// `min(keras_default, columns - 4)`: Keras's default is 88, or 108 for the four-column
/// table of a functional model.
pub fn default_line_length_for(keras_default: usize) -> usize {
    let cols = crate::settings::settings().columns.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            92
        } else {
            80
        }
    });
    keras_default.min(cols.saturating_sub(4)).max(20)
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Splits `text` into lines of at most `width` chars at spaces; over-long words end in `…`.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let word = if char_len(word) > width {
            let mut w: String = word.chars().take(width.saturating_sub(1)).collect();
            w.push('…');
            w
        } else {
            word.to_string()
        };
        if cur.is_empty() {
            cur = word;
        } else if char_len(&cur) + 1 + char_len(&word) <= width {
            cur.push(' ');
            cur.push_str(&word);
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word;
        }
    }
    lines.push(cur);
    lines
}

fn border(widths: &[usize], left: char, fill: char, mid: char, right: char) -> String {
    let mut s = String::new();
    s.push(left);
    for (i, w) in widths.iter().enumerate() {
        s.extend(std::iter::repeat_n(fill, *w));
        s.push(if i + 1 == widths.len() { right } else { mid });
    }
    s.push('\n');
    s
}

fn row(widths: &[usize], cells: &[String], right_align: &[bool], sep: char) -> String {
    let wrapped: Vec<Vec<String>> = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| wrap(c, w.saturating_sub(2)))
        .collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    let mut s = String::new();
    for line in 0..height {
        s.push(sep);
        for (i, w) in widths.iter().enumerate() {
            let text = wrapped[i].get(line).map(String::as_str).unwrap_or("");
            let inner = w.saturating_sub(2);
            let pad = inner.saturating_sub(char_len(text));
            s.push(' ');
            if right_align[i] {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(text);
            } else {
                s.push_str(text);
                s.extend(std::iter::repeat_n(' ', pad));
            }
            s.push(' ');
            s.push(sep);
        }
        s.push('\n');
    }
    s
}

/// The widest table rendered: a larger `line_length` is clamped to it.
pub const MAX_LINE_LENGTH: usize = 10_000;

/// Renders the summary of `model` (see [`Model::summary_string`]); `line_length` is clamped
/// to [`MAX_LINE_LENGTH`].
pub fn render(model: &Model, line_length: Option<usize>) -> String {
    let inbound = model.inbound_names();
    // A functional model whose layers form a plain chain prints like a Sequential one
    // (plus its input row); any other graph gets Keras's "Connected to" column.
    let chain_like = model.graph.as_ref().is_some_and(|g| g.sequential)
        || model.chain.wiring.as_ref().is_none_or(|w| {
            let Some(g) = &model.graph else {
                return false;
            };
            // Each top-level operation (a layer, or a nested model) reads the one before.
            let nest_of: std::collections::HashMap<usize, usize> = g
                .nests
                .iter()
                .enumerate()
                .flat_map(|(k, n)| n.layers().into_iter().map(move |i| (i, k)))
                .collect();
            let first = w.first_call();
            let mut prev = 0usize;
            let mut done = vec![false; g.nests.len()];
            w.inputs.len() == 1
                && w.calls
                    .iter()
                    .enumerate()
                    .all(|(i, c)| match nest_of.get(&c.layer) {
                        Some(&k) => {
                            if done[k] {
                                return true;
                            }
                            done[k] = true;
                            let ok = match g.nests[k].calls.as_slice() {
                                [one] => one.ins == [prev] && one.outs.len() == 1,
                                _ => false,
                            };
                            let call = g.nests[k].calls.first();
                            prev = call.and_then(|c| c.outs.first()).copied().unwrap_or(0);
                            ok
                        }
                        None => {
                            let ok = c.call == 0 && c.ins == [prev];
                            prev = first + i;
                            ok
                        }
                    })
        });
    let (positions, keras_default): (&[f64], usize) = if chain_like {
        (&[0.45, 0.80, 1.0], 88)
    } else {
        (&[0.3, 0.56, 0.74, 1.0], 108)
    };
    let line_length = line_length
        .unwrap_or_else(|| default_line_length_for(keras_default))
        .min(MAX_LINE_LENGTH);
    let widths = column_widths(line_length, positions);
    let align = [false, false, true, false];
    let mut header: Vec<String> = vec![
        "Layer (type)".into(),
        "Output Shape".into(),
        "Param #".into(),
    ];
    if !chain_like {
        header.push("Connected to".into());
    }
    let mut out = format!("Model: \"{}\"\n", model.name());
    out += &border(&widths, '┏', '━', '┳', '┓');
    out += &row(&widths, &header, &align, '┃');
    out += &border(&widths, '┡', '━', '╇', '┩');
    let mut rows: Vec<Vec<String>> = Vec::new();
    let layers = model.layers();
    let order: Vec<Entry> = match &model.graph {
        Some(g) => g.order.clone(),
        None => (0..layers.len()).map(Entry::Layer).collect(),
    };
    let input_shapes = model.input_shapes();
    let input_names = model.input_names();
    for entry in order {
        let mut cells = match entry {
            Entry::Input(_) if model.graph.as_ref().is_some_and(|g| g.sequential) => continue,
            Entry::Input(j) => vec![
                format!(
                    "{} (InputLayer)",
                    input_names.get(j).map_or("input_layer", String::as_str)
                ),
                input_shapes
                    .get(j)
                    .map_or("?".into(), |s| batch_shape_str(s)),
                "0".into(),
            ],
            Entry::Nest(k) => {
                let nest = &model.graph.as_ref().expect("nests live in a graph").nests[k];
                let (shape, params) = if model.built() {
                    let n: usize = nest
                        .layers()
                        .iter()
                        .flat_map(|&i| layers[i].params())
                        .map(|p| p.value.len())
                        .sum();
                    // Keras shows the first call's output (a list of several).
                    let shapes: Vec<String> = nest
                        .calls
                        .first()
                        .map(|c| &c.outs[..])
                        .unwrap_or_default()
                        .iter()
                        .map(|&a| batch_shape_str(model.chain.act_shape(a)))
                        .collect();
                    let shape = match shapes.len() {
                        0 => "?".to_string(),
                        1 => shapes[0].clone(),
                        _ => format!("[{}]", shapes.join(", ")),
                    };
                    (shape, thousands(n))
                } else {
                    ("?".to_string(), "0 (unbuilt)".to_string())
                };
                vec![format!("{} ({})", nest.name, nest.class), shape, params]
            }
            Entry::Layer(i) => {
                let l = &layers[i];
                let (shape, params) = if model.built() {
                    let n: usize = l.params().iter().map(|p| p.value.len()).sum();
                    (batch_shape_str(&model.chain.shapes[i]), thousands(n))
                } else {
                    ("?".to_string(), "0 (unbuilt)".to_string())
                };
                vec![format!("{} ({})", l.name(), l.class_name()), shape, params]
            }
        };
        if !chain_like {
            let from = match entry {
                Entry::Layer(i) => inbound.as_ref().and_then(|all| all.get(i)).cloned(),
                Entry::Nest(k) => model.graph.as_ref().map(|g| {
                    g.nests[k]
                        .calls
                        .iter()
                        .flat_map(|c| &c.ins)
                        .map(|&a| {
                            let (name, node, t) = model.act_producer(a);
                            format!("{name}[{node}][{t}]")
                        })
                        .collect()
                }),
                Entry::Input(_) => None,
            }
            .unwrap_or_default();
            cells.push(if from.is_empty() {
                "-".into()
            } else {
                from.join(", ")
            });
        }
        rows.push(cells);
    }
    for (i, cells) in rows.iter().enumerate() {
        out += &row(&widths, cells, &align, '│');
        if i + 1 < rows.len() {
            out += &border(&widths, '├', '─', '┼', '┤');
        }
    }
    out += &border(&widths, '└', '─', '┴', '┘');
    let (mut trainable, mut frozen) = (0usize, 0usize);
    for l in layers {
        for p in l.params() {
            if p.trainable && l.base().trainable {
                trainable += p.value.len();
            } else {
                frozen += p.value.len();
            }
        }
    }
    let opt = model
        .compiled
        .as_ref()
        .filter(|c| c.optimizer.is_built() && !c.slot_sizes.is_empty())
        .map(|c| c.optimizer.variable_count() + c.optimizer.options().scalar_count());
    let total = trainable + frozen + opt.unwrap_or(0);
    let line = |label: &str, n: usize| {
        format!(
            " {label}: {} ({})\n",
            thousands(n),
            readable_size(n as f64 * 4.0)
        )
    };
    out += &line("Total params", total);
    out += &line("Trainable params", trainable);
    out += &line("Non-trainable params", frozen);
    if let Some(o) = opt {
        out += &line("Optimizer params", o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn widths_match_rich() {
        assert_eq!(column_widths(76, &[0.45, 0.8, 1.0]), vec![33, 24, 15]);
        assert_eq!(column_widths(88, &[0.45, 0.8, 1.0]), vec![38, 29, 17]);
        assert_eq!(column_widths(98, &[0.45, 0.8, 1.0]), vec![43, 32, 19]);
        assert_eq!(column_widths(108, &[0.45, 0.8, 1.0]), vec![47, 36, 21]);
    }
    #[test]
    fn numbers_and_sizes() {
        assert_eq!(thousands(1605760), "1,605,760");
        assert_eq!(thousands(896), "896");
        assert_eq!(readable_size(0.0), "0.00 B");
        assert_eq!(readable_size(148490.0 * 4.0), "580.04 KB");
        assert_eq!(readable_size(445472.0 * 4.0), "1.70 MB");
    }
}
