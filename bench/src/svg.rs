//! A hand-written SVG of W1 (throughput) and W2 (hit ratio): grouped bars,
//! one panel each.

use std::fmt::Write;

use crate::w1_throughput::{self as w1, W1};
use crate::w2_hit_ratio::{self as w2, W2};

const WIDTH: f64 = 1180.0;
const PANEL_HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 56.0;

struct Panel<'a> {
    title: String,
    y_label: &'a str,
    /// Two label lines per group.
    groups: Vec<(String, String)>,
    series: Vec<(&'a str, &'a str)>,
    /// `values[group][series]`.
    values: Vec<Vec<f64>>,
    /// Fixed axis maximum, or None to fit the data.
    y_max: Option<f64>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A round step for about `n` ticks up to `max`.
fn tick_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn panel(out: &mut String, y0: f64, p: &Panel) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = PANEL_HEIGHT - TOP - BOTTOM;
    let data_max = p
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let step = tick_step(p.y_max.unwrap_or(data_max).max(1e-9), 5.0);
    let y_max = p
        .y_max
        .unwrap_or_else(|| (data_max / step).ceil().max(1.0) * step);
    let _ = writeln!(out, r#"<g transform="translate(0,{y0})">"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="16" font-weight="bold">{}</text>"#,
        escape(&p.title)
    );
    // Legend.
    let mut x = LEFT;
    for (name, color) in &p.series {
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="34" width="12" height="12" fill="{color}"/><text x="{}" y="44" font-size="12">{}</text>"#,
            x + 16.0,
            escape(name)
        );
        x += 28.0 + 7.0 * name.len() as f64;
    }
    // Axis and grid.
    let y_of = |v: f64| TOP + plot_h - (v / y_max).clamp(0.0, 1.0) * plot_h;
    let mut t = 0.0;
    while t <= y_max + step / 2.0 {
        let y = y_of(t);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            if step < 1.0 {
                format!("{t:.1}")
            } else {
                format!("{t:.0}")
            }
        );
        t += step;
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" font-size="12" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(p.y_label)
    );
    // Bars.
    let group_w = plot_w / p.groups.len().max(1) as f64;
    let bar_w = (group_w - 10.0) / p.series.len().max(1) as f64;
    for (g, ((l1, l2), vals)) in p.groups.iter().zip(&p.values).enumerate() {
        let gx = LEFT + g as f64 * group_w + 5.0;
        for (i, (&v, (name, color))) in vals.iter().zip(&p.series).enumerate() {
            let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
            let y = y_of(v);
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {} {}: {v:.3}</title></rect>"#,
                gx + i as f64 * bar_w,
                (bar_w - 1.0).max(1.0),
                TOP + plot_h - y,
                escape(name),
                escape(l1),
                escape(l2)
            );
        }
        let cx = gx + (group_w - 10.0) / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text><text x="{cx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 16.0,
            escape(l1),
            TOP + plot_h + 30.0,
            escape(l2)
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/></g>"##,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
}

const W1_COLORS: [&str; w1::CONTENDERS.len()] = [
    "#1f77b4", "#17becf", "#7fb8e6", "#08306b", "#ff7f0e", "#ffbb78", "#2ca02c", "#d62728",
];
const W2_COLORS: [&str; w2::POLICIES.len()] = [
    "#1f77b4", "#08306b", "#9467bd", "#7fb8e6", "#e377c2", "#ff7f0e", "#ffbb78", "#2ca02c",
    "#d62728", "#7f7f7f",
];

fn w1_panel(w: &W1) -> Panel<'static> {
    Panel {
        title: format!(
            "W1 throughput, Mops/s (median of {} rounds; Zipf 0.99 over {} keys, all hits)",
            w.params.rounds,
            w1::SLOTS
        ),
        y_label: "Mops/s (all threads)",
        groups: w
            .cells
            .iter()
            .map(|c| (c.mix.label(), format!("{} {}t", c.keys, c.threads)))
            .collect(),
        series: w1::CONTENDERS.iter().copied().zip(W1_COLORS).collect(),
        values: w
            .cells
            .iter()
            .map(|c| w1::CONTENDERS.iter().map(|n| c.median(n)).collect())
            .collect(),
        y_max: None,
    }
}

fn w2_panel(w: &W2) -> Panel<'static> {
    Panel {
        title: format!(
            "W2 hit ratio, % ({} keys, {} requests; get, put on miss)",
            w.params.keys, w.params.trace_len
        ),
        y_label: "hit ratio (%)",
        groups: w
            .rows
            .iter()
            .map(|r| {
                let t = r.trace.split(" (").next().unwrap_or(&r.trace).to_string();
                (t, format!("cache {}%", r.cache_pct))
            })
            .collect(),
        series: w2::POLICIES.iter().copied().zip(W2_COLORS).collect(),
        values: w
            .rows
            .iter()
            .map(|r| {
                r.ratios
                    .iter()
                    .map(|v| if v.is_finite() { v * 100.0 } else { 0.0 })
                    .collect()
            })
            .collect(),
        y_max: Some(100.0),
    }
}

pub fn chart(w1: Option<&W1>, w2: Option<&W2>) -> String {
    let panels: Vec<Panel> = w1
        .map(w1_panel)
        .into_iter()
        .chain(w2.map(w2_panel))
        .collect();
    let height = PANEL_HEIGHT * panels.len().max(1) as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    for (i, p) in panels.iter().enumerate() {
        panel(&mut out, i as f64 * PANEL_HEIGHT, p);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(100.0, 5.0), 20.0);
        assert_eq!(tick_step(43.0, 5.0), 10.0);
        assert_eq!(tick_step(0.7, 5.0), 0.2);
    }
}
