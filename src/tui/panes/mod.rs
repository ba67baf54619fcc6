//! The four panes: each builds its table from a snapshot (in `update`, once per load) and draws
//! its picture beside it. Panes only read state.

pub mod backtest;
pub mod health;
pub mod hot_queue;
pub mod learn;
pub mod sources;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell as WCell, Paragraph, Row, Table, Wrap};

use beton::config::Config;

use super::app::{App, PANES};
use super::data::Snapshot;
use super::table::{Grid, TableData, Tone, fitting};
use super::theme::Theme;
use super::ui::{Areas, safe, safe_lines};

pub fn tables(snap: &Snapshot, cfg: &Config) -> [TableData; 4] {
    [
        hot_queue::table(snap, cfg),
        health::table(&snap.figures),
        sources::table(&snap.figures),
        backtest::table(&snap.figures),
    ]
}

pub fn render(f: &mut Frame, a: Areas, app: &App) {
    let empty = match app.pane {
        0 if app.snapshot.run.is_none() => Some(if app.loaded {
            "no run yet: r runs detection"
        } else {
            "loading…"
        }),
        1..=3 if !app.loaded => Some("loading…"),
        _ => None,
    };
    if let Some(msg) = empty {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" {} ", PANES[app.pane]));
        f.render_widget(Paragraph::new(msg).block(block), a.body);
        return;
    }
    let g = &app.grids[app.pane];
    let t = &app.tables[app.pane];
    let what = match (app.pane, app.tier) {
        (0, Some(tier)) => format!(" · {} accounts only", tier.as_str()),
        (0, None) => " · all tiers".to_string(),
        _ => String::new(),
    };
    let what = if app.pane == 0 && t.is_tree() {
        let parents = t.children.iter().filter(|c| !c.is_empty()).count();
        format!(
            "{what} · {parents} parents: {} or → unfolds",
            app.keymap.hint(super::keymap::Command::Fold)
        )
    } else {
        what
    };
    let sandbox = if app.snapshot.sandbox.is_some() && matches!(app.pane, 0 | 3) {
        " · WHAT-IF of the draft, not recorded"
    } else {
        ""
    };
    // A tree counts its top rows (parents and accounts that stand alone), not the workspaces.
    let top = |i: &usize| t.parent.get(*i).is_none_or(Option::is_none);
    let title = format!(
        " {}{what}{sandbox} · {} of {} ",
        PANES[app.pane],
        g.view.iter().filter(|i| top(i)).count(),
        (0..t.rows.len()).filter(top).count()
    );
    match app.pane {
        0 => {
            table(f, a.table, t, g, &app.theme, &title);
            hot_queue::side(f, a.side, app);
        }
        1 => health::render(f, a, app, &title),
        2 => sources::render(f, a, app, &title),
        _ => backtest::render(f, a, app, &title),
    }
}

/// Draws the visible rows of a table (only those: 10,000 rows cost nothing to scroll).
pub fn table(f: &mut Frame, area: Rect, data: &TableData, grid: &Grid, theme: &Theme, title: &str) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(safe(title), theme.title()));
    let inner_w = area.width.saturating_sub(2);
    let shown = fitting(&data.columns, inner_w, 28);
    let page = usize::from(area.height.saturating_sub(3));
    let header = Row::new(shown.iter().map(|&c| {
        let name = data.columns[c].name;
        let mark = match grid.sort {
            Some((col, false)) if col == c => " ↓",
            Some((col, true)) if col == c => " ↑",
            _ => "",
        };
        WCell::from(format!("{name}{mark}"))
    }))
    .style(theme.header());
    let tree = data.is_tree();
    let rows = grid
        .view
        .iter()
        .enumerate()
        .skip(grid.offset)
        .take(page)
        .map(|(pos, &i)| {
            let cells = shown.iter().map(|&c| {
                let cell = &data.rows[i][c];
                if c == 0 && tree {
                    return WCell::from(format!(
                        "{}{}",
                        fold_mark(data, grid, i),
                        safe(&cell.text)
                    ));
                }
                let style = match cell.tone {
                    Tone::Plain => Style::new(),
                    Tone::Tier(tier) => theme.tier(tier),
                    Tone::Status => theme.status_word(&cell.text),
                    Tone::Bar => theme.bar(),
                    Tone::Dim => theme.dim(),
                };
                WCell::from(Span::styled(safe(&cell.text), style))
            });
            let row = Row::new(cells);
            if pos == grid.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let widths: Vec<Constraint> = shown
        .iter()
        .map(|&c| match data.columns[c].width {
            0 => Constraint::Fill(1),
            w => Constraint::Length(w),
        })
        .collect();
    f.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

/// The tree's glyphs before a row's key: `▸` a folded parent, `▾` an unfolded one, `├ └` its
/// workspaces, blanks for an account that stands alone.
fn fold_mark(data: &TableData, grid: &Grid, i: usize) -> &'static str {
    match data.parent.get(i).copied().flatten() {
        Some(p) if data.children[p].last() == Some(&i) => "  └ ",
        Some(_) => "  ├ ",
        None if data.children[i].is_empty() => "  ",
        None if grid.open.contains(data.key(i)) => "▾ ",
        None => "▸ ",
    }
}

/// A bordered block of text lines.
pub fn text(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(safe(&format!(" {title} ")), theme.title()));
    f.render_widget(
        Paragraph::new(safe_lines(lines))
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// 0.4231 → "42.3 %"; none → "–".
pub fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "–".into())
}
