//! The account detail (Enter): the score's parts, every evidence line, the learned model's win
//! probability (after `beton learn --apply`), 30 days of activity, properties, deals and the CRM
//! link.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Wrap};

use super::app::App;
use super::data::Detail;
use super::ui::{safe, safe_lines};

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some(v) = &app.detail else { return };
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        safe(&format!(" {} (Esc closes, y copies, a answers) ", v.key)),
        t.title(),
    ));
    let Some(d) = &v.data else {
        let msg = match &v.error {
            Some(e) => Line::from(Span::styled(
                safe(&format!("could not load {}: {e}", v.key)),
                t.error(),
            )),
            None => Line::from("loading…"),
        };
        f.render_widget(Paragraph::new(msg).block(block), area);
        return;
    };
    let inner = block.inner(area);
    f.render_widget(block, area);
    let wide = inner.width >= 100;
    let (left, right) = if wide {
        let [l, r] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(inner);
        (l, Some(r))
    } else {
        (inner, None)
    };
    let [spark_area, text_area] =
        Layout::vertical([Constraint::Length(4), Constraint::Min(1)]).areas(left);
    let total: u64 = d.daily.iter().map(|&n| u64::from(n)).sum();
    let data: Vec<u64> = d.daily.iter().map(|&n| u64::from(n)).collect();
    f.render_widget(
        Sparkline::default()
            .block(Block::default().title(format!(
                "activity, 30 days to {}: {total} events",
                beton::time::fmt_date(d.as_of)
            )))
            .data(&data)
            .style(t.bar()),
        spark_area,
    );
    let mut lines = score_lines(d, app);
    lines.extend(super::since::lines(&d.since, v.against, t));
    if right.is_none() {
        lines.push(Line::from(""));
        lines.extend(prop_lines(d, app));
    }
    f.render_widget(
        Paragraph::new(safe_lines(lines))
            .wrap(Wrap { trim: false })
            .scroll((v.scroll, 0)),
        text_area,
    );
    if let Some(r) = right {
        let block = Block::default().borders(Borders::LEFT);
        f.render_widget(
            Paragraph::new(safe_lines(prop_lines(d, app)))
                .block(block)
                .wrap(Wrap { trim: false }),
            r,
        );
    }
}

fn score_lines(d: &Detail, app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let cfg = &app.config;
    let s = &d.entry.score;
    if let Some(parent) = app.detail.as_ref().and_then(|v| v.workspace_of.as_ref()) {
        let mut out = vec![
            Line::from(Span::styled(format!("workspace of {parent}"), t.title())),
            Line::from(format!(
                "scored, routed and sent to the CRM as part of {parent} (accounts.parent_property {}); Esc, then Enter on {parent} for its score",
                cfg.accounts.parent().unwrap_or("-")
            )),
        ];
        out.extend(deal_lines(d, app));
        return out;
    }
    let mut out = vec![Line::from(vec![
        Span::styled(format!("score {} ", s.score), t.title()),
        Span::styled(s.tier.as_str().to_string(), t.tier(s.tier)),
        Span::raw(match (s.routed, d.entry.route.as_deref()) {
            (true, Some(r)) if r.starts_with("in pipeline") => {
                format!(" · {r}: no new deal, the context goes onto it")
            }
            (true, Some("expansion")) => {
                format!(
                    " · routed to the CRM as expansion (≥ {})",
                    cfg.route_threshold
                )
            }
            (true, _) => format!(" · routed to the CRM (≥ {})", cfg.route_threshold),
            (false, Some(r)) if r.starts_with("suppressed") => format!(" · not routed: {r}"),
            (false, Some(r)) if r.starts_with("below") => {
                format!(
                    " · not routed: {r} (routing.min_arr {})",
                    cfg.routing.min_arr
                )
            }
            (false, _) => format!(" · not routed (threshold {})", cfg.route_threshold),
        }),
    ])];
    if s.fired.is_empty() {
        out.push(Line::from("no signal fired in the latest run"));
    }
    for fired in &s.fired {
        out.push(Line::from(vec![
            Span::styled(format!("  +{:<3}", fired.base), t.good()),
            Span::styled(format!("{:<19}", fired.signal.as_str()), t.header()),
            Span::raw(fired.evidence.clone()),
        ]));
    }
    if !s.fired.is_empty() {
        out.push(Line::from(format!(
            "  = {}",
            beton::signals::parts_line(s, cfg)
        )));
    }
    if let Some(c) = &d.learned {
        out.push(Line::from(""));
        out.extend(c.lines().into_iter().map(Line::from));
    }
    if !d.entry.workspaces.is_empty() {
        out.push(Line::from(""));
        out.extend(workspace_lines(d, app));
    }
    out.extend(deal_lines(d, app));
    out
}

/// A parent's workspaces (SPEC §14): each one's own part of the counts at T.
fn workspace_lines(d: &Detail, app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = vec![Line::from(Span::styled(
        format!(
            "workspaces ({}): each one's own events in the signals' windows; users are counted once across them for the parent",
            d.entry.workspaces.len()
        ),
        t.header(),
    ))];
    for w in &d.entry.workspaces {
        let m = &w.metrics;
        let mut parts = vec![
            format!("{} events", m.activity),
            format!("{} new users", m.new_users),
            format!("{} pricing views", m.pricing_views),
        ];
        if m.billing_events > 0 {
            parts.push(format!("{} billing events", m.billing_events));
        }
        if m.support_events > 0 {
            parts.push(format!("{} support events", m.support_events));
        }
        if !m.new_features.is_empty() {
            parts.push(format!("new features {}", m.new_features.join(", ")));
        }
        parts.push(format!(
            "last seen {}",
            w.last_seen.map_or("-".into(), beton::time::fmt_date)
        ));
        if let Some(arr) = w.arr {
            parts.push(format!("ARR {}", money(arr)));
        }
        if let Some(o) = &w.owner {
            parts.push(format!("owner {o}"));
        }
        let towards = if w.contributes.is_empty() {
            "counts towards no fired signal".to_string()
        } else {
            format!(
                "counts towards {}",
                w.contributes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push(Line::from(vec![
            Span::styled(format!("  {:<22} ", w.key), t.header()),
            Span::raw(format!("{} · {towards}", parts.join(" · "))),
        ]));
    }
    out
}

/// Deals, the CRM link and what was sent.
fn deal_lines(d: &Detail, app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = vec![Line::from("")];
    out.push(Line::from(Span::styled("deals", t.header())));
    if d.deals.is_empty() {
        out.push(Line::from("  none"));
    }
    for (deal, outcome) in &d.deals {
        out.push(Line::from(format!(
            "  {} {:<8} {:<5} {:>10} created {} closed {}",
            deal.deal_id,
            deal.lead_source,
            outcome.as_str(),
            deal.value.map(money).unwrap_or_else(|| "-".into()),
            beton::time::fmt_date(deal.created_at),
            deal.closed_at
                .map(beton::time::fmt_date)
                .unwrap_or_else(|| "-".into())
        )));
        // A parent's deals include its workspaces': say whose.
        if deal.account_key != d.entry.score.account
            && let Some(line) = out.last_mut()
        {
            line.push_span(Span::raw(format!(" · {}", deal.account_key)));
        }
    }
    out.push(Line::from(""));
    out.push(Line::from(match &d.entry.crm {
        Some(link) => format!("CRM: {link}"),
        None => "CRM: not synced".to_string(),
    }));
    if d.held_out {
        out.push(Line::from(Span::styled(
            "held out (SPEC §12): scored and shown, never sent to the CRM or alerted",
            t.header(),
        )));
    }
    if let Some(x) = &d.suppressed {
        out.push(Line::from(Span::styled(x.line(), t.header())));
    }
    if let Some(last) = d.dispositions.first() {
        out.push(Line::from(format!(
            "rep feedback: {} on {} ({}{}){}",
            last.kind,
            beton::time::fmt_date(last.at),
            last.source,
            last.by
                .as_deref()
                .map(|b| format!(", {b}"))
                .unwrap_or_default(),
            last.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        )));
    }
    out.push(Line::from(""));
    out.push(Line::from(Span::styled("sent and pending", t.header())));
    if d.outbox.is_empty() {
        out.push(Line::from("  nothing sent for this account yet"));
    }
    for o in &d.outbox {
        let when = match (o.done_at, o.state.as_str()) {
            (Some(at), _) => format!("sent {}", beton::time::fmt_ts(at)),
            (None, "rolled") => "held back for the digest".to_string(),
            (None, "digested") => format!(
                "in {}",
                o.digest.clone().unwrap_or_else(|| "the digest".into())
            ),
            (None, "sent") => "sent, answer unknown: resent by the next run".to_string(),
            (None, state) => format!(
                "{state}{}",
                o.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        };
        let what = if o.channel == "attio" {
            format!("CRM {}", o.kind)
        } else {
            format!("{} {}", o.channel, o.kind)
        };
        out.push(Line::from(format!("  {what:<16} {when}")));
    }
    out
}

fn prop_lines(d: &Detail, app: &App) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(Span::styled(
        format!("properties as of {}", beton::time::fmt_date(d.as_of)),
        app.theme.header(),
    ))];
    if let Some(seen) = d.entry.last_seen {
        out.push(Line::from(format!(
            "  last seen: {}",
            beton::time::fmt_date(seen)
        )));
    }
    for (k, v) in &d.props {
        out.push(Line::from(format!("  {k}: {v}")));
    }
    out
}

/// 24000 → "24,000", the money format of every front-end.
pub use beton::backtest::money;
