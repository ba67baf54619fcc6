//! The confirmation before something acts (applying the draft, the real daily run), the rep's
//! answer dialog of the account detail, and the signal view (Enter on a Backtest row). All read
//! state only.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use beton::backtest::Unit;

use super::app::{App, Confirm, DraftedModel};
use super::keymap::Command;
use super::ui::{safe, safe_lines};

pub fn confirm(f: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.confirm else { return };
    let t = &app.theme;
    let (title, mut lines): (String, Vec<Line>) = match c {
        Confirm::Apply { sandbox, model, .. } => {
            let mut lines = vec![Line::from(Span::styled(
                "settings that change:",
                t.header(),
            ))];
            lines.extend(
                sandbox
                    .settings
                    .iter()
                    .map(|s| Line::from(format!("  {}", s.text()))),
            );
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                format!(
                    "what the next daily run would do differently (detected at {}):",
                    beton::time::fmt_date(sandbox.t)
                ),
                t.header(),
            )));
            lines.extend(
                sandbox
                    .diff
                    .lines(sandbox.crm)
                    .into_iter()
                    .map(|l| Line::from(format!("  {l}"))),
            );
            if let Some(m) = model {
                lines.push(Line::from(""));
                lines.extend(model_lines(m, t));
            }
            lines.push(Line::from(""));
            lines.push(Line::from(
                "Nothing runs now: the file is written (atomically, comments kept) and cron's next run reads it.",
            ));
            (
                format!(" Apply the draft to {}? ", app.config_path.display()),
                lines,
            )
        }
        Confirm::Daily { lines } => (
            " Run the real daily pipeline? ".to_string(),
            lines.iter().map(|l| Line::from(l.clone())).collect(),
        ),
    };
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        match c {
            Confirm::Apply { model: Some(m), .. } if m.matches && !m.learned.validates => {
                "F applies it anyway (like --force) · n or Esc goes back to the tuner"
            }
            Confirm::Apply { .. } => "y applies · n or Esc goes back to the tuner",
            Confirm::Daily { .. } => "y runs it · n or Esc cancels",
        },
        t.title(),
    )));
    let lines = safe_lines(lines);
    let width = area.width.saturating_sub(4).min(100);
    let inner_w = usize::from(width.saturating_sub(2)).max(1);
    let needed: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let height = (needed as u16 + 2).min(area.height);
    let [v] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(v);
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(safe(&title), t.title())),
        ),
        popup,
    );
}

/// What applying a draft of learned bases also does, or why it does not.
fn model_lines(m: &DraftedModel, t: &super::theme::Theme) -> Vec<Line<'static>> {
    let l = &m.learned;
    let auc = |v: Option<f64>| Unit::Ratio.show(v);
    if !m.matches {
        return vec![Line::from(
            "The draft's bases differ from the learned model's proposal: it is written as drafted and no model is recorded.",
        )];
    }
    let mut out = vec![Line::from(format!(
        "The draft holds the bases the learned model proposes (test AUC {}, rules in force {}): applying also records the model in the workspace; `beton learn --rollback` puts the previous bases back.",
        auc(l.test.model.auc),
        auc(l.rules.before.auc)
    ))];
    if !l.validates {
        out.push(Line::from(Span::styled(
            format!(
                "The model does not validate: {}. Like `beton learn --apply` without --force, y does not apply it; F does.",
                l.validation_reason
                    .as_deref()
                    .unwrap_or("worse than the rules in force")
            ),
            t.error(),
        )));
    }
    out
}

/// The rep's-answer dialog over the account detail (`a`).
pub fn answer(f: &mut Frame, area: Rect, app: &App) {
    let Some(v) = &app.detail else { return };
    let Some(d) = &v.answer else { return };
    let t = &app.theme;
    let s = &app.config.feedback;
    let mut lines = vec![Line::from(format!(
        "What did the rep find at {}? (recorded now, in the workspace only)",
        v.key
    ))];
    lines.push(Line::from(""));
    for (i, k) in beton::feedback::Kind::ALL.into_iter().enumerate() {
        let effect = match k.days(s) {
            0 => "suppresses nothing".to_string(),
            n => format!("not routed or alerted for {n} days"),
        };
        let text = format!(
            "{} {:<16} {effect}",
            if i == d.kind { ">" } else { " " },
            k.as_str()
        );
        lines.push(if i == d.kind {
            Line::from(Span::styled(text, t.header()))
        } else {
            Line::from(text)
        });
    }
    lines.push(Line::from(""));
    lines.push(Line::from(format!("note: {}_", d.note)));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "↑↓ choose · type a note · Enter records · Esc cancels",
        t.title(),
    )));
    let width = area.width.saturating_sub(4).min(80);
    let height = (lines.len() as u16 + 2).min(area.height);
    let [vert] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(vert);
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(safe_lines(lines))
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" Rep's answer ", t.title())),
            ),
        popup,
    );
}

pub fn signal(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some(v) = &app.signal else { return };
    let tries = v
        .data
        .as_ref()
        .and_then(|e| e.suggested.as_ref())
        .map(|s| format!(" · d tries {s}"))
        .unwrap_or_default();
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" {} (Esc closes · ↑↓ scroll{tries}) ", v.signal.as_str()),
        t.title(),
    ));
    let Some(e) = &v.data else {
        let msg = match &v.error {
            Some(err) => Line::from(Span::styled(
                safe(&format!("could not explain {}: {err}", v.signal.as_str())),
                t.error(),
            )),
            None => Line::from("replaying the backtest for each value of the sweep…"),
        };
        f.render_widget(Paragraph::new(msg).block(block), area);
        return;
    };
    let pct = |x: Option<f64>| Unit::Percent.show(x);
    let fig = &e.figures;
    let mut lines = vec![
        Line::from(Span::styled("definition", t.header())),
        Line::from(format!("  fires when {}", e.definition)),
        Line::from(format!("  settings: {}", e.settings)),
        Line::from(""),
        Line::from(Span::styled("figures in the backtest", t.header())),
        Line::from(format!(
            "  fired {} times on {} accounts: {} true and {} false positives; precision {}, recall {}, F1 {}",
            fig.fires,
            fig.flagged,
            fig.true_positives,
            fig.false_positives,
            pct(fig.precision),
            pct(fig.recall),
            Unit::Ratio.show(fig.f1)
        )),
    ];
    for (figure, why) in &fig.reasons {
        lines.push(Line::from(format!("  n/a {figure}: {why}")));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        format!("sweep of {} (now {})", e.tuning_key, e.current),
        t.header(),
    )));
    lines.push(Line::from(format!(
        "  {:>8}  {:>9}  {:>9}  {:>5}  {:>7}",
        "value", "precision", "recall", "F1", "flagged"
    )));
    for p in &e.sweep {
        let s = p.signal.as_ref();
        let mark = if p.value == e.current {
            " ← now"
        } else if e.suggested.as_deref() == Some(p.value.as_str()) {
            " ← suggested"
        } else {
            ""
        };
        lines.push(Line::from(format!(
            "  {:>8}  {:>9}  {:>9}  {:>5}  {:>7}{mark}",
            p.value,
            pct(s.and_then(|s| s.precision)),
            pct(s.and_then(|s| s.recall)),
            Unit::Ratio.show(s.and_then(|s| s.f1)),
            s.map_or(0, |s| s.flagged)
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("tuning advice", t.header())));
    lines.push(Line::from(format!("  {}", e.advice)));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        match &e.suggested {
            Some(s) => format!(
                "d puts {} = {s} in the draft (the tuner opens; {} then tries it, nothing is applied)",
                e.tuning_key,
                app.keymap.hint(Command::Rerun)
            ),
            None => "no other value to suggest".to_string(),
        },
        t.title(),
    )));
    f.render_widget(
        Paragraph::new(safe_lines(lines))
            .wrap(Wrap { trim: false })
            .scroll((v.scroll, 0))
            .block(block),
        area,
    );
}
