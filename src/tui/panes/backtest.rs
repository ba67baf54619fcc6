//! The backtest pane.

use ratatui::Frame;
use ratatui::text::Line;

use super::super::app::App;
use super::super::figures::Figures;
use super::super::table::TableData;
use super::super::ui::Areas;

pub fn table(_f: &Figures) -> TableData {
    TableData::default()
}

pub fn render(f: &mut Frame, a: Areas, app: &App, title: &str) {
    let why = app.snapshot.figures.missing.clone().unwrap_or_default();
    super::text(f, a.body, title, vec![Line::from(why)], &app.theme);
}
