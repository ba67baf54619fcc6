//! Sources: per lead source leads, SQLs, won, win and close rate, average won value, sales cycle
//! and pipeline; win rate per source as bars and per quarter as a line chart.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition, Paragraph,
};

use super::super::app::App;
use super::super::detail::money;
use super::super::figures::Figures;
use super::super::table::{Cell, TableData, col, opt};
use super::super::ui::{Areas, safe};
use super::pct;

pub fn table(f: &Figures) -> TableData {
    let columns = vec![
        col("source", 12),
        col("leads", 6),
        opt("SQLs", 6, 3),
        col("won", 5),
        opt("lost", 5, 1),
        opt("open", 5, 2),
        col("win rate", 8),
        col("close", 7),
        col("avg won", 9),
        col("cycle d", 7),
        col("pipeline", 10),
    ];
    let Some(r) = &f.sources else {
        return TableData::new(columns, Vec::new());
    };
    let rows = r
        .sources
        .iter()
        .map(|s| {
            vec![
                Cell::text(&s.lead_source),
                Cell::value(s.leads.to_string(), s.leads as f64),
                Cell::value(s.sqls.to_string(), s.sqls as f64),
                Cell::value(s.won.to_string(), s.won as f64),
                Cell::value(s.lost.to_string(), s.lost as f64),
                Cell::value(s.open.to_string(), s.open as f64),
                Cell::maybe(s.win_rate, |v| pct(Some(v))),
                Cell::maybe(s.close_rate, |v| pct(Some(v))),
                Cell::maybe(s.avg_won_value, money),
                Cell::maybe(s.median_sales_cycle_days, |v| format!("{v:.1}")),
                Cell::value(money(s.open_pipeline), s.open_pipeline),
            ]
        })
        .collect();
    TableData::new(columns, rows)
}

const COLORS: [Color; 6] = [
    Color::Green,
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Blue,
    Color::Red,
];
const MARKERS: [Marker; 4] = [Marker::Braille, Marker::Dot, Marker::Block, Marker::Bar];
/// How each marker looks, for the legend.
const MARKER_GLYPHS: [&str; 4] = ["⠁⠁", "••", "██", "▄▄"];

/// `2026-Q2` of an RFC 3339 time.
fn quarter_label(ts: &str) -> String {
    let (y, m) = (
        ts.get(..4).unwrap_or_default(),
        ts.get(5..7)
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(1),
    );
    format!("{y}-Q{}", (m - 1) / 3 + 1)
}

/// The time is the first instant of its quarter.
fn quarter_starts(ts: &str) -> bool {
    matches!(ts.get(5..10), Some("01-01" | "04-01" | "07-01" | "10-01"))
        && ts.get(11..19).is_none_or(|h| h == "00:00:00")
}

pub fn render(f: &mut Frame, a: Areas, app: &App, title: &str) {
    let figures = &app.snapshot.figures;
    let Some(r) = &figures.sources else {
        let why = figures
            .errors
            .iter()
            .find(|e| e.starts_with("sources"))
            .cloned()
            .unwrap_or_else(|| "no figures yet".into());
        super::text(f, a.body, title, vec![Line::from(why)], &app.theme);
        return;
    };
    let title = format!(
        "{}· deals created since {} ",
        title,
        r.from.get(..10).unwrap_or(&r.from)
    );
    super::table(
        f,
        a.table,
        &app.tables[2],
        &app.grids[2],
        &app.theme,
        &title,
    );
    let t = &app.theme;
    let side = match &figures.incrementality {
        Some(x) => {
            let [top, rest] =
                Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(a.side);
            f.render_widget(
                Paragraph::new(incrementality_lines(x)).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(Span::styled(" holdout: what routing adds ", t.title())),
                ),
                top,
            );
            rest
        }
        None => a.side,
    };
    let [left, right] = if side.height >= 24 {
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(side)
    } else {
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(side)
    };
    // Win rate by source as horizontal bars: names and figures always fit.
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" win rate by source ", t.title()));
    let inner = block.inner(left);
    f.render_widget(block, left);
    let name_w = r
        .sources
        .iter()
        .map(|s| s.lead_source.chars().count())
        .max()
        .unwrap_or(0)
        .min(12);
    let bar_w = usize::from(inner.width).saturating_sub(name_w + 10).max(1);
    let mut lines = Vec::new();
    for s in &r.sources {
        let len = s
            .win_rate
            .map_or(0, |v| (v.clamp(0.0, 1.0) * bar_w as f64).round() as usize);
        lines.push(Line::from(vec![
            Span::raw(format!("{:<name_w$.name_w$} ", safe(&s.lead_source))),
            Span::styled(format!("{:<bar_w$}", "█".repeat(len)), t.bar()),
            Span::raw(format!(" {:>7}", pct(s.win_rate))),
        ]));
        if inner.height as usize >= r.sources.len() * 2 {
            lines.push(Line::from(Span::styled(
                format!("{:<name_w$} {} won of {} leads", "", s.won, s.leads),
                t.dim(),
            )));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
    let quarters = r.quarters();
    let series: Vec<(String, Vec<(f64, f64)>)> = r
        .sources
        .iter()
        .map(|s| {
            let pts = s
                .quarters
                .iter()
                .filter_map(|q| {
                    Some((
                        quarters.iter().position(|x| *x == q.quarter)? as f64,
                        q.win_rate? * 100.0,
                    ))
                })
                .collect();
            (s.lead_source.clone(), pts)
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(10.0f64, f64::max)
        .ceil();
    let datasets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .map(|(i, (name, pts))| {
            // The legend names each line with its marker, so it reads without colour too.
            let glyph = if t.color {
                "──"
            } else {
                MARKER_GLYPHS[i % MARKERS.len()]
            };
            let d = Dataset::default()
                .name(format!("{glyph} {}", safe(name)))
                .graph_type(GraphType::Line)
                .data(pts);
            if t.color {
                d.marker(Marker::Braille)
                    .style(Style::new().fg(COLORS[i % COLORS.len()]))
            } else {
                d.marker(MARKERS[i % MARKERS.len()])
            }
        })
        .collect();
    // A quarter the period covers only in part (the first, from `from`; the one of T) is marked *.
    let partial = |q: &str| {
        let from_q = quarter_label(&r.from);
        let (from_start, to_start) = (quarter_starts(&r.from), quarter_starts(&r.as_of));
        (q == from_q && !from_start) || (q == quarter_label(&r.as_of) && !to_start)
    };
    let names: Vec<String> = quarters
        .iter()
        .map(|q| {
            if partial(q) {
                format!("{q}*")
            } else {
                q.clone()
            }
        })
        .collect();
    let plot_w = usize::from(right.width.saturating_sub(8));
    let labels: Vec<Line> = if names.len() > 1 && names.len() * 9 <= plot_w {
        names.iter().map(|q| Line::from(q.clone())).collect()
    } else {
        match (names.first(), names.last()) {
            (Some(a), Some(b)) if a != b => vec![Line::from(a.clone()), Line::from(b.clone())],
            (Some(a), _) => vec![Line::from(a.clone())],
            _ => vec![],
        }
    };
    let any_partial = names.iter().any(|q| q.ends_with('*'));
    f.render_widget(
        Chart::new(datasets)
            .block(Block::default().borders(Borders::ALL).title(Span::styled(
                if any_partial {
                    " win rate per quarter, % (* partial quarter) "
                } else {
                    " win rate per quarter, % "
                },
                t.title(),
            )))
            .legend_position(Some(LegendPosition::TopLeft))
            .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(80)))
            .x_axis(
                Axis::default()
                    .bounds([0.0, (quarters.len().max(2) - 1) as f64])
                    .labels(labels),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, top])
                    .labels(vec![Line::from("0"), Line::from(format!("{top:.0}"))]),
            ),
        right,
    );
}

/// Two lines: the arms' win rates, then the difference with its interval (or why there is none).
fn incrementality_lines(x: &beton::holdout::Incrementality) -> Vec<Line<'static>> {
    let arm = |name: &str, a: &beton::holdout::Arm| {
        format!("{name} {} of {} won ({})", a.won, a.accounts, pct(a.rate))
    };
    let first = format!(
        "{} · {} · win within {} d",
        arm("treated", &x.treated),
        arm("held out", &x.held_out),
        x.horizon_days
    );
    let second = match (x.diff_pp, x.diff_ci95_pp, x.p_value) {
        (Some(d), Some([lo, hi]), p) => format!(
            "{d:+.1} pp (95 % {lo:+.1} to {hi:+.1}), p = {}, incremental wins {:.1}, detectable ±{:.1} pp",
            p.map_or("-".into(), |p| format!("{p:.3}")),
            x.incremental_wins.unwrap_or(0.0),
            x.mdd_pp.unwrap_or(0.0)
        ),
        _ => x.reason.clone().unwrap_or_else(|| "not enough data".into()),
    };
    vec![Line::from(first), Line::from(second)]
}
