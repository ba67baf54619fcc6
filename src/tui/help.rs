//! The `?` overlay: every key, as bound now (defaults or the config file's `[keys]`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::App;

/// The help's lines: keys, then what they do.
pub fn lines(app: &App) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = app
        .keymap
        .listing
        .iter()
        .map(|(cmd, keys)| (keys.join(" "), cmd.describe().to_string()))
        .collect();
    out.push(("ctrl-c".into(), "quit, from anywhere".into()));
    out.push((
        "tuner".into(),
        "/ search · Enter edit · r what-if of the draft · w apply to the file (asks) · x drop the draft".into(),
    ));
    out.push((
        "signal view".into(),
        "Enter on a Backtest row explains the signal; d puts the suggested value in the draft"
            .into(),
    ));
    out.push((
        "learn view".into(),
        format!(
            "{} on the Backtest pane: learned weights, calibration, before → after; d puts the proposed bases in the draft (the tuner's w applies them)",
            app.keymap.hint(super::keymap::Command::Learn)
        ),
    ));
    out.push((
        "confirmations".into(),
        "y (or Enter) does it; n or Esc does nothing; F applies learned bases that validate worse (--force)".into(),
    ));
    out.push((
        "mouse".into(),
        "wheel scrolls; click a tab or a row; click it again for detail".into(),
    ));
    out
}

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let items = lines(app);
    let key_w = items
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(22);
    let width = 110.min(area.width);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let total: usize = items
        .iter()
        .map(|(_, d)| (key_w + 2 + d.chars().count()).div_ceil(inner).max(1))
        .sum();
    let total = total as u16 + 2;
    let height = total.min(area.height);
    let hidden = total.saturating_sub(height);
    let scroll = app.help_scroll.min(hidden);
    let [v] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(v);
    let t = &app.theme;
    let text: Vec<Line> = items
        .into_iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {k:<key_w$} "), t.header()),
                Span::raw(d),
            ])
        })
        .collect();
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(super::ui::safe_lines(text))
            .wrap(ratatui::widgets::Wrap { trim: false })
            .scroll((scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(Span::styled(
                if hidden > 0 {
                    format!(
                        " Keys (? or Esc closes · ↑↓ scroll, {} of {} lines shown) ",
                        height - 2,
                        height - 2 + hidden
                    )
                } else {
                    " Keys (? or Esc closes) ".to_string()
                },
                t.title(),
            ))),
        popup,
    );
}
