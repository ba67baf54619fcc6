//! The Backtest pane's learn view (`L`, SPEC §11): the weights `beton learn` fits on the
//! backtest's observations, each with its 95 % interval as a bar (marked `*` when it excludes 0),
//! the test part's figures with their sample sizes, the calibration plot (predicted against
//! observed per bin, with n), and the backtest before → after the proposed bases. `d` puts the
//! bases in the tuner's draft; nothing is written here.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use beton::backtest::Unit;
use beton::learn::Learned;

use super::super::app::{App, LearnView};
use super::super::keymap::Command;
use super::super::theme::Theme;
use super::backtest::{BAR, axis_bar};
use super::pct;

/// Cells of a calibration bar: 0 to the largest predicted or observed rate over the bins.
const CAL: usize = 24;

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let back = app.keymap.hint(Command::Learn);
    let title = format!(
        " Backtest · learn: weights from outcomes ({back} or Esc: the table · ↑↓ scroll · d drafts the bases) "
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, t.title()));
    let wide = area.width >= 110;
    let lines = match &app.learn {
        Some(v) => lines(v, app, wide),
        None => vec![Line::from("no fit yet")],
    };
    let scroll = app.learn.as_ref().map_or(0, |v| v.scroll);
    f.render_widget(
        Paragraph::new(super::super::ui::safe_lines(lines))
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

/// The view's lines: the fit, or where it stands. Narrow screens drop the odds ratio and the
/// fired count from the weights.
pub fn lines(v: &LearnView, app: &App, wide: bool) -> Vec<Line<'static>> {
    let t = &app.theme;
    let Some(l) = &v.data else {
        return vec![match (&v.error, &app.job) {
            (Some(e), _) => Line::from(Span::styled(format!("no fit: {e}"), t.error())),
            (None, Some(j)) if j.total > 0 => Line::from(format!(
                "fitting on the background thread: {} {}/{} ({} cancels; the app keeps answering)",
                j.stage,
                j.done,
                j.total,
                app.keymap.hint(Command::Cancel)
            )),
            (None, Some(j)) => Line::from(format!(
                "fitting on the background thread: {} ({} cancels; the app keeps answering)",
                j.stage,
                app.keymap.hint(Command::Cancel)
            )),
            (None, None) => Line::from("not fitted"),
        }];
    };
    let mut out = header(l);
    let Some(m) = &l.model else {
        out.push(Line::from(""));
        out.push(Line::from(Span::styled(
            format!("no model: {}", l.reason.as_deref().unwrap_or("not fitted")),
            t.error(),
        )));
        out.push(Line::from(
            "The bases in force stay; nothing can be drafted. The backtest table (L) still shows each signal's lift.",
        ));
        return out;
    };
    out.push(Line::from(""));
    out.extend(coefficient_lines(l, m, t, wide));
    out.push(Line::from(format!(
        "  intercept {:+.2}: {:.1} % chance of a win within {} days when nothing fired; {} accounts, {} solver iterations",
        m.intercept,
        100.0 / (1.0 + (-m.intercept).exp()),
        l.horizon_days,
        m.clusters,
        m.iterations
    )));
    out.push(Line::from(""));
    out.extend(validation_lines(l, t));
    out.push(Line::from(""));
    out.extend(calibration_lines(l, t));
    out.push(Line::from(""));
    out.extend(before_after_lines(l, t));
    out.push(Line::from(""));
    let hint = "d puts the proposed bases in the tuner's draft: nothing is written until you apply the draft (w, then a confirmation)";
    match (&l.validation_reason, &l.proposed_bases) {
        (_, None) => out.push(Line::from(Span::styled(
            format!(
                "no bases proposed: {}",
                l.reason.as_deref().unwrap_or("none")
            ),
            t.error(),
        ))),
        (None, Some(_)) if l.validates => {
            out.push(Line::from(Span::styled(
                "validates: at least as good as the rules in force on the test part (AUC of the model and of the proposed bases)",
                t.good(),
            )));
            out.push(Line::from(Span::styled(hint, t.title())));
        }
        (why, Some(_)) => {
            out.push(Line::from(Span::styled(
                format!(
                    "does not validate: {}",
                    why.as_deref().unwrap_or("worse than the rules in force")
                ),
                t.error(),
            )));
            out.push(Line::from(Span::styled(
                format!(
                    "{hint}; applying these bases asks for F, like `beton learn --apply --force`"
                ),
                t.title(),
            )));
        }
    }
    out
}

fn day(s: &Option<String>) -> String {
    s.as_deref()
        .map_or("-".to_string(), |d| d.get(..10).unwrap_or(d).to_string())
}

/// What the fit rests on: the replay, the forward-in-time split and each part's counts.
fn header(l: &Learned) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(format!(
        "As of {}: replay of {} days every {} days, a win within {} days; L2 λ = {}; fitted on the earlier dates, tested on the later ones",
        day(&Some(l.as_of.clone())),
        l.range_days,
        l.step_days,
        l.horizon_days,
        l.lambda
    ))];
    for (name, p) in [("train", &l.train), ("test", &l.test.part)] {
        out.push(Line::from(format!("  {}", p.summary(name))));
    }
    out.push(Line::from(format!(
        "  cutoff {} (training dates end a whole horizon before it: no outcome after it is seen)",
        day(&l.cutoff)
    )));
    out
}

fn coefficient_lines(
    l: &Learned,
    m: &beton::learn::Model,
    t: &Theme,
    wide: bool,
) -> Vec<Line<'static>> {
    let extra = if wide {
        format!("{:>7} {:>9}  ", "odds ×", "fired obs")
    } else {
        String::new()
    };
    let mut out = vec![
        Line::from(Span::styled(
            "learned weights: log-odds a fired signal adds, 95 % interval (* excludes 0)",
            t.header(),
        )),
        Line::from(Span::styled(
            format!(
                "  {:<19} {:>22}  {:<BAR$}  {extra}{}",
                "signal",
                "log-odds [95 % CI]",
                "−3      0      +3",
                if wide {
                    "base now → proposed"
                } else {
                    "base → new"
                }
            ),
            t.dim(),
        )),
    ];
    for c in &m.coefficients {
        let name = c.signal.as_str();
        let (ci, bar, mark) = match c.ci95 {
            Some([lo, hi]) => (
                format!("[{lo:+.2}, {hi:+.2}]"),
                axis_bar(c.coefficient, lo, hi),
                if lo > 0.0 || hi < 0.0 { "*" } else { " " },
            ),
            None if c.fired_observations == 0 => {
                ("n/a".to_string(), "never fired: 0".to_string(), " ")
            }
            None => ("n/a".to_string(), String::new(), " "),
        };
        let now = l.current_bases.get(name).copied().unwrap_or(0);
        let proposed = l
            .proposed_bases
            .as_ref()
            .and_then(|b| b.get(name))
            .map_or("-".to_string(), u32::to_string);
        let style = if mark == "*" {
            t.title()
        } else {
            ratatui::style::Style::new()
        };
        out.push(Line::from(vec![
            Span::styled(
                format!("  {name:<19} {:>+6.2} {ci:<15}{mark}", c.coefficient),
                style,
            ),
            Span::styled(format!(" {bar:<BAR$} "), t.bar()),
            Span::raw(if wide {
                format!(
                    " {:>7.2} {:>9}  {now} → {proposed}",
                    c.odds_ratio, c.fired_observations
                )
            } else {
                format!(" {now} → {proposed}")
            }),
        ]));
        if let (Some(why), true) = (&c.reason, c.fired_observations > 0) {
            out.push(Line::from(Span::styled(format!("      {why}"), t.dim())));
        }
    }
    out
}

/// Test AUC, PR-AUC, Brier and top-decile lift of the model, the rules in force and the proposed
/// bases, on the test part (its size said).
fn validation_lines(l: &Learned, t: &Theme) -> Vec<Line<'static>> {
    let p = &l.test.part;
    let v = &l.test.model;
    let before = &l.rules.before;
    let after = l.rules.after.as_ref();
    let ratio = |x: Option<f64>| Unit::Ratio.show(x);
    let multiple = |x: Option<f64>| Unit::Multiple.show(x);
    let brier = |x: Option<f64>| x.map_or("–".into(), |b| format!("{b:.4}"));
    let row = |name: &str, m: String, r: String, a: String| {
        Line::from(format!("  {name:<16} {m:>8} {r:>12} {a:>15}"))
    };
    vec![
        Line::from(Span::styled(
            format!(
                "validated on the test part: {} observations at {} dates, {} converted on {} accounts",
                p.observations, p.dates, p.wins, p.won_accounts
            ),
            t.header(),
        )),
        Line::from(Span::styled(
            format!(
                "  {:<16} {:>8} {:>12} {:>15}",
                "", "model", "rules now", "proposed bases"
            ),
            t.dim(),
        )),
        row(
            "AUC",
            ratio(v.auc),
            ratio(before.auc),
            ratio(after.and_then(|a| a.auc)),
        ),
        row(
            "PR-AUC",
            ratio(v.pr_auc),
            ratio(before.pr_auc),
            ratio(after.and_then(|a| a.pr_auc)),
        ),
        row("Brier", brier(v.brier), "–".into(), "–".into()),
        row(
            "top-decile lift",
            multiple(v.top_decile_lift),
            multiple(before.top_decile_lift),
            multiple(after.and_then(|a| a.top_decile_lift)),
        ),
        Line::from(Span::styled(
            "  (Brier only for a probability: the rules' points are a ranking, not a chance)",
            t.dim(),
        )),
    ]
}

/// `█` the observed conversion, `┃` the mean prediction, on one scale for all bins.
fn calibration_bar(predicted: f64, observed: f64, top: f64) -> String {
    let at = |x: f64| ((x / top).clamp(0.0, 1.0) * (CAL - 1) as f64).round() as usize;
    let mut cells = vec!['·'; CAL];
    let filled = if observed > 0.0 { at(observed) + 1 } else { 0 };
    for c in &mut cells[..filled] {
        *c = '█';
    }
    cells[at(predicted)] = '┃';
    cells.into_iter().collect()
}

/// The calibration plot: per bin of predicted probability with observations, its n, the mean
/// prediction and the observed conversion, drawn on one scale.
fn calibration_lines(l: &Learned, t: &Theme) -> Vec<Line<'static>> {
    let bins: Vec<_> = l
        .test
        .calibration
        .iter()
        .filter(|b| b.observations > 0)
        .collect();
    let top = bins
        .iter()
        .flat_map(|b| [b.predicted.unwrap_or(0.0), b.observed.unwrap_or(0.0)])
        .fold(0.0f64, f64::max)
        .max(0.01);
    let mut out = vec![
        Line::from(Span::styled(
            format!(
                "calibration on the test part: predicted against observed, per bin (█ observed, ┃ predicted, 0 to {})",
                pct(Some(top))
            ),
            t.header(),
        )),
        Line::from(Span::styled(
            format!(
                "  {:<11} {:>8} {:>10} {:>9}  {:<CAL$}",
                "bin", "n", "predicted", "observed", ""
            ),
            t.dim(),
        )),
    ];
    for b in bins {
        let (p, o) = (b.predicted.unwrap_or(0.0), b.observed.unwrap_or(0.0));
        out.push(Line::from(vec![
            Span::raw(format!(
                "  {:<11} {:>8} {:>10} {:>9}  ",
                format!(
                    "[{:.1}, {:.1}{}",
                    b.from,
                    b.to,
                    if b.to >= 1.0 { "]" } else { ")" }
                ),
                b.observations,
                pct(b.predicted),
                pct(b.observed)
            )),
            Span::styled(calibration_bar(p, o, top), t.bar()),
            Span::styled(
                if b.observations < 30 {
                    "  few observations".to_string()
                } else {
                    String::new()
                },
                t.dim(),
            ),
        ]));
    }
    out
}

/// The backtest over the learn replay under the bases in force and under the proposed ones.
fn before_after_lines(l: &Learned, t: &Theme) -> Vec<Line<'static>> {
    let Some(ba) = &l.backtest else {
        return vec![Line::from(format!(
            "backtest before → after: n/a ({})",
            l.reason.as_deref().unwrap_or("no proposed bases")
        ))];
    };
    let mut out = vec![
        Line::from(Span::styled(
            format!(
                "backtest over the learn replay ({} dates, threshold {}), bases in force → proposed (* changed)",
                ba.before.replay_dates, ba.before.threshold
            ),
            t.header(),
        )),
        Line::from(format!(
            "  bases: {}",
            l.current_bases
                .iter()
                .map(|(name, now)| {
                    let to = l
                        .proposed_bases
                        .as_ref()
                        .and_then(|b| b.get(name))
                        .copied()
                        .unwrap_or(*now);
                    if to == *now {
                        format!("{name} {now}")
                    } else {
                        format!("{name} {now} → {to}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    ];
    for c in ba.changes.iter().filter(|c| !c.figure.contains('.')) {
        let line = format!(
            "  {:<24} {:>12} → {:>12} {}",
            c.figure,
            c.unit.show(c.before),
            c.unit.show(c.after),
            if c.changed() { "*" } else { " " }
        );
        out.push(if c.changed() {
            Line::from(Span::styled(line, t.title()))
        } else {
            Line::from(line)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bars_put_zero_in_the_middle_and_the_calibration_on_one_scale() {
        // −3…+3 over 19 cells: 0 at cell 9, +1 at 12, +2 at 15.
        assert_eq!(axis_bar(1.0, 0.0, 2.0), "·········───●───···");
        assert_eq!(axis_bar(0.0, -1.0, 1.0), "······───●───······");
        let wide = axis_bar(0.5, -4.0, 5.0);
        assert!(wide.starts_with('◂') && wide.ends_with('▸'), "{wide}");
        // Observed 10 % of a 20 % scale fills half; the prediction's mark sits at 5 %.
        let bar = calibration_bar(0.05, 0.10, 0.20);
        assert_eq!(bar.chars().count(), CAL);
        assert_eq!(bar.chars().position(|c| c == '┃'), Some(6));
        assert_eq!(bar.chars().filter(|c| *c == '█').count(), 12);
        assert!(!calibration_bar(0.0, 0.0, 0.2).contains('█'));
    }
}
