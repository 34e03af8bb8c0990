//! `conntime`'s pictures, each written as SVG and PNG with plotters: the seed's scatter
//! (connection time against SYN time, one panel per stack and run), the connection-time
//! CDF, the p99 of every 100 ms window during the TIME-WAIT storm, and the memory
//! TIME-WAIT holds over the storm. Text is drawn with DejaVu Sans, read at run time from
//! the Debian package `fonts-dejavu-core`.

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

/// Where Debian's `fonts-dejavu-core` puts the font.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

type Res<T = ()> = Result<T, Box<dyn Error>>;

/// Registers the font once; fails with what to install when it is missing.
fn font() -> Res {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (install the Debian package fonts-dejavu-core)"))?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
            .map_err(|_| format!("{FONT} is not a font plotters can read"))
    })
    .clone()
    .map_err(Into::into)
}

/// Colours by stack.
fn colour(stack: &str) -> RGBColor {
    if stack == "ringtcp" { RGBColor(0, 114, 178) } else { RGBColor(213, 94, 0) }
}

/// A picture that can be drawn on any plotters backend.
trait Picture {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Res
    where
        DB::ErrorType: 'static;
}

/// Draws `pic` into `<dir>/<name>.svg` and `<dir>/<name>.png`; returns both paths.
fn both(dir: &Path, name: &str, size: (u32, u32), pic: &impl Picture) -> Res<Vec<PathBuf>> {
    font()?;
    let svg = dir.join(format!("{name}.svg"));
    let png = dir.join(format!("{name}.png"));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        pic.draw(&root)?;
        root.present()?;
    }
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        root.fill(&WHITE)?;
        pic.draw(&root)?;
        root.present()?;
    }
    Ok(vec![svg, png])
}

/// One scatter panel's data: title, stack, (SYN time s, connection time ms) points.
#[derive(Debug)]
pub struct Panel<'a> {
    pub title: String,
    pub stack: &'a str,
    pub points: Vec<(f64, f64)>,
}

fn scatter_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel<'_>, y_max: f64) -> Res
where
    DB::ErrorType: 'static,
{
    let x_max = p.points.iter().map(|q| q.0).fold(0.1, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, (0.01..y_max).log_scale())?;
    chart.configure_mesh().x_desc("SYN time (s)").y_desc("connection time (ms)").draw()?;
    let c = colour(p.stack);
    chart.draw_series(thinned(&p.points).map(|(x, y)| Circle::new((x, y.max(0.01)), 1, c.filled())))?;
    Ok(())
}

/// At most about [`PANEL_POINTS`] points of a panel: every point above its p99 (the
/// spikes the picture is for), and an even share of the rest. A long run has a million
/// points, which would make an SVG of 80 MB.
const PANEL_POINTS: usize = 20_000;

fn thinned(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let p99 = ys.get(ys.len() * 99 / 100).copied().unwrap_or(f64::INFINITY);
    let stride = points.len().div_ceil(PANEL_POINTS).max(1);
    points.iter().enumerate().filter(move |(i, p)| p.1 >= p99 || i % stride == 0).map(|(_, &p)| p)
}

struct Scatter<'a, 'b> {
    panels: &'a [Panel<'b>],
    rows: usize,
}

impl Picture for Scatter<'_, '_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Res
    where
        DB::ErrorType: 'static,
    {
        let y_max = self.panels.iter().flat_map(|p| p.points.iter().map(|q| q.1)).fold(1.0, f64::max) * 1.5;
        for (cell, p) in root.split_evenly((self.rows, 2)).iter().zip(self.panels) {
            scatter_panel(cell, p, y_max)?;
        }
        Ok(())
    }
}

/// The seed's picture: connections' times against their SYNs' times (all of them above
/// each panel's p99, an even share of the rest), panels in rows of two (ringtcp left, the
/// kernel right), on one time scale.
pub fn scatter(dir: &Path, name: &str, panels: &[Panel<'_>]) -> Res<Vec<PathBuf>> {
    let rows = panels.len().div_ceil(2).max(1);
    both(dir, name, (1200, 360 * rows as u32), &Scatter { panels, rows })
}

/// A labelled series in its stack's colour.
pub type Series<'a, T> = (String, &'a str, Vec<T>);

struct Cdf<'a, 'b> {
    title: &'a str,
    series: &'a [Series<'b, f64>],
}

impl Picture for Cdf<'_, '_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Res
    where
        DB::ErrorType: 'static,
    {
        let x_max = self.series.iter().filter_map(|s| s.2.last().copied()).fold(1.0, f64::max) * 1.2;
        let x_min = self.series.iter().filter_map(|s| s.2.first().copied()).fold(x_max, f64::min).clamp(0.001, 1.0) * 0.8;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..1.0)?;
        chart.configure_mesh().x_desc("connection time (ms)").y_desc("fraction of connections").draw()?;
        for (label, stack, v) in self.series {
            let n = v.len().max(1) as f64;
            let c = colour(stack);
            // Every point for small runs; thinned to about 2,000 for big ones.
            let step = (v.len() / 2000).max(1);
            let pts: Vec<(f64, f64)> = v.iter().enumerate().step_by(step).map(|(i, &x)| (x.max(x_min), (i + 1) as f64 / n)).collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::LowerRight).draw()?;
        Ok(())
    }
}

/// The connection-time CDF of each series (sorted times in ms) on a log time axis.
pub fn cdf(dir: &Path, name: &str, title: &str, series: &[Series<'_, f64>]) -> Res<Vec<PathBuf>> {
    both(dir, name, (900, 520), &Cdf { title, series })
}

struct Lines<'a, 'b> {
    title: &'a str,
    log_y: bool,
    x_desc: &'a str,
    y_desc: &'a str,
    series: &'a [Series<'b, (f64, f64)>],
}

impl Picture for Lines<'_, '_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Res
    where
        DB::ErrorType: 'static,
    {
        let x_max = self.series.iter().flat_map(|s| s.2.iter().map(|p| p.0)).fold(0.1, f64::max);
        let y_max = self.series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(0.001, f64::max) * 1.15;
        let builder = |root| {
            let mut b = ChartBuilder::on(root);
            b.caption(self.title, ("sans-serif", 18)).margin(10).x_label_area_size(40).y_label_area_size(60);
            b
        };
        // A time axis on a log scale keeps milliseconds readable beside a one-second
        // stall; memory reads better on a linear one.
        if self.log_y {
            let y_min = self.series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(y_max, f64::min).max(0.01) * 0.8;
            let mut chart = builder(root).build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
            chart.configure_mesh().x_desc(self.x_desc).y_desc(self.y_desc).draw()?;
            for (label, stack, pts) in self.series {
                let c = colour(stack);
                chart
                    .draw_series(LineSeries::new(pts.iter().map(|&(x, y)| (x, y.max(y_min))), c.stroke_width(1)))?
                    .label(label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperRight).draw()?;
        } else {
            let mut chart = builder(root).build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
            chart.configure_mesh().x_desc(self.x_desc).y_desc(self.y_desc).draw()?;
            for (label, stack, pts) in self.series {
                let c = colour(stack);
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
                    .label(label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperRight).draw()?;
        }
        Ok(())
    }
}

/// Lines over time: each series' (seconds, value) points in its stack's colour; the values
/// on a log scale if `log_y`.
pub fn over_time(dir: &Path, name: &str, title: &str, (x_desc, y_desc): (&str, &str), log_y: bool, series: &[Series<'_, (f64, f64)>]) -> Res<Vec<PathBuf>> {
    both(dir, name, (1000, 480), &Lines { title, log_y, x_desc, y_desc, series })
}
