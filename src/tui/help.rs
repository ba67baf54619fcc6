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
        "w / ctrl-s".into(),
        "tuning view: save the config file".into(),
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
    let height = (items.len() as u16 + 2).min(area.height);
    let width = 92.min(area.width);
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
        Paragraph::new(text).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(" Keys (? or Esc closes) ", t.title())),
        ),
        popup,
    );
}
