//! Backtest: precision, recall, F1, lift, value won, ROI and median days to close, the previous
//! backtest beside the latest with the change; conversion by score bucket as bars; per-signal
//! precision and recall, and each signal's lift with its 95 % interval drawn on a log scale
//! (SPEC §11), marked `*` when the interval excludes 1.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph};

use super::super::app::App;
use super::super::figures::Figures;
use beton::backtest::Evidence;

use super::super::table::{Cell, TableData, Tone, col, opt, raw_number};
use super::super::ui::Areas;
use super::pct;

/// The headline figures, in the order shown, with their short labels.
const HEADLINE: [(&str, &str); 9] = [
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("flagged", "flagged"),
    ("won_accounts", "won accts"),
    ("lift", "lift"),
    ("median_days_to_close", "days to close"),
    ("value_won", "value won"),
    ("roi_multiple", "ROI"),
];

fn change_of(f: &Figures, figure: &str) -> Option<String> {
    let c = f.changes.iter().find(|c| c.figure == figure)?;
    match (c.before, c.after) {
        (Some(b), Some(a)) if c.changed() => {
            let d = a - b;
            Some(match c.unit {
                beton::backtest::Unit::Percent => format!("{:+.1} pt", d * 100.0),
                _ => format!("{}{}", if d > 0.0 { "+" } else { "" }, c.unit.show(Some(d))),
            })
        }
        (Some(_), Some(_)) => Some("=".into()),
        _ if c.changed() => Some("changed".into()),
        _ => Some("=".into()),
    }
}

/// Width of the interval bars: an axis from −3 to +3 (log₂ of a lift, ⅛× to 8×; a log-odds).
pub const BAR: usize = 19;

fn bar_pos(x: f64) -> usize {
    let t = (x + 3.0) / 6.0;
    (t.clamp(0.0, 1.0) * (BAR - 1) as f64).round() as usize
}

/// `··│··───●──····` on the axis −3…+3: the interval `[lo, hi]` as a line, the estimate as a
/// dot, 0 as a tick; ends beyond the axis show as arrows.
pub fn axis_bar(estimate: f64, lo: f64, hi: f64) -> String {
    let mut cells = vec!['·'; BAR];
    cells[bar_pos(0.0)] = '│';
    for c in &mut cells[bar_pos(lo)..=bar_pos(hi)] {
        *c = '─';
    }
    if lo < -3.0 {
        cells[0] = '◂';
    }
    if hi > 3.0 {
        cells[BAR - 1] = '▸';
    }
    cells[bar_pos(estimate)] = '●';
    cells.into_iter().collect()
}

/// The lift's interval on a log scale from ⅛× to 8×, 1× as the tick. Blank when there is not
/// enough data.
pub fn interval_bar(e: &Evidence) -> String {
    let (Some(lift), Some([lo, hi])) = (e.lift, e.lift_ci95) else {
        return String::new();
    };
    axis_bar(lift.log2(), lo.log2(), hi.log2())
}

fn lift_cell(e: &Evidence) -> Cell {
    let mark = if e.excludes_one() { "*" } else { " " };
    let cell = Cell::num(
        format!("{mark}{}", e.lift_text()),
        e.lift.unwrap_or(f64::MIN),
    );
    match e.lift {
        Some(l) => cell.raw(raw_number(l)),
        None => cell.raw(""),
    }
}

pub fn table(f: &Figures) -> TableData {
    let columns = vec![
        col("signal", 19),
        opt("fires", 6, 3),
        col("flagged", 7),
        opt("TP", 5, 2),
        opt("FP", 5, 1),
        col("precision", 9),
        col("recall", 8),
        col("F1", 5),
        col("lift [95 % CI]", 21),
        opt("⅛×   interval    8×", BAR as u16, 3),
        opt("p", 6, 4),
        opt("q", 6, 5),
        opt("Δ precision", 11, 6),
        opt("Δ recall", 9, 7),
    ];
    let Some(b) = &f.backtest else {
        return TableData::new(columns, Vec::new());
    };
    let rows = b
        .report
        .per_signal
        .iter()
        .map(|s| {
            let name = s.signal.as_str();
            let delta = |figure: String| {
                let text = change_of(f, &figure).unwrap_or_default();
                let raw = f
                    .changes
                    .iter()
                    .find(|c| c.figure == figure)
                    .and_then(|c| Some(c.after? - c.before?))
                    .map(raw_number)
                    .unwrap_or_default();
                Cell::text(text).raw(raw)
            };
            vec![
                Cell::text(name),
                Cell::value(s.fires.to_string(), s.fires as f64),
                Cell::value(s.flagged.to_string(), s.flagged as f64),
                Cell::value(s.true_positives.to_string(), s.true_positives as f64),
                Cell::value(s.false_positives.to_string(), s.false_positives as f64),
                Cell::maybe(s.precision, |v| pct(Some(v))),
                Cell::maybe(s.recall, |v| pct(Some(v))),
                Cell::maybe(s.f1, |x| format!("{x:.2}")),
                lift_cell(&s.evidence),
                Cell::text(interval_bar(&s.evidence)).tone(Tone::Bar),
                Cell::maybe(s.evidence.p_value, |v| Evidence::show_p(Some(v))),
                Cell::maybe(s.evidence.q_value, |v| Evidence::show_p(Some(v))),
                delta(format!("{name}.precision")),
                delta(format!("{name}.recall")),
            ]
        })
        .collect();
    TableData::new(columns, rows)
}

pub fn render(f: &mut Frame, a: Areas, app: &App, title: &str) {
    if app.learn_shown {
        super::learn::render(f, a.body, app);
        return;
    }
    let figures = &app.snapshot.figures;
    let t = &app.theme;
    let Some(latest) = &figures.backtest else {
        let why = figures
            .errors
            .iter()
            .find(|e| e.starts_with("backtest"))
            .cloned()
            .unwrap_or_else(|| "no backtest yet: r runs one".into());
        super::text(f, a.body, title, vec![Line::from(why)], t);
        return;
    };
    let r = &latest.report;
    let title = format!(
        "{}· as of {} · {} dates, horizon {} d, threshold {} ",
        title,
        r.as_of.get(..10).unwrap_or(&r.as_of),
        r.replay_dates,
        r.horizon_days,
        r.threshold
    );
    super::table(f, a.table, &app.tables[3], &app.grids[3], t, &title);
    // Beside the table (wide screens) the side is tall: figures above the buckets.
    let [head, buckets] = if a.side.height >= 24 {
        Layout::vertical([Constraint::Length(14), Constraint::Min(8)]).areas(a.side)
    } else {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(a.side)
    };
    let prev = figures.previous.as_ref().map(|p| &p.report);
    let mut lines = Vec::new();
    for (name, label) in HEADLINE {
        let Some(c) = figures.changes.iter().find(|c| c.figure == name) else {
            lines.push(Line::from(format!("{label:<13}{:>10}", headline(r, name))));
            continue;
        };
        let ch = change_of(figures, name).unwrap_or_default();
        let style = if c.changed() {
            t.title()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{label:<13}{:>10}{:>10}{:>9}",
                c.unit.show(c.before),
                c.unit.show(c.after),
                ch
            ),
            style,
        )));
    }
    let sandbox = app.snapshot.sandbox.as_ref();
    let head_title = match (sandbox, prev) {
        (Some(s), _) if s.settings.is_empty() => {
            " figure · file · draft (no setting changed) · change ".to_string()
        }
        (Some(s), _) => format!(
            " file → draft: {} ",
            s.settings
                .iter()
                .map(beton::pipeline::sandbox::SettingChange::text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (None, Some(_)) => " figure · previous · latest · change ".to_string(),
        (None, None) => " figures (no previous backtest yet) ".to_string(),
    };
    if let Some(s) = sandbox {
        let room = usize::from(head.height.saturating_sub(2)).saturating_sub(lines.len());
        if room > 0 {
            lines.push(Line::from(Span::styled(
                format!("{:<13}{:>10}{:>10}", "", "file", "draft"),
                t.dim(),
            )));
        }
        for c in s.settings.iter().take(room.saturating_sub(1)) {
            lines.push(Line::from(Span::styled(
                format!("changed: {}", c.text()),
                t.title(),
            )));
        }
    }
    // The reps' false-positive trend (SPEC §10), when there are answers and room.
    let fb = &r.feedback;
    let room = usize::from(head.height.saturating_sub(2)).saturating_sub(lines.len());
    if fb.counts.total() > 0 && room >= 2 {
        let rate = fb
            .false_positive_rate
            .map_or_else(|| "not enough data".to_string(), |x| pct(Some(x)));
        lines.push(Line::from(Span::styled(
            format!("reps' answers {} · false pos. {rate}", fb.counts.total()),
            t.dim(),
        )));
        lines.push(Line::from(format!("by month: {}", fb.month_line(3))));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(head_title, t.title()));
    f.render_widget(Paragraph::new(lines).block(block), head);
    let width = (buckets.width.saturating_sub(2) / r.buckets.len().max(1) as u16)
        .saturating_sub(1)
        .clamp(3, 10);
    let bars: Vec<Bar> = r
        .buckets
        .iter()
        .map(|b| {
            Bar::default()
                .value(b.conversion.map_or(0, |c| (c * 1000.0).round() as u64))
                .text_value(pct(b.conversion))
                .label(Line::from(if width >= 7 {
                    b.label.clone()
                } else {
                    short_bucket(&b.label)
                }))
                .style(t.bar())
        })
        .collect();
    f.render_widget(
        BarChart::default()
            .block(Block::default().borders(Borders::ALL).title(Span::styled(
                format!(
                        " conversion by score · lift {} ",
                        r.lift
                            .map(|l| format!("{l:.1}×"))
                            .unwrap_or_else(|| "n/a".into())
                    ),
                t.title(),
            )))
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1),
        buckets,
    );
}

/// `[20,40)` → `20–39`, `[80,100]` → `80+`: bucket labels that fit a narrow bar.
fn short_bucket(label: &str) -> String {
    let inner = label.trim_matches(|c| c == '[' || c == ')' || c == ']');
    match inner.split_once(',') {
        Some((lo, "100")) => format!("{lo}+"),
        Some((lo, hi)) => match hi.parse::<u32>() {
            Ok(h) => format!("{lo}–{}", h.saturating_sub(1)),
            Err(_) => label.to_string(),
        },
        None => label.to_string(),
    }
}

/// A headline figure of a report alone (no previous backtest to compare with).
fn headline(r: &beton::backtest::BacktestReport, name: &str) -> String {
    use beton::backtest::Unit;
    match name {
        "precision" => Unit::Percent.show(r.precision),
        "recall" => Unit::Percent.show(r.recall),
        "f1" => Unit::Ratio.show(r.f1),
        "flagged" => r.flagged.to_string(),
        "won_accounts" => r.won_accounts.to_string(),
        "lift" => Unit::Multiple.show(r.lift),
        "median_days_to_close" => Unit::Days.show(r.median_days_to_close),
        "value_won" => Unit::Money.show(Some(r.value_won)),
        _ => Unit::Multiple.show(r.roi_multiple),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(lift: f64, lo: f64, hi: f64) -> Evidence {
        Evidence {
            lift: Some(lift),
            lift_ci95: Some([lo, hi]),
            ..Evidence::default()
        }
    }

    #[test]
    fn the_interval_bar_puts_one_in_the_middle_and_marks_the_ends() {
        // Log scale ⅛×…8× over 19 cells: 1× at cell 9, 2× at 12, 4× at 15.
        assert_eq!(interval_bar(&ev(2.0, 1.0, 4.0)), "·········───●───···");
        // An interval across 1 still shows the tick's place as a line.
        let across = interval_bar(&ev(1.0, 0.5, 2.0));
        assert_eq!(across, "······───●───······");
        // Beyond the scale: arrows at the ends.
        let wide = interval_bar(&ev(3.0, 0.05, 20.0));
        assert!(wide.starts_with('◂') && wide.ends_with('▸'), "{wide}");
        assert_eq!(interval_bar(&Evidence::default()), "");
        assert!(lift_cell(&ev(2.0, 1.2, 3.0)).text.starts_with('*'));
        assert!(lift_cell(&ev(1.1, 0.8, 1.5)).text.starts_with(' '));
        assert_eq!(lift_cell(&Evidence::default()).text, " not enough data");
    }
}
