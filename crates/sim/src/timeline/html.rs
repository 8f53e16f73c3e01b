//! Drawing a [`Timeline`] as one self-contained HTML page: inline SVG and CSS, no script,
//! nothing fetched; the trace follows the picture as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::names::is_node_lane;
use super::{build, Band, BandKind, Mark, MarkKind, Timeline, BUCKET_US};
use crate::report::Violation;
use crate::trace::TraceEvent;

/// Escapes text for HTML/SVG content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const LEFT_PX: f64 = 90.0;
const PLOT_PX: f64 = 1480.0;
const AXIS_PX: f64 = 28.0;
const NODE_LANE_PX: f64 = 82.0;
const SIDE_LANE_PX: f64 = 52.0;
/// Rough width of one character of the 10 px label font.
const CHAR_PX: f64 = 5.6;

struct Geometry {
    end_us: u64,
    /// Top y of every lane, and its height.
    tops: Vec<(f64, f64)>,
}

impl Geometry {
    fn new(tl: &Timeline) -> Geometry {
        let mut y = AXIS_PX + 4.0;
        let tops = tl
            .lanes
            .iter()
            .map(|name| {
                let h = if is_node_lane(name) {
                    NODE_LANE_PX
                } else {
                    SIDE_LANE_PX
                };
                let top = (y, h);
                y += h;
                top
            })
            .collect();
        Geometry {
            end_us: tl.end_us,
            tops,
        }
    }

    fn x(&self, t_us: u64) -> f64 {
        LEFT_PX + PLOT_PX * (t_us.min(self.end_us) as f64) / (self.end_us as f64)
    }

    fn height(&self) -> f64 {
        self.tops.last().map_or(100.0, |(y, h)| y + h) + 8.0
    }
}

/// Row geometry inside a lane: (y offset, height).
fn row_box(row: usize) -> (f64, f64) {
    match row {
        0 => (4.0, 14.0),
        1 => (20.0, 9.0),
        _ => (31.0, 6.0),
    }
}

/// A tick step (µs) giving at most ~24 ticks.
pub(super) fn tick_step_us(end_us: u64) -> u64 {
    const STEPS_S: [u64; 9] = [1, 2, 5, 10, 20, 30, 60, 120, 300];
    for s in STEPS_S {
        if end_us / (s * 1_000_000) <= 24 {
            return s * 1_000_000;
        }
    }
    600_000_000
}

fn fmt_s(t_us: u64) -> String {
    format!("{}.{:03}s", t_us / 1_000_000, (t_us % 1_000_000) / 1000)
}

const STYLE: &str = "
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 6px}
.meta{color:#555;margin-bottom:8px}
.viol{background:#fdecea;border-left:4px solid #c62828;padding:6px 10px;margin:6px 0;font-family:monospace;white-space:pre-wrap}
.ok-run{background:#e8f5e9;border-left:4px solid #2e7d32;padding:6px 10px}
svg text{font:10px system-ui,sans-serif;fill:#222}
svg .lane-name{font:bold 12px system-ui,sans-serif}
svg .axis{font:10px monospace;fill:#555}
svg .band-label{font:9px system-ui,sans-serif;fill:#1b3a1b}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:14px;height:10px;vertical-align:middle;margin-right:4px;border:1px solid #999}
pre.trace{font:11px/1.35 monospace;background:#fafafa;border:1px solid #ddd;padding:8px;overflow:auto;max-height:60em}
rect.ok{fill:#a5d6a7}rect.fail{fill:#ef5350}rect.unreach{fill:#bdbdbd}
rect.down{fill:#212121}rect.paused{fill:#7e57c2}rect.cutoff{fill:#ffa726}
rect.pfail{fill:#ffcc80}rect.flagfail{fill:#c62828}
rect.partition{fill:#ffe0b2;stroke:#fb8c00}rect.latency{fill:#b3e5fc}rect.loss{fill:#f8bbd0}
";

/// Colour of each mark kind.
fn mark_colour(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Fault => "#e65100",
        MarkKind::Lifecycle => "#616161",
        MarkKind::Election => "#1565c0",
        MarkKind::Promotion => "#f9a825",
        MarkKind::FailFlag => "#b71c1c",
        MarkKind::State => "#2e7d32",
        MarkKind::Config => "#6a1b9a",
        MarkKind::WorkloadError => "#d32f2f",
        MarkKind::Violation | MarkKind::Evidence => "#c62828",
        MarkKind::Phase => "#37474f",
    }
}

/// The SVG shape of a mark at (x, y): y is the top of the mark row.
fn mark_shape(out: &mut String, kind: MarkKind, x: f64, y: f64) {
    let c = mark_colour(kind);
    let _ = match kind {
        MarkKind::Fault => write!(
            out,
            "<path d='M{:.1} {:.1}l-5 -8h10z' fill='{c}'/>",
            x,
            y + 9.0
        ),
        MarkKind::Promotion => write!(
            out,
            "<path d='M{:.1} {:.1}l4 6l-4 6l-4 -6z' fill='{c}' stroke='#5d4037' stroke-width='0.8'/>",
            x, y
        ),
        MarkKind::Election => write!(
            out,
            "<circle cx='{x:.1}' cy='{:.1}' r='4' fill='{c}'/>",
            y + 6.0
        ),
        MarkKind::Violation => write!(
            out,
            "<path d='M{:.1} {:.1}l10 10m0 -10l-10 10' stroke='{c}' stroke-width='3'/>\
             <line x1='{x:.1}' x2='{x:.1}' y1='{:.1}' y2='{:.1}' stroke='{c}' stroke-width='1' \
             stroke-dasharray='2,2'/>",
            x - 5.0,
            y + 1.0,
            y - 40.0,
            y + 14.0
        ),
        MarkKind::WorkloadError => write!(
            out,
            "<rect x='{:.1}' y='{:.1}' width='2' height='5' fill='{c}'/>",
            x - 1.0,
            y + 38.0
        ),
        MarkKind::Evidence => write!(
            out,
            "<circle cx='{x:.1}' cy='{:.1}' r='4' fill='none' stroke='{c}' stroke-width='2'/>",
            y + 6.0
        ),
        MarkKind::FailFlag => write!(
            out,
            "<rect x='{:.1}' y='{:.1}' width='7' height='7' fill='{c}'/>",
            x - 3.5,
            y + 2.0
        ),
        _ => write!(
            out,
            "<line x1='{x:.1}' x2='{x:.1}' y1='{:.1}' y2='{:.1}' stroke='{c}' stroke-width='2'/>",
            y,
            y + 12.0
        ),
    };
}

/// Greedy label placement: a label goes into the first of `rows` text rows where it does
/// not overlap the previous label; when none is free it is left to the tooltip.
struct LabelRows {
    /// Per text row, the x intervals already taken.
    taken: Vec<Vec<(f64, f64)>>,
}

impl LabelRows {
    fn new(rows: usize) -> LabelRows {
        LabelRows {
            taken: vec![Vec::new(); rows],
        }
    }

    fn place(&mut self, x: f64, text: &str) -> Option<usize> {
        let (from, to) = (x + 4.0, x + 9.0 + text.chars().count() as f64 * CHAR_PX);
        let row = self
            .taken
            .iter()
            .position(|spans| spans.iter().all(|&(a, b)| to < a || from > b))?;
        self.taken[row].push((from, to));
        Some(row)
    }
}

/// Which labels win a crowded spot: the lower, the earlier placed.
fn label_priority(kind: MarkKind) -> u8 {
    match kind {
        MarkKind::Violation => 0,
        MarkKind::Promotion => 1,
        MarkKind::Fault => 2,
        MarkKind::FailFlag => 3,
        MarkKind::Election => 4,
        MarkKind::Config => 5,
        MarkKind::State => 6,
        MarkKind::Phase | MarkKind::Lifecycle | MarkKind::WorkloadError | MarkKind::Evidence => 7,
    }
}

/// Draws the timeline as SVG.
fn svg(tl: &Timeline) -> String {
    let g = Geometry::new(tl);
    let width = LEFT_PX + PLOT_PX + 20.0;
    let height = g.height();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0}' height='{height:.0}' \
         viewBox='0 0 {width:.0} {height:.0}'>"
    );
    // Lane backgrounds and names.
    for (i, name) in tl.lanes.iter().enumerate() {
        let (y, h) = g.tops[i];
        let fill = if i % 2 == 0 { "#f7f7f7" } else { "#ffffff" };
        let _ = write!(
            out,
            "<rect x='0' y='{y:.1}' width='{width:.0}' height='{h:.1}' fill='{fill}'/>\
             <text class='lane-name' x='6' y='{:.1}'>{}</text>",
            y + 16.0,
            escape(name)
        );
        if let Some(last) = tl
            .bands
            .iter()
            .rev()
            .find(|b| b.lane == i && b.kind.row() == 0)
        {
            if is_node_lane(name) && !last.label.is_empty() {
                let _ = write!(
                    out,
                    "<text x='6' y='{:.1}' class='axis'>{}</text>",
                    y + 30.0,
                    escape(&last.label)
                );
            }
        }
    }
    // Time axis and grid.
    let step = tick_step_us(tl.end_us);
    let mut t = 0;
    while t <= tl.end_us {
        let x = g.x(t);
        let _ = write!(
            out,
            "<line x1='{x:.1}' x2='{x:.1}' y1='{:.1}' y2='{height:.1}' stroke='#e0e0e0'/>\
             <text class='axis' x='{x:.1}' y='18' text-anchor='middle'>{}s</text>",
            AXIS_PX - 2.0,
            t / 1_000_000
        );
        t += step;
    }
    for band in &tl.bands {
        draw_band(&mut out, &g, band);
    }
    draw_buckets(&mut out, &g, tl);
    draw_marks(&mut out, &g, tl);
    out.push_str("</svg>");
    out
}

fn draw_band(out: &mut String, g: &Geometry, band: &Band) {
    let (top, _) = g.tops[band.lane];
    let (dy, h) = row_box(band.kind.row());
    let (x0, x1) = (g.x(band.from_us), g.x(band.to_us));
    let w = (x1 - x0).max(1.0);
    let _ = write!(
        out,
        "<rect class='{}' x='{x0:.1}' y='{:.1}' width='{w:.1}' height='{h:.1}'><title>{} → {}: {}</title></rect>",
        band.kind.class(),
        top + dy,
        fmt_s(band.from_us),
        fmt_s(band.to_us),
        escape(&band.detail)
    );
    let fits = band.label.chars().count() as f64 * CHAR_PX + 6.0 < w;
    if fits && !band.label.is_empty() && band.kind.row() == 0 {
        let class = if band.kind == BandKind::StateFail {
            "band-label' style='fill:#fff"
        } else {
            "band-label"
        };
        let _ = write!(
            out,
            "<text class='{class}' x='{:.1}' y='{:.1}'>{}</text>",
            x0 + 3.0,
            top + dy + 10.5,
            escape(&band.label)
        );
    }
}

fn draw_buckets(out: &mut String, g: &Geometry, tl: &Timeline) {
    let Some(lane) = tl.lane("workload") else {
        return;
    };
    let (top, h) = g.tops[lane];
    let max = tl
        .buckets
        .iter()
        .map(|b| b.ok + b.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bar_h = h - 10.0;
    for (i, bucket) in tl.buckets.iter().enumerate() {
        let from = i as u64 * BUCKET_US;
        let (x0, x1) = (g.x(from), g.x(from + BUCKET_US));
        let w = (x1 - x0 - 0.5).max(0.5);
        let ok_h = bar_h * bucket.ok as f64 / max;
        let failed_h = bar_h * bucket.failed as f64 / max;
        let base = top + h - 4.0;
        let tip = format!(
            "{}–{}: {} ok, {} failed{}{}",
            fmt_s(from),
            fmt_s(from + BUCKET_US),
            bucket.ok,
            bucket.failed,
            if bucket.errors.is_empty() { "" } else { ": " },
            bucket.errors.join(" | ")
        );
        let _ = write!(
            out,
            "<g><title>{}</title><rect x='{x0:.1}' y='{:.1}' width='{w:.1}' height='{ok_h:.1}' \
             fill='#81c784'/><rect x='{x0:.1}' y='{:.1}' width='{w:.1}' height='{failed_h:.1}' \
             fill='#e53935'/></g>",
            escape(&tip),
            base - ok_h,
            base - ok_h - failed_h
        );
    }
}

fn draw_marks(out: &mut String, g: &Geometry, tl: &Timeline) {
    // Labels are placed by priority (a promotion's beats a routine epoch note nearby), then
    // drawn with violations last so they end up on top.
    let mut by_priority: Vec<&Mark> = tl.marks.iter().collect();
    by_priority.sort_by_key(|m| (label_priority(m.kind), m.lane, m.time_us));
    let mut rows: BTreeMap<usize, LabelRows> = BTreeMap::new();
    let mut label_row: BTreeMap<*const Mark, usize> = BTreeMap::new();
    for m in by_priority.iter().filter(|m| !m.label.is_empty()) {
        let rows_here = if is_node_lane(&tl.lanes[m.lane]) {
            3
        } else {
            2
        };
        let label_rows = rows
            .entry(m.lane)
            .or_insert_with(|| LabelRows::new(rows_here));
        if let Some(row) = label_rows.place(g.x(m.time_us), &m.label) {
            label_row.insert(*m as *const Mark, row);
        }
    }
    let mut order: Vec<&Mark> = tl.marks.iter().collect();
    order.sort_by_key(|m| (m.kind == MarkKind::Violation, m.lane, m.time_us));
    for m in order {
        let (top, h) = g.tops[m.lane];
        let node_lane = is_node_lane(&tl.lanes[m.lane]);
        let mark_y = if node_lane { top + 46.0 } else { top + 20.0 };
        let x = g.x(m.time_us);
        // Trace lines carry their own time; violation evidence does not.
        let tip = if m.detail.starts_with(|c: char| c.is_ascii_digit()) {
            m.detail.clone()
        } else {
            format!("{} {}", fmt_s(m.time_us), m.detail)
        };
        let _ = write!(out, "<g><title>{}</title>", escape(&tip));
        if m.kind == MarkKind::WorkloadError {
            mark_shape(out, m.kind, x, top);
        } else {
            mark_shape(out, m.kind, x, mark_y);
        }
        if let Some(&row) = label_row.get(&(m as *const Mark)) {
            let y = (mark_y + 10.0 + row as f64 * 11.0).min(top + h - 2.0);
            let weight = if m.kind == MarkKind::Violation {
                " style='font-weight:bold;fill:#b71c1c'"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<text x='{:.1}' y='{y:.1}'{weight}>{}</text>",
                x + 6.0,
                escape(&m.label)
            );
        }
        out.push_str("</g>");
    }
}

fn legend() -> String {
    let swatch = |class_colour: &str, text: &str| {
        format!("<span><i class='sw' style='background:{class_colour}'></i>{text}</span>")
    };
    let items = [
        ("#a5d6a7", "cluster_state ok (role, config epoch, slots)"),
        ("#ef5350", "cluster_state fail"),
        ("#bdbdbd", "unreachable by the sampler"),
        ("#212121", "down"),
        ("#7e57c2", "paused"),
        ("#ffa726", "cut off (partition minority / clogged)"),
        ("#ffcc80", "flagged PFAIL by some node"),
        (
            "#c62828",
            "flagged FAIL / violation (✕; ○ other moments its evidence names)",
        ),
        ("#e65100", "fault"),
        ("#1565c0", "election"),
        ("#f9a825", "promotion"),
        ("#6a1b9a", "role / epoch / slots change"),
        ("#d32f2f", "failed workload request (ticks under the flags)"),
    ];
    let spans: Vec<String> = items.iter().map(|(c, t)| swatch(c, t)).collect();
    format!("<div class='legend'>{}</div>", spans.join(""))
}

/// The whole page: `title`, the violations, the legend, the SVG timeline and the full trace.
pub fn render_html(title: &str, events: &[TraceEvent], violations: &[Violation]) -> String {
    let tl = build(events, violations);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{}</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>",
        escape(title),
        escape(title)
    );
    let _ = write!(
        out,
        "<div class='meta'>{} events, {} of virtual time, {} nodes. Hover any mark or band for \
         the trace line behind it.</div>",
        events.len(),
        fmt_s(tl.end_us),
        tl.lanes.iter().filter(|l| is_node_lane(l)).count()
    );
    if violations.is_empty() {
        out.push_str("<div class='ok-run'>no violation</div>");
    }
    for v in violations {
        let _ = write!(out, "<div class='viol'>{}</div>", escape(&v.to_string()));
    }
    out.push_str(&legend());
    out.push_str(&svg(&tl));
    out.push_str("<h2 style='font-size:15px'>Trace</h2><pre class='trace'>");
    for ev in events {
        out.push_str(&escape(&ev.render()));
        out.push('\n');
    }
    out.push_str("</pre></body></html>\n");
    out
}
