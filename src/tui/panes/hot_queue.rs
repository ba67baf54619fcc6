//! Hot queue: accounts by score with tier, signals, top evidence, last seen, ARR, owner, CRM
//! state; a score histogram beside it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders};

use beton::config::Config;
use beton::signals::{SignalType, Tier};

use super::super::app::App;
use super::super::data::Snapshot;
use super::super::detail::money;
use super::super::table::{Cell, TableData, Tone, col, opt};

/// Short names that fit a column.
pub fn short(s: SignalType) -> &'static str {
    match s {
        SignalType::UsageSpike => "spike",
        SignalType::PricingIntent => "pricing",
        SignalType::FeatureAdoption => "features",
        SignalType::LimitApproaching => "limit",
        SignalType::TrialExpiring => "trial",
        SignalType::TeamGrowth => "team",
        SignalType::SupportEngagement => "support",
        SignalType::BillingIntent => "billing",
    }
}

pub fn table(snap: &Snapshot, _cfg: &Config) -> TableData {
    let columns = vec![
        col("account", 22),
        col("tier", 4),
        col("score", 5),
        opt("signals", 22, 3),
        col("top evidence", 0),
        opt("last seen", 10, 2),
        opt("ARR", 8, 4),
        opt("owner", 18, 5),
        col("CRM", 6),
    ];
    let rows = snap
        .queue
        .iter()
        .map(|e| {
            let s = &e.score;
            let top = s
                .fired
                .iter()
                .max_by_key(|f| f.base)
                .map(|f| f.evidence.clone())
                .unwrap_or_default();
            let signals: Vec<&str> = s.fired.iter().map(|f| short(f.signal)).collect();
            let crm = match (&e.crm, s.routed) {
                (Some(_), _) => "synced",
                (None, true) => "routed",
                (None, false) => "",
            };
            vec![
                Cell::text(&s.account),
                Cell::num(s.tier.as_str(), f64::from(s.score)).tone(Tone::Tier(s.tier)),
                Cell::num(s.score.to_string(), f64::from(s.score)).tone(Tone::Tier(s.tier)),
                Cell::num(signals.join(" "), s.fired.len() as f64),
                Cell::text(top),
                match e.last_seen {
                    Some(t) => Cell::num(beton::time::fmt_date(t), t as f64),
                    None => Cell::num("-", f64::MIN).tone(Tone::Dim),
                },
                match e.arr {
                    Some(v) => Cell::num(money(v), v),
                    None => Cell::num("-", f64::MIN).tone(Tone::Dim),
                },
                Cell::text(e.owner.clone().unwrap_or_default()),
                Cell::text(crm),
            ]
        })
        .collect();
    TableData::new(columns, rows)
}

pub fn side(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let snap = &app.snapshot;
    let count = |tier: Tier| snap.queue.iter().filter(|e| e.score.tier == tier).count();
    let routed = snap.queue.iter().filter(|e| e.score.routed).count();
    let summary = Line::from(vec![
        Span::styled(format!("{} hot", count(Tier::Hot)), t.tier(Tier::Hot)),
        Span::raw(" · "),
        Span::styled(format!("{} warm", count(Tier::Warm)), t.tier(Tier::Warm)),
        Span::raw(" · "),
        Span::styled(format!("{} cool", count(Tier::Cool)), t.tier(Tier::Cool)),
        Span::raw(format!(" · {routed} routed")),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" Scores ", t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [top, chart] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    f.render_widget(summary, top);
    let bars: Vec<Bar> = snap
        .histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let tier = Tier::of(i as u32 * 10, &app.config);
            Bar::default()
                .value(n)
                .label(Line::from(format!("{}", i * 10)))
                .style(t.tier(tier))
        })
        .collect();
    let width = (chart.width.saturating_sub(10) / 10).clamp(1, 8);
    f.render_widget(
        BarChart::default()
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1),
        chart,
    );
}
