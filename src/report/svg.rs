//! The timeline (workers by time, coloured by subsystem) and the lookup
//! latency histogram, as one self-contained SVG.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::ReplayReport;

const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Render `r` as SVG.
pub fn render(r: &ReplayReport) -> String {
    let width = 1000.0;
    let left = 60.0;
    let plot_w = width - left - 20.0;
    let workers = r.timeline.iter().map(|b| b.worker + 1).max().unwrap_or(1);
    let row = (360.0 / workers as f64).clamp(2.0, 18.0);
    let tl_h = row * workers as f64;
    let end_us = r.timeline.iter().map(|b| b.end_us).fold(1.0, f64::max);
    let scale = plot_w / end_us;

    let name = |b: &super::Bar| {
        r.timeline_subsystems
            .get(b.subsystem as usize)
            .map_or("?", String::as_str)
    };
    let mut colors: BTreeMap<&str, &str> = BTreeMap::new();
    for b in &r.timeline {
        let n = colors.len();
        colors.entry(name(b)).or_insert(PALETTE[n % PALETTE.len()]);
    }
    let legend_h = 18.0 * colors.len().div_ceil(6) as f64;
    let hist_top = 40.0 + tl_h + 40.0 + legend_h;
    let hist_h = 160.0;
    let height = hist_top + hist_h + 50.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="18" font-size="14">{} — simulated coldplug {:.2} ms, {} workers, {} modules loaded</text>"#,
        esc(&r.trace),
        r.simulated_coldplug_ms,
        r.workers,
        r.modules_loaded.len()
    );
    // Timeline: merge bars closer than one pixel per worker.
    let mut last: Vec<Option<(f64, f64, &str)>> = vec![None; workers as usize];
    let flush = |s: &mut String,
                 w: u32,
                 bar: (f64, f64, &str),
                 colors: &BTreeMap<&str, &str>| {
        let (a, b, sub) = bar;
        let x = left + a * scale;
        let wpx = ((b - a) * scale).max(0.5);
        let y = 30.0 + w as f64 * row;
        let _ = writeln!(
            s,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{wpx:.2}" height="{:.2}" fill="{}"/>"#,
            (row - 1.0).max(1.0),
            colors[sub]
        );
    };
    for b in &r.timeline {
        let slot = &mut last[b.worker as usize];
        match slot {
            Some((a, e, sub))
                if *sub == name(b) && (b.start_us - *e) * scale < 1.0 =>
            {
                *e = b.end_us.max(*e);
                let _ = a;
            }
            _ => {
                if let Some(prev) = slot.take() {
                    flush(&mut s, b.worker, prev, &colors);
                }
                *slot = Some((b.start_us, b.end_us, name(b)));
            }
        }
    }
    for (w, bar) in last.into_iter().enumerate() {
        if let Some(bar) = bar {
            flush(&mut s, w as u32, bar, &colors);
        }
    }
    let axis_y = 30.0 + tl_h + 12.0;
    let _ = writeln!(
        s,
        r#"<text x="4" y="{:.0}">workers</text>"#,
        30.0 + tl_h / 2.0
    );
    for k in 0..=5 {
        let t = end_us * k as f64 / 5.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{axis_y:.0}" text-anchor="middle">{:.2} ms</text>"#,
            left + t * scale,
            t / 1000.0
        );
    }
    for (i, (name, color)) in colors.iter().enumerate() {
        let x = left + (i % 6) as f64 * 150.0;
        let y = axis_y + 16.0 + (i / 6) as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{:.0}" width="10" height="10" fill="{color}"/><text x="{:.0}" y="{y:.0}">{}</text>"#,
            y - 9.0,
            x + 14.0,
            esc(name)
        );
    }
    // Histogram of measured lookup latencies (log2 buckets).
    let h = &r.latency_histogram;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.0}" font-size="13">lookup latency ({}; p50 {} ns, p99 {} ns)</text>"#,
        hist_top - 8.0,
        esc(&r.matcher),
        r.matching_ns.p50,
        r.matching_ns.p99
    );
    let maxc = h.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let bw = if h.is_empty() { 0.0 } else { plot_w / h.len() as f64 };
    for (i, (upper, count)) in h.iter().enumerate() {
        let bh = hist_h * (*count as f64 / maxc);
        let x = left + i as f64 * bw;
        let _ = writeln!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#4e79a7"><title>&lt;{upper} ns: {count}</title></rect>"##,
            hist_top + hist_h - bh,
            (bw - 2.0).max(1.0)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}" text-anchor="middle">&lt;{}</text>"#,
            x + bw / 2.0,
            hist_top + hist_h + 14.0,
            fmt_ns(*upper)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else if ns >= 1000 {
        format!("{}µs", ns / 1000)
    } else {
        format!("{ns}ns")
    }
}
