//! Sources: per lead source leads, SQLs, won, win and close rate, average won value, sales cycle
//! and pipeline; win rate per source as bars and per quarter as a line chart.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Bar, BarChart, BarGroup, Block, Borders, Chart, Dataset, GraphType};

use super::super::app::App;
use super::super::detail::money;
use super::super::figures::Figures;
use super::super::table::{Cell, TableData, col, opt};
use super::super::ui::Areas;
use super::pct;

fn num(v: Option<f64>, text: impl Fn(f64) -> String) -> Cell {
    match v {
        Some(v) => Cell::num(text(v), v),
        None => Cell::num("–", f64::MIN),
    }
}

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
                Cell::num(s.leads.to_string(), s.leads as f64),
                Cell::num(s.sqls.to_string(), s.sqls as f64),
                Cell::num(s.won.to_string(), s.won as f64),
                Cell::num(s.lost.to_string(), s.lost as f64),
                Cell::num(s.open.to_string(), s.open as f64),
                num(s.win_rate, |v| pct(Some(v))),
                num(s.close_rate, |v| pct(Some(v))),
                num(s.avg_won_value, money),
                num(s.median_sales_cycle_days, |v| format!("{v:.1}")),
                Cell::num(money(s.open_pipeline), s.open_pipeline),
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
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(a.side);
    let bars: Vec<Bar> = r
        .sources
        .iter()
        .map(|s| {
            let v = s.win_rate.unwrap_or(0.0);
            Bar::default()
                .value((v * 1000.0).round() as u64)
                .text_value(pct(s.win_rate))
                .label(Line::from(s.lead_source.clone()))
                .style(t.bar())
        })
        .collect();
    let width = (left.width.saturating_sub(2) / r.sources.len().max(1) as u16)
        .saturating_sub(1)
        .clamp(3, 10);
    f.render_widget(
        BarChart::default()
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" win rate by source ", t.title())),
            )
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1),
        left,
    );
    let quarters: Vec<String> = {
        let mut q: Vec<String> = r
            .sources
            .iter()
            .flat_map(|s| s.quarters.iter().map(|q| q.quarter.clone()))
            .collect();
        q.sort();
        q.dedup();
        q
    };
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
            let d = Dataset::default()
                .name(name.clone())
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
    let labels: Vec<Line> = match (quarters.first(), quarters.last()) {
        (Some(a), Some(b)) if a != b => vec![Line::from(a.clone()), Line::from(b.clone())],
        (Some(a), _) => vec![Line::from(a.clone())],
        _ => vec![],
    };
    f.render_widget(
        Chart::new(datasets)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" win rate per quarter, % ", t.title())),
            )
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
