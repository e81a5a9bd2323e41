//! `--plot FILE.svg`: late fees paid per second of virtual time, and the
//! outcomes of requests by the class of the server asked (plotters, SVG
//! backend only).
//!
//! Readability rules: amounts are in yocto with SI prefixes (`25M`), every
//! second of the run has its bar (a second without payments is an empty
//! gap, not a line drawn across it), each bar of the outcome chart carries
//! its count (a class with 20 requests next to one with 3,000 is still
//! legible) and a legend names the three outcomes.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// The outcomes, in the order of `Summary::outcomes_by_class`'s arrays.
const OUTCOMES: [(&str, RGBColor); 3] = [
    ("response", RGBColor(46, 139, 87)),
    ("severance notice", RGBColor(65, 105, 225)),
    ("open and late at the end", RGBColor(205, 55, 55)),
];

/// `v` with an SI prefix and at most three significant digits: `25M`,
/// `1.2k`, `950`.
pub fn si(v: f64) -> String {
    let mut x = v.abs();
    let mut unit = 0;
    while x >= 1000.0 && unit < 6 {
        x /= 1000.0;
        unit += 1;
    }
    let digits = if x >= 100.0 || x == x.trunc() {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    let mut t = format!("{x:.digits$}");
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}{t}{}", ["", "k", "M", "G", "T", "P", "E"][unit])
}

/// Draws the two charts into one SVG file.
pub fn draw(s: &Summary, path: &str) -> Result<(), PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError { path: path.into(), msg: e.to_string() };
    let root = SVGBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root =
        root.titled(&format!("por-sim: {} (seed {})", s.scenario, s.seed), ("sans-serif", 20)).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(640);

    // Late fees: one bar per second of virtual time, zeros included.
    let secs = s.virtual_ms.div_ceil(1000).max(1);
    let max_v = s.late_series.values().copied().max().unwrap_or(0).max(1) as f64;
    let mut c = ChartBuilder::on(&left)
        .caption("late fees paid per second", ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..secs, 0f64..max_v * 1.1)
        .map_err(|e| err(&e))?;
    c.configure_mesh()
        .disable_x_mesh()
        .x_desc("virtual time (s)")
        .y_desc("yocto per second")
        .y_label_formatter(&|v| si(*v))
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| err(&e))?;
    let bar = RGBColor(205, 55, 55);
    c.draw_series(
        s.late_series
            .iter()
            .filter(|(t, _)| **t < secs)
            .map(|(t, v)| Rectangle::new([(*t, 0.0), (*t + 1, *v as f64)], bar.filled())),
    )
    .map_err(|e| err(&e))?;
    if s.late_series.is_empty() {
        let style = TextStyle::from(("sans-serif", 16).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        c.draw_series(std::iter::once(Text::new("no late fee was paid", (secs / 2, max_v * 0.55), style)))
            .map_err(|e| err(&e))?;
    }

    // Outcomes: per server class, three bars (two units wide, one unit
    // apart) around the class's label at 8·i + 4.
    let classes: Vec<(&String, &[u64; 3])> = s.outcomes_by_class.iter().collect();
    let n = classes.len().max(1) as u32;
    let max_y = classes.iter().flat_map(|(_, v)| v.iter()).copied().max().unwrap_or(0).max(1);
    let top = max_y + max_y / 8 + 1;
    let mut c = ChartBuilder::on(&right)
        .caption("outcomes by server class", ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..n * 8, 0u64..top)
        .map_err(|e| err(&e))?;
    let names: Vec<String> = classes.iter().map(|(k, _)| (*k).clone()).collect();
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(n as usize * 8 + 1)
        .x_label_formatter(&|x| {
            if x % 8 == 4 { names.get((x / 8) as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_label_formatter(&|v| si(*v as f64))
        .y_desc("requests")
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| err(&e))?;
    let count_style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (k, (label, colour)) in OUTCOMES.iter().enumerate() {
        let x0 = |i: usize| i as u32 * 8 + 1 + 2 * k as u32;
        c.draw_series(
            classes
                .iter()
                .enumerate()
                .map(|(i, (_, v))| Rectangle::new([(x0(i), 0), (x0(i) + 2, v[k])], colour.filled())),
        )
        .map_err(|e| err(&e))?
        .label(*label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
        c.draw_series(
            classes
                .iter()
                .enumerate()
                .map(|(i, (_, v))| Text::new(v[k].to_string(), (x0(i) + 1, v[k]), count_style.clone())),
        )
        .map_err(|e| err(&e))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::si;

    #[test]
    fn si_prefixes_keep_three_digits() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(1200.0), "1.2k");
        assert_eq!(si(25_000_000.0), "25M");
        assert_eq!(si(26_400_000.0), "26.4M");
        assert_eq!(si(1.5e18), "1.5E");
    }
}
