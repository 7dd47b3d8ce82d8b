//! SVG pictures of a run and of a sweep, drawn with plotters' SVG backend
//! (text stays text: no font files are read). The same report gives the
//! same bytes.
//!
//! - [`timeline`]: four panels over time: when the dependency was
//!   unhealthy; each breaker's state as coloured bands; the failure rate of
//!   the answers against the breaker's rate threshold; admitted, rejected,
//!   limited and retried attempts per second.
//! - [`heatmap`]: a sweep's grid coloured by time to detect and by healthy
//!   calls rejected, the Pareto-optimal settings outlined, and the two
//!   measures plotted against each other with the front joined.

use plotters::coord::Shift;
use plotters::prelude::*;

use seawall::State;

use crate::report::{Report, Second};
use crate::sweep::Sweep;

/// At most this many columns: longer runs are summed into wider ones.
const COLUMNS: usize = 1_200;

const CLOSED: RGBColor = RGBColor(46, 125, 50);
const OPEN: RGBColor = RGBColor(198, 40, 40);
const HALF_OPEN: RGBColor = RGBColor(249, 168, 37);
const FORCED: RGBColor = RGBColor(120, 120, 120);
const ADMITTED: RGBColor = RGBColor(46, 125, 50);
const RETRIED: RGBColor = RGBColor(21, 101, 192);
const FONT: &str = "sans-serif";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Fallible = Result<(), Box<dyn std::error::Error>>;

fn color(s: State) -> RGBColor {
    match s {
        State::Closed => CLOSED,
        State::Open => OPEN,
        State::HalfOpen => HALF_OPEN,
        State::ForcedOpen | State::ForcedClosed => FORCED,
    }
}

/// The run's timeline as an SVG document.
pub fn timeline(report: &Report) -> String {
    let mut svg = String::new();
    draw_timeline(report, &mut svg).expect("drawing into a string cannot fail");
    svg
}

/// Sums `seconds` into at most [`COLUMNS`] columns of `width` seconds each:
/// `(start second, per-second means)`.
fn columns(seconds: &[Second]) -> (usize, Vec<(f64, [f64; 6])>) {
    let width = seconds.len().div_ceil(COLUMNS).max(1);
    let cols = seconds
        .chunks(width)
        .enumerate()
        .map(|(i, chunk)| {
            let mut sum = [0.0; 6];
            for s in chunk {
                sum[0] += f64::from(s.admitted);
                sum[1] += f64::from(s.rejected);
                sum[2] += f64::from(s.rate_limited + s.bulkhead_full + s.limit_reached);
                sum[3] += f64::from(s.retries);
                sum[4] += f64::from(s.failures);
                sum[5] += f64::from(s.successes);
            }
            let n = chunk.len() as f64;
            ((i * width) as f64, sum.map(|v| v / n))
        })
        .collect();
    (width, cols)
}

fn draw_timeline(report: &Report, svg: &mut String) -> Fallible {
    let span = report.simulated_seconds.max(1.0);
    let hours = span > 7_200.0;
    let x_label = move |x: &f64| {
        if hours {
            format!("{:.0} h", x / 3_600.0)
        } else {
            format!("{x:.0} s")
        }
    };
    let breakers = report
        .transitions
        .iter()
        .map(|t| t.breaker + 1)
        .max()
        .unwrap_or(1);
    let root = SVGBackend::with_string(svg, (1_200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "{}: {} calls, seed {}",
            report.source, report.counts.calls, report.seed
        ),
        (FONT, 22),
    )?;
    let band_height = 70 + 14 * breakers.min(16);
    let (top, rest) = root.split_vertically(band_height + 90);
    let (health, states) = top.split_vertically(90);
    let (rate, calls) = rest.split_vertically((900 - 40 - band_height - 90) / 2);

    // When the dependency was unhealthy.
    let mut chart = panel(
        &health,
        "dependency unhealthy (shaded)",
        span,
        0.0..1.0,
        &x_label,
        &|_| String::new(),
    )?;
    chart.draw_series(
        report
            .episodes
            .iter()
            .map(|e| Rectangle::new([(e.start, 0.0), (e.end, 1.0)], OPEN.mix(0.45).filled())),
    )?;

    // Each breaker's state.
    let rows = f64::from(breakers.min(16));
    let mut chart = panel(
        &states,
        "breaker state: closed (green), open (red), half-open (amber), forced (grey)",
        span,
        0.0..rows,
        &x_label,
        &|_| String::new(),
    )?;
    for b in 0..breakers.min(16) {
        let mut from = 0.0;
        let mut state = State::Closed;
        let mut bands = Vec::new();
        for t in report.transitions.iter().filter(|t| t.breaker == b) {
            bands.push((from, t.at, state));
            (from, state) = (t.at, t.state());
        }
        bands.push((from, span, state));
        let y = f64::from(b);
        chart.draw_series(bands.into_iter().filter(|b| b.1 > b.0).map(|(x0, x1, s)| {
            Rectangle::new([(x0, y + 0.1), (x1, y + 0.9)], color(s).filled())
        }))?;
    }

    let (width, cols) = columns(&report.seconds);
    let end_of = |x: f64| x + width as f64;

    // The failure rate of the answers, against the threshold.
    let mut chart = panel(
        &rate,
        "failure rate of the answers (per column) and the breaker's rate threshold",
        span,
        0.0..1.0,
        &x_label,
        &|y| format!("{y:.1}"),
    )?;
    let points = cols.iter().flat_map(|(x, v)| {
        let answers = v[4] + v[5];
        let rate = if answers > 0.0 { v[4] / answers } else { 0.0 };
        [(*x, rate), (end_of(*x), rate)]
    });
    chart
        .draw_series(LineSeries::new(points, OPEN.stroke_width(2)))?
        .label("failure rate")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], OPEN));
    if let Some(threshold) = report.failure_rate_threshold {
        chart
            .draw_series(LineSeries::new(
                [(0.0, threshold), (span, threshold)],
                BLACK.stroke_width(1),
            ))?
            .label("threshold")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    legend(&mut chart)?;

    // Attempts per second.
    let top = cols
        .iter()
        .map(|(_, v)| v[0].max(v[1]).max(v[2]).max(v[3]))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = panel(
        &calls,
        "attempts per second",
        span,
        0.0..top,
        &x_label,
        &|y| format!("{y:.0}"),
    )?;
    for (i, name, style) in [
        (0, "admitted", ADMITTED),
        (1, "rejected by the breaker", OPEN),
        (2, "limited", FORCED),
        (3, "retries", RETRIED),
    ] {
        if cols.iter().all(|(_, v)| v[i] == 0.0) {
            continue;
        }
        let steps = cols
            .iter()
            .flat_map(|(x, v)| [(*x, v[i]), (end_of(*x), v[i])]);
        chart
            .draw_series(LineSeries::new(steps, style.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn panel<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    span: f64,
    y: std::ops::Range<f64>,
    x_label: &dyn Fn(&f64) -> String,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 15))
        .margin_left(10)
        .margin_right(20)
        .x_label_area_size(22)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..span, y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_labels(4)
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .label_style((FONT, 12))
        .draw()?;
    Ok(chart)
}

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Fallible {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

/// A sweep's heatmaps and trade-off plot as an SVG document.
pub fn heatmap(sweep: &Sweep) -> String {
    let mut svg = String::new();
    draw_heatmap(sweep, &mut svg).expect("drawing into a string cannot fail");
    svg
}

fn draw_heatmap(sweep: &Sweep, svg: &mut String) -> Fallible {
    let root = SVGBackend::with_string(svg, (1_500, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "{}: {} settings (outlined: the Pareto front)",
            sweep.source,
            sweep.points.len()
        ),
        (FONT, 20),
    )?;
    let panels = root.split_evenly((1, 3));
    let detect: Vec<Option<f64>> = sweep.points.iter().map(|p| p.detect).collect();
    let rejected: Vec<Option<f64>> = sweep
        .points
        .iter()
        .map(|p| Some(p.rejected_while_healthy as f64))
        .collect();
    grid(
        &panels[0],
        sweep,
        "time to detect (s; grey: never)",
        &detect,
    )?;
    grid(&panels[1], sweep, "calls rejected while healthy", &rejected)?;
    tradeoff(&panels[2], sweep)?;
    root.present()?;
    Ok(())
}

/// Green (low) to red (high); grey for no value.
fn shade(v: Option<f64>, lo: f64, hi: f64) -> HSLColor {
    match v {
        None => HSLColor(0.0, 0.0, 0.75),
        Some(v) => {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
            HSLColor((1.0 - t) * 0.33, 0.65, 0.55)
        }
    }
}

fn grid(area: &Area<'_>, sweep: &Sweep, caption: &str, values: &[Option<f64>]) -> Fallible {
    let (nx, ny) = (
        sweep.x.values.len(),
        sweep.y.as_ref().map_or(1, |y| y.values.len()),
    );
    let known = values.iter().flatten();
    let lo = known.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = known.copied().fold(f64::NEG_INFINITY, f64::max);
    // Cells are unit squares; the labels sit at their centres: with twice
    // as many labels as cells, plotters puts one at every half unit.
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 15))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..nx as f64, 0.0..ny as f64)?;
    let label = |axis: &[String], v: f64| {
        let centre = (v - v.floor() - 0.5).abs() < 1e-9;
        let name = axis.get(v as usize).filter(|_| centre);
        name.cloned().unwrap_or_default()
    };
    let ys: Vec<String> = sweep
        .y
        .as_ref()
        .map_or(vec![String::new()], |y| y.values.clone());
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&sweep.x.key)
        .y_desc(sweep.y.as_ref().map_or("", |y| y.key.as_str()))
        .x_labels(2 * nx + 1)
        .y_labels(2 * ny + 1)
        .x_label_formatter(&|v| label(&sweep.x.values, *v))
        .y_label_formatter(&|v| label(&ys, *v))
        .label_style((FONT, 12))
        .draw()?;
    for (k, p) in sweep.points.iter().enumerate() {
        let (i, j) = (p.ix as f64, p.iy as f64);
        let cell = [(i, j), (i + 1.0, j + 1.0)];
        chart.draw_series([Rectangle::new(cell, shade(values[k], lo, hi).filled())])?;
        if p.pareto {
            let inset = [(i + 0.03, j + 0.03), (i + 0.97, j + 0.97)];
            chart.draw_series([Rectangle::new(inset, BLACK.stroke_width(4))])?;
        }
        let text = values[k].map_or_else(|| "never".to_owned(), compact);
        chart.draw_series([Text::new(
            text,
            (i + 0.4, j + 0.5),
            (FONT, 13).into_font().color(&BLACK),
        )])?;
    }
    Ok(())
}

fn compact(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

fn tradeoff(area: &Area<'_>, sweep: &Sweep) -> Fallible {
    let detected: Vec<(f64, f64, bool)> = sweep
        .points
        .iter()
        .filter_map(|p| {
            p.detect
                .map(|d| (p.rejected_while_healthy as f64, d, p.pareto))
        })
        .collect();
    let xmax = detected.iter().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let ymax = detected.iter().map(|p| p.1).fold(0.001, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption("detection against healthy calls rejected", (FONT, 15))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("calls rejected while healthy")
        .y_desc("time to detect (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style((FONT, 12))
        .draw()?;
    chart.draw_series(
        detected
            .iter()
            .map(|&(x, y, _)| Circle::new((x, y), 4, RETRIED.mix(0.6).filled())),
    )?;
    let mut front: Vec<(f64, f64)> = detected
        .iter()
        .filter(|p| p.2)
        .map(|&(x, y, _)| (x, y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart.draw_series(LineSeries::new(front.clone(), BLACK.stroke_width(2)))?;
    chart.draw_series(
        front
            .into_iter()
            .map(|p| Circle::new(p, 6, BLACK.stroke_width(2))),
    )?;
    Ok(())
}
