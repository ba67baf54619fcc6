//! Account health: status, active users, week-over-week growth and a sparkline of daily activity
//! per account; growth leaders, at-risk accounts and feature adoption beside it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders};

use beton::health::Status;

use super::super::app::App;
use super::super::figures::Figures;
use super::super::table::{Cell, TableData, Tone, col, opt};
use super::super::ui::{Areas, safe};

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Daily counts as block characters, scaled to the busiest day; a day with none is a space.
pub fn sparkline(daily: &[u32]) -> String {
    let max = daily.iter().copied().max().unwrap_or(0);
    daily
        .iter()
        .map(|&n| match n {
            0 => ' ',
            _ => SPARK[((u64::from(n) * 7).div_ceil(u64::from(max.max(1)))).min(7) as usize],
        })
        .collect()
}

/// Growth as every front-end shows it (`+23 %`); "–" when undefined.
fn growth_text(g: Option<f64>) -> String {
    g.map(|g| beton::backtest::Unit::Growth.show(Some(g)))
        .unwrap_or_else(|| "–".into())
}

pub fn table(f: &Figures) -> TableData {
    let columns = vec![
        col("account", 22),
        col("status", 8),
        col("users", 5),
        col("7d", 6),
        opt("prev 7d", 7, 2),
        col("growth", 7),
        opt("last seen", 10, 3),
        opt("feat.", 5, 4),
        opt("activity, 30 days", 30, 1),
    ];
    let Some(h) = &f.health else {
        return TableData::new(columns, Vec::new());
    };
    let rows = h
        .accounts
        .iter()
        .map(|a| {
            vec![
                Cell::text(&a.account),
                Cell::text(a.status.as_str()).tone(Tone::Status),
                Cell::value(a.active_users_30d.to_string(), a.active_users_30d as f64),
                Cell::value(a.events_7d.to_string(), a.events_7d as f64),
                Cell::value(a.events_prev_7d.to_string(), a.events_prev_7d as f64),
                Cell::maybe(a.growth, |g| growth_text(Some(g))),
                Cell::num(
                    a.last_seen
                        .as_deref()
                        .map(|s| s.get(..10).unwrap_or(s))
                        .unwrap_or("-")
                        .to_string(),
                    -a.days_since_seen.unwrap_or(f64::MAX),
                )
                .raw(a.last_seen.clone().unwrap_or_default()),
                Cell::value(a.features_30d.to_string(), a.features_30d as f64),
                Cell::num(
                    sparkline(&a.daily),
                    a.daily.iter().map(|&n| f64::from(n)).sum(),
                )
                .tone(Tone::Bar)
                .raw(
                    a.daily
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            ]
        })
        .collect();
    TableData::new(columns, rows)
}

pub fn render(f: &mut Frame, a: Areas, app: &App, title: &str) {
    let figures = &app.snapshot.figures;
    let Some(h) = &figures.health else {
        let why = figures
            .errors
            .iter()
            .find(|e| e.starts_with("health"))
            .cloned()
            .unwrap_or_else(|| "no figures yet".into());
        super::text(f, a.body, title, vec![Line::from(why)], &app.theme);
        return;
    };
    super::table(f, a.table, &app.tables[1], &app.grids[1], &app.theme, title);
    let t = &app.theme;
    let counts: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", h.counts.get(s).copied().unwrap_or(0), s.as_str()))
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", counts.join(" · ")), t.title()));
    let inner = block.inner(a.side);
    f.render_widget(block, a.side);
    let [leaders, risk, adoption] = if inner.height >= 30 {
        Layout::vertical([
            Constraint::Percentage(35),
            Constraint::Percentage(30),
            Constraint::Percentage(35),
        ])
        .areas(inner)
    } else {
        Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(30),
            Constraint::Percentage(40),
        ])
        .areas(inner)
    };
    let rows = usize::from(leaders.height.saturating_sub(1));
    // Names get what the column leaves after the figure, so the columns never run into each other.
    let name_w = |area: ratatui::layout::Rect, figure: usize| {
        usize::from(area.width)
            .saturating_sub(figure + 2)
            .clamp(4, 24)
    };
    let mut lines = vec![Line::from(Span::styled("growth leaders", t.header()))];
    let fig_w = h
        .growth_leaders
        .iter()
        .map(|g| growth_text(Some(g.growth)).chars().count())
        .max()
        .unwrap_or(0);
    let nw = name_w(leaders, fig_w);
    lines.extend(h.growth_leaders.iter().take(rows).map(|g| {
        Line::from(format!(
            "{:<nw$.nw$} {:>fig_w$}",
            safe(&g.account),
            growth_text(Some(g.growth))
        ))
    }));
    f.render_widget(ratatui::widgets::Paragraph::new(lines), leaders);
    let mut at_risk: Vec<_> = h
        .accounts
        .iter()
        .filter(|x| x.status == Status::AtRisk)
        .collect();
    at_risk.sort_by(|x, y| {
        y.events_prev_7d
            .cmp(&x.events_prev_7d)
            .then_with(|| x.account.cmp(&y.account))
    });
    let mut lines = vec![Line::from(Span::styled(
        "at risk",
        t.status_word("at_risk"),
    ))];
    let drops: Vec<String> = at_risk
        .iter()
        .map(|x| format!("{}→{}", x.events_prev_7d, x.events_7d))
        .collect();
    let fig_w = drops.iter().map(|d| d.chars().count()).max().unwrap_or(0);
    let nw = name_w(risk, fig_w);
    let risk_rows = usize::from(risk.height.saturating_sub(1));
    lines.extend(
        at_risk
            .iter()
            .zip(&drops)
            .take(risk_rows)
            .map(|(x, d)| Line::from(format!("{:<nw$.nw$} {d:>fig_w$}", safe(&x.account)))),
    );
    if at_risk.is_empty() {
        lines.push(Line::from("none"));
    }
    f.render_widget(ratatui::widgets::Paragraph::new(lines), risk);
    let bars: Vec<Bar> = h
        .feature_adoption
        .iter()
        .take(usize::from(adoption.height.saturating_sub(1)).min(12))
        .map(|u| {
            Bar::default()
                .value(u.accounts)
                .label(Line::from(safe(&u.feature)))
                .style(t.bar())
        })
        .collect();
    f.render_widget(
        BarChart::default()
            .block(Block::default().title(Span::styled(
                if adoption.width >= 38 {
                    "feature adoption, accounts in 30 days"
                } else {
                    "features: accounts, 30 d"
                },
                t.header(),
            )))
            .direction(Direction::Horizontal)
            .data(BarGroup::default().bars(&bars))
            .bar_width(1)
            .bar_gap(0),
        adoption,
    );
}
