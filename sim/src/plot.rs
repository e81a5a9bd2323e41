//! `--plot FILE.svg`: late fees paid per second of virtual time, and the
//! outcomes of requests by the class of the server asked (plotters, SVG
//! backend only).

use plotters::prelude::*;

use crate::report::Summary;

/// Drawing the chart failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {msg}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// plotters' message.
    pub msg: String,
}

/// Draws the two charts into one SVG file.
pub fn draw(s: &Summary, path: &str) -> Result<(), PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError { path: path.into(), msg: e.to_string() };
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(560);

    let max_t = s.late_series.keys().last().copied().unwrap_or(0) + 1;
    let max_v = s.late_series.values().copied().max().unwrap_or(0).max(1) as f64;
    let mut c = ChartBuilder::on(&left)
        .caption("late fees paid per second", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0u64..max_t, 0f64..max_v * 1.1)
        .map_err(|e| err(&e))?;
    c.configure_mesh().x_desc("virtual time (s)").y_desc("yocto").draw().map_err(|e| err(&e))?;
    c.draw_series(LineSeries::new(s.late_series.iter().map(|(t, v)| (*t, *v as f64)), &RED)).map_err(|e| err(&e))?;

    let classes: Vec<(&String, &[u64; 3])> = s.outcomes_by_class.iter().collect();
    let n = classes.len().max(1) as u32;
    let max_y = classes.iter().flat_map(|(_, v)| v.iter()).copied().max().unwrap_or(0).max(1);
    let mut c = ChartBuilder::on(&right)
        .caption("outcomes by server class", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..n * 4, 0u64..max_y + max_y / 10 + 1)
        .map_err(|e| err(&e))?;
    let names: Vec<String> = classes.iter().map(|(k, _)| (*k).clone()).collect();
    c.configure_mesh()
        .x_labels(names.len() * 4)
        .x_label_formatter(&|x| {
            if x % 4 == 1 { names.get((x / 4) as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_desc("requests")
        .draw()
        .map_err(|e| err(&e))?;
    let colours = [GREEN, BLUE, RED];
    for (i, (_, v)) in classes.iter().enumerate() {
        for (k, col) in colours.iter().enumerate() {
            let x = i as u32 * 4 + k as u32;
            c.draw_series(std::iter::once(Rectangle::new([(x, 0), (x + 1, v[k])], col.filled())))
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
