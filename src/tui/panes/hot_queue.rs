//! Hot queue: accounts by score with tier, signals, top evidence, last seen, ARR, owner, CRM
//! state; a score histogram beside it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders};

use beton::config::Config;
use beton::signals::{SignalType, Tier};

use super::super::app::App;
use super::super::data::{QueueEntry, Snapshot, Workspace};
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

/// The CRM column: in pipeline / below the ARR floor (SPEC §8), else synced or routed.
fn crm_label(e: &QueueEntry) -> String {
    match (e.route.as_deref(), &e.crm, e.score.routed) {
        (Some(r), _, _) if r != "expansion" => r.to_string(),
        (_, Some(_), _) => "synced".into(),
        (_, None, true) => "routed".into(),
        (_, None, false) => String::new(),
    }
}

fn crm_width(snap: &Snapshot) -> u16 {
    let longest = snap
        .queue
        .iter()
        .map(|e| crm_label(e).chars().count())
        .max()
        .unwrap_or(0);
    u16::try_from(longest).unwrap_or(u16::MAX).max(6)
}

/// Last seen as a date (sorts by time); "-" when never.
fn seen_cell(t: Option<i64>) -> Cell {
    match t {
        Some(t) => Cell::num(beton::time::fmt_date(t), t as f64),
        None => Cell::num("-", f64::MIN).tone(Tone::Dim).raw(""),
    }
}

/// ARR as money (exports the number); "-" when unknown.
fn arr_cell(arr: Option<f64>) -> Cell {
    match arr {
        Some(v) => Cell::value(money(v), v),
        None => Cell::num("-", f64::MIN).tone(Tone::Dim).raw(""),
    }
}

/// A workspace under its parent: its own part (the detail has every count).
fn workspace_row(w: &Workspace) -> Vec<Cell> {
    let m = &w.metrics;
    vec![
        Cell::text(&w.key),
        Cell::text("").raw("workspace"),
        Cell::num("", f64::MIN).raw(""),
        Cell::num(
            w.contributes
                .iter()
                .map(|s| short(*s))
                .collect::<Vec<_>>()
                .join(" "),
            w.contributes.len() as f64,
        )
        .raw(
            w.contributes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Cell::text(format!(
            "workspace: {} events, {} new users, {} pricing views",
            m.activity, m.new_users, m.pricing_views
        ))
        .tone(Tone::Dim),
        seen_cell(w.last_seen),
        arr_cell(w.arr),
        Cell::text(w.owner.clone().unwrap_or_default()),
        Cell::text(""),
    ]
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
        // Wide enough for "in pipeline (inbound)" only when a row says so.
        col("CRM", crm_width(snap)),
    ];
    let mut rows = Vec::new();
    let mut parent = Vec::new();
    for e in &snap.queue {
        let at = rows.len();
        rows.push(entry_row(snap, e));
        parent.push(None);
        for w in &e.workspaces {
            rows.push(workspace_row(w));
            parent.push(Some(at));
        }
    }
    let table = TableData::new(columns, rows);
    if snap.queue.iter().any(|e| !e.workspaces.is_empty()) {
        table.with_tree(parent)
    } else {
        table
    }
}

/// One queue account's row.
fn entry_row(snap: &Snapshot, e: &QueueEntry) -> Vec<Cell> {
    let s = &e.score;
    let top = s
        .fired
        .iter()
        .max_by_key(|f| f.base)
        .map(|f| f.evidence.clone())
        .unwrap_or_default();
    let signals: Vec<&str> = s.fired.iter().map(|f| short(f.signal)).collect();
    let crm = crm_label(e);
    vec![
        Cell::text(&s.account),
        Cell::num(s.tier.as_str(), f64::from(s.score)).tone(Tone::Tier(s.tier)),
        // ★ new since the previous run, ▲ ▼ moved tier (the raw export stays the number).
        Cell::value(
            format!(
                "{}{}",
                s.score,
                snap.moves
                    .get(&s.account)
                    .map_or("", |m| m.mark().trim_end())
            ),
            f64::from(s.score),
        )
        .tone(Tone::Tier(s.tier)),
        Cell::num(signals.join(" "), s.fired.len() as f64).raw(
            s.fired
                .iter()
                .map(|f| f.signal.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Cell::text(top),
        seen_cell(e.last_seen),
        arr_cell(e.arr),
        Cell::text(e.owner.clone().unwrap_or_default()),
        Cell::text(crm),
    ]
}

pub fn side(f: &mut Frame, area: Rect, app: &App) {
    // Beside the table (wide screens) the two pictures stack; below it they sit side by side.
    let [scores, week_area] = if area.height >= 24 {
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area)
    } else {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    };
    histogram(f, scores, app);
    week(f, week_area, app);
}

/// The signals that fired in the 7 days to T: a bar per type (accounts) and a sparkline per day.
fn week(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some(w) = &app.snapshot.figures.week else {
        let why = if app.snapshot.figures.health.is_some() {
            "not computed with PostHog as the source (it would cost 7 more detection runs there)"
        } else {
            "loading…"
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(" signals this week ", t.title()));
        f.render_widget(
            ratatui::widgets::Paragraph::new(why)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    let (from, to) = (
        w.days.first().copied().unwrap_or_default(),
        w.days.last().copied().unwrap_or_default(),
    );
    let title = format!(
        " signals this week · accounts per type, {}–{} ",
        beton::time::fmt_date(from).get(5..).unwrap_or_default(),
        beton::time::fmt_date(to).get(5..).unwrap_or_default()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut types: Vec<_> = w.types.iter().collect();
    types.sort_by(|a, b| b.accounts.cmp(&a.accounts).then(a.signal.cmp(&b.signal)));
    let rows = usize::from(inner.height.saturating_sub(1));
    let max = types.iter().map(|x| x.accounts).max().unwrap_or(0).max(1);
    let name_w = 18usize;
    let spark_w = w.days.len();
    let bar_w = usize::from(inner.width)
        .saturating_sub(name_w + 1 + 5 + 1 + spark_w + 1)
        .max(1);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<name_w$} {:<bar_w$} {:>5} {}",
            "type", "", "accts", "by day",
        ),
        t.header(),
    ))];
    let shown = if types.len() > rows {
        rows.saturating_sub(1)
    } else {
        rows
    };
    for x in types.iter().take(shown) {
        let len = (x.accounts as usize * bar_w).div_ceil(max as usize);
        let daily: Vec<u32> = x.per_day.iter().map(|&n| n as u32).collect();
        lines.push(Line::from(vec![
            Span::raw(format!("{:<name_w$} ", x.signal.as_str())),
            Span::styled(format!("{:<bar_w$}", "█".repeat(len)), t.bar()),
            Span::raw(format!(" {:>5} ", x.accounts)),
            Span::styled(super::health::sparkline(&daily), t.bar()),
        ]));
    }
    if types.len() > shown {
        lines.push(Line::from(Span::styled(
            format!("… {} more types", types.len() - shown),
            t.dim(),
        )));
    }
    f.render_widget(ratatui::widgets::Paragraph::new(lines), inner);
}

fn histogram(f: &mut Frame, area: Rect, app: &App) {
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
