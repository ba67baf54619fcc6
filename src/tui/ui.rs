//! The frame: tabs, the current pane, the status bar, overlays. Reads state only.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Wrap};

use super::app::{App, Overlay, PANES};
use super::keymap::Command;

/// Text from the workspace for the terminal: account keys and names, evidence, properties, deal
/// fields and server errors can hold anything (they come from client-side PostHog calls and
/// imported files), so control characters and bidirectional overrides are shown as escapes
/// (`\u001b`, `\u202e`) the way the CLI shows them ([`beton::safe::line`]).
pub fn safe(s: &str) -> String {
    beton::safe::line(s).into_owned()
}

/// [`safe`] on every span of a line, styles kept.
pub fn safe_line(line: Line<'_>) -> Line<'_> {
    let spans = line
        .spans
        .into_iter()
        .map(|s| match beton::safe::line(&s.content) {
            std::borrow::Cow::Borrowed(_) => s,
            std::borrow::Cow::Owned(text) => Span::styled(text, s.style),
        })
        .collect();
    Line { spans, ..line }
}

/// [`safe_line`] on every line.
pub fn safe_lines(lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    lines.into_iter().map(safe_line).collect()
}

/// Below this the app shows a message instead of a broken layout.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Where each part of the screen goes; `update` uses it to map mouse clicks.
#[derive(Debug, Clone, Copy)]
pub struct Areas {
    pub tabs: Rect,
    pub body: Rect,
    pub table: Rect,
    pub side: Rect,
    pub status: Rect,
}

pub fn areas(area: Rect, pane: usize) -> Areas {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .areas(area);
    // Tables want the width: the picture goes beside them only on very wide terminals.
    let (table, side) = if body.width >= 160 {
        let [t, s] = Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)])
            .areas(body);
        (t, s)
    } else {
        // The backtest's figures need 11 rows; the other pictures do with fewer on small screens.
        let side = match (pane, body.height >= 30) {
            (3, true) => 13,
            (3, false) => 11,
            (_, true) => 12,
            (_, false) => 8,
        };
        let [t, s] = Layout::vertical([Constraint::Min(6), Constraint::Length(side)]).areas(body);
        (t, s)
    };
    Areas {
        tabs,
        body,
        table,
        side,
        status,
    }
}

const TAB_START: u16 = 8;

fn tab_label(i: usize) -> String {
    format!(" {} {} ", i + 1, PANES[i])
}

/// The pane whose tab is at column `x` of the tab row.
pub fn tab_at(x: u16) -> Option<usize> {
    let mut start = TAB_START;
    for i in 0..PANES.len() {
        let w = tab_label(i).chars().count() as u16;
        if x >= start && x < start + w {
            return Some(i);
        }
        start += w + 1;
    }
    None
}

pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "The terminal is {}×{}; Beton needs at least {}×{}.\nMake the window larger, or press q to quit.",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .alignment(Alignment::Center),
            area,
        );
        return;
    }
    let a = areas(area, app.pane);
    tabs(f, a.tabs, app);
    match app.overlay {
        Overlay::Detail => super::detail::render(f, a.body, app),
        Overlay::Tuning => match &app.tuning {
            Some(t) => super::tuning::render(
                f,
                a.body,
                t,
                &app.theme,
                &app.config_path.display().to_string(),
            ),
            None => super::panes::render(f, a, app),
        },
        Overlay::Signal => super::dialogs::signal(f, a.body, app),
        Overlay::None | Overlay::Help | Overlay::Confirm => super::panes::render(f, a, app),
    }
    status(f, a.status, app);
    match app.overlay {
        Overlay::Help => super::help::render(f, a.body, app),
        Overlay::Confirm => super::dialogs::confirm(f, a.body, app),
        Overlay::Detail => super::dialogs::answer(f, a.body, app),
        _ => {}
    }
}

fn tabs(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" Beton ", t.title()), Span::raw(" ")];
    for i in 0..PANES.len() {
        let style = if i == app.pane
            && matches!(
                app.overlay,
                Overlay::None | Overlay::Help | Overlay::Confirm
            ) {
            t.tab_active()
        } else {
            ratatui::style::Style::new()
        };
        spans.push(Span::styled(tab_label(i), style));
        spans.push(Span::raw("│"));
    }
    spans.pop();
    let help = format!("{} help ", app.keymap.hint(Command::Help));
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let pad = usize::from(area.width).saturating_sub(used + help.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(help, t.dim()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The key hints of the bottom line, as many as fit in `width`.
fn hints(app: &App, width: usize) -> String {
    let k = |c| app.keymap.hint(c);
    let mut items = vec![
        format!("{} detail", k(Command::Open)),
        format!("{} filter", k(Command::Filter)),
        format!("{} tune", k(Command::Tune)),
        format!("{} what-if", k(Command::Rerun)),
        format!("{} daily run", k(Command::RunDaily)),
        format!("{} quit", k(Command::Quit)),
        format!("{} help", k(Command::Help)),
        format!("{} tier", k(Command::Tier)),
        format!("{} sort", k(Command::Sort)),
        format!("{} export", k(Command::Export)),
        format!("{} copy", k(Command::Copy)),
        format!("{} reload", k(Command::Reload)),
    ];
    if app.snapshot.sandbox.is_some() {
        items.insert(0, format!("{} back to the latest run", k(Command::Back)));
    }
    let mut out = String::new();
    for i in items {
        if out.chars().count() + i.chars().count() + 2 > width {
            break;
        }
        if !out.is_empty() {
            out.push_str("  ");
        }
        out.push_str(&i);
    }
    out
}

/// "3 min ago", "2 h ago", "5 d ago".
pub fn age(now: i64, then: i64) -> String {
    let s = (now - then).max(0) / beton::time::SECOND;
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn status(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let [top, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let snap = &app.snapshot;
    let mut spans = Vec::new();
    if snap.sandbox.is_some() {
        spans.push(Span::styled(" WHAT-IF ", t.demo()));
    }
    if snap.demo {
        spans.push(Span::styled(" DEMO data ", t.demo()));
    } else if !snap.source.is_empty() {
        spans.push(Span::styled(format!(" {} ", snap.source), t.title()));
    }
    match snap.run {
        Some(r) if snap.sandbox.is_some() => spans.push(Span::raw(format!(
            " draft at run {}'s T ({}) · not recorded · {} in queue",
            r.id,
            beton::time::fmt_date(r.as_of),
            snap.queue.len()
        ))),
        Some(r) => {
            let at = if area.width >= 110 {
                format!(
                    " at {}",
                    beton::time::fmt_ts(
                        r.started_at - r.started_at.rem_euclid(beton::time::SECOND)
                    )
                )
            } else {
                String::new()
            };
            spans.push(Span::raw(format!(
                " run {}{at} ({}) as of {} · {} in queue",
                r.id,
                age(app.now, r.started_at),
                beton::time::fmt_date(r.as_of),
                snap.queue.len()
            )))
        }
        None if app.loaded => spans.push(Span::raw(" no run yet")),
        None => spans.push(Span::raw(" loading…")),
    }
    if let Some(id) = app.newer_run {
        spans.push(Span::styled(
            format!(
                " · new run {id}: {} loads it",
                app.keymap.hint(Command::Reload)
            ),
            t.title(),
        ));
    }
    if app
        .tuning
        .as_ref()
        .is_some_and(super::tuning::Tuning::dirty)
        && app.overlay != Overlay::Tuning
    {
        spans.push(Span::styled(" · draft not applied", t.title()));
    }
    let g = &app.grids[app.pane];
    if !g.filter.is_empty() || app.filtering {
        spans.push(Span::styled(
            format!(
                " · filter /{}{}",
                g.filter,
                if app.filtering { "▏" } else { "" }
            ),
            t.title(),
        ));
    }
    if let Some((col, rev)) = g.sort
        && let Some(c) = app.tables[app.pane].columns.get(col)
    {
        spans.push(Span::raw(format!(
            " · sort {}{}",
            c.name,
            if rev { " ↑" } else { " ↓" }
        )));
    }
    f.render_widget(Paragraph::new(safe_line(Line::from(spans))), top);

    if let Some(j) = &app.job {
        let ratio = if j.total > 0 {
            (j.done as f64 / j.total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let what = j.kind.label();
        let label = if j.total > 0 {
            format!(
                "{what}: {} {}/{} · {} cancels",
                j.stage,
                j.done,
                j.total,
                app.keymap.hint(Command::Cancel)
            )
        } else {
            format!(
                "{what}: {} · {} cancels",
                j.stage,
                app.keymap.hint(Command::Cancel)
            )
        };
        f.render_widget(
            Gauge::default()
                .ratio(ratio)
                .label(safe(&label))
                .gauge_style(t.bar()),
            bottom,
        );
        return;
    }
    let line = match &app.notice {
        Some(n) => Line::from(Span::styled(
            n.text.clone(),
            if n.error { t.error() } else { t.good() },
        )),
        None => Line::from(Span::styled(hints(app, usize::from(area.width)), t.dim())),
    };
    f.render_widget(Paragraph::new(safe_line(line)), bottom);
}
