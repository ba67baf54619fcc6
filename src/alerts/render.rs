//! What each destination receives: the JSON webhook's object (SPEC §9) and a Slack message in
//! Block Kit with a `text` fallback, kept inside Slack's documented limits (50 blocks per
//! message, 3000 characters per section text, 150 per header, 10 fields of 2000).

use serde_json::{Value, json};

use super::plan::{Alert, Digest, Held};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION: usize = 3000;
pub const MAX_HEADER: usize = 150;
pub const MAX_FIELD: usize = 2000;
/// Slack truncates a message's `text` beyond 40 000 characters; the fallback stays far below.
pub const MAX_TEXT: usize = 4000;

/// The JSON webhook body of an alert.
pub fn alert_json(a: &Alert) -> Value {
    json!({
        "kind": "alert",
        "key": a.key,
        "as_of": a.as_of,
        "account": a.account,
        "name": a.name,
        "score": a.score,
        "tier": a.tier,
        "owner": a.owner,
        "arr": a.arr,
        "signals": a.signals,
        "evidence": a.evidence,
        "next_step": a.next_step,
        "why_now": a.why_now,
        "links": a.links,
    })
}

/// An alert body planned before its account's Attio deal existed (the run plans its alerts in
/// the transaction that records it, before the Attio step creates the deal), with the deal's
/// link added now that it is known. `None` when the body already has one or is not an alert.
pub fn with_attio_link(channel: &str, body: &str, url: &str) -> Option<String> {
    let mut v: Value = serde_json::from_str(body).ok()?;
    match channel {
        "webhook" => {
            let links = v.get_mut("links")?.as_object_mut()?;
            if links.get("attio").is_some_and(|l| !l.is_null()) {
                return None;
            }
            links.insert("attio".into(), Value::from(url));
        }
        "slack" => {
            let link = format!("<{url}|Deal in Attio>");
            let blocks = v.get_mut("blocks")?.as_array_mut()?;
            if body.contains("|Deal in Attio>") || blocks.is_empty() {
                return None;
            }
            let posthog = blocks.iter().position(|b| {
                b.pointer("/elements/0/text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.contains("|Account in PostHog>"))
            });
            match posthog {
                Some(i) => {
                    let t = blocks[i].pointer_mut("/elements/0/text")?;
                    let text = format!("{link} · {}", t.as_str().unwrap_or_default());
                    *t = Value::from(clip(&text, MAX_SECTION));
                }
                // Before the closing "Beton · as of" context, as `alert_slack` places links.
                None if blocks.len() < MAX_BLOCKS => {
                    let at = blocks.len() - 1;
                    blocks.insert(at, context(&link));
                }
                None => return None,
            }
        }
        _ => return None,
    }
    Some(v.to_string())
}

/// The JSON webhook body of a digest.
pub fn digest_json(d: &Digest) -> Value {
    json!({
        "kind": "digest",
        "key": d.key,
        "as_of": d.as_of,
        "date": d.date,
        "hot": d.hot,
        "warm": d.warm,
        "top": d.top,
        "rolled_in": d.rolled_in,
    })
}

/// Cuts `s` to at most `max` characters, marking the cut with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes the three characters Slack's mrkdwn gives a meaning (`&`, `<`, `>`).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn tier_word(a: &Alert) -> &'static str {
    match a.tier {
        crate::signals::Tier::Hot => "Hot",
        crate::signals::Tier::Warm => "Warm",
        crate::signals::Tier::Cool => "Cool",
    }
}

fn money(v: f64) -> String {
    let whole = v.round() as i64;
    let digits = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}", if whole < 0 { "-" } else { "" })
}

fn title(a: &Alert) -> String {
    match &a.name {
        Some(n) if n != &a.account => format!("{n} ({})", a.account),
        _ => a.account.clone(),
    }
}

fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": clip(text, MAX_SECTION)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text)})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [mrkdwn(text)]})
}

/// The Slack message of an alert.
pub fn alert_slack(a: &Alert) -> Value {
    let head = clip(
        &format!("{} PQL: {} · score {}", tier_word(a), title(a), a.score),
        MAX_HEADER,
    );
    let arr = a.arr.map(money).unwrap_or_else(|| "unknown".into());
    let fields = [
        format!("*Score*\n{} ({})", a.score, tier_word(a)),
        format!("*ARR*\n{arr}"),
        format!("*Owner*\n{}", escape(&a.owner)),
        format!("*New signals*\n{}", escape(&a.signals.join(", "))),
    ];
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| json!({"type": "mrkdwn", "text": clip(f, MAX_FIELD)}))
        .collect();
    let why: Vec<String> = a
        .evidence
        .iter()
        .map(|e| format!("• {}", escape(e)))
        .collect();
    let mut links = Vec::new();
    if let Some(u) = &a.links.attio {
        links.push(format!("<{u}|Deal in Attio>"));
    }
    if let Some(u) = &a.links.posthog {
        links.push(format!("<{u}|Account in PostHog>"));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": head, "emoji": true}}),
        json!({"type": "section", "fields": fields}),
        section(&format!(
            "*Why now*\n{}{}",
            if a.why_now.is_empty() {
                String::new()
            } else {
                format!("{}\n", escape(&a.why_now))
            },
            why.join("\n")
        )),
        section(&format!("*Next step*\n{}", escape(&a.next_step))),
    ];
    if !links.is_empty() {
        blocks.push(context(&links.join(" · ")));
    }
    blocks.push(context(&format!(
        "Beton · as of {} · ref `{}`",
        a.as_of,
        escape(&a.key)
    )));
    let text = clip(
        &format!(
            "{} PQL: {}, score {} (owner {}). New: {}. Why now: {}. {}",
            tier_word(a),
            title(a),
            a.score,
            a.owner,
            a.signals.join(", "),
            a.why_now,
            a.next_step
        ),
        MAX_TEXT,
    );
    json!({"text": text, "blocks": blocks})
}

/// The Slack message of a digest: counts, the top list and the rolled-in alerts, split into
/// sections of at most 3000 characters and cut to 50 blocks with a "… more" line.
pub fn digest_slack(d: &Digest) -> Value {
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text",
        "text": clip(&format!("Beton digest {}: {} hot, {} warm", d.date, d.hot, d.warm), MAX_HEADER),
        "emoji": true}})];
    let top: Vec<String> = d
        .top
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "{}. *{}* · {} ({})",
                i + 1,
                escape(&e.account),
                e.score,
                e.tier.as_str()
            )
        })
        .collect();
    let rolled: Vec<String> = d
        .rolled_in
        .iter()
        .map(|k| format!("• `{}`", escape(k)))
        .collect();
    let mut body: Vec<Value> = Vec::new();
    if !top.is_empty() {
        body.extend(chunks(
            &format!("*Top {} routed accounts*", top.len()),
            &top,
        ));
    }
    if !rolled.is_empty() {
        body.extend(chunks(
            &format!(
                "*{} alerts held back by the throttle or quiet hours*",
                rolled.len()
            ),
            &rolled,
        ));
    }
    // Header + footer + a possible "more" line leave 47 blocks for the lists.
    let room = MAX_BLOCKS - 3;
    if body.len() > room {
        let cut = body.len() - room;
        body.truncate(room);
        blocks.extend(body);
        blocks.push(context(&format!(
            "… {cut} more sections: `beton alerts` lists everything"
        )));
    } else {
        blocks.extend(body);
    }
    blocks.push(context(&format!(
        "Beton · as of {} · ref `{}`",
        d.as_of, d.key
    )));
    let text = clip(
        &format!(
            "Beton digest {}: {} hot and {} warm accounts; top: {}; {} alerts rolled in.",
            d.date,
            d.hot,
            d.warm,
            d.top
                .iter()
                .take(5)
                .map(|e| format!("{} ({})", e.account, e.score))
                .collect::<Vec<_>>()
                .join(", "),
            d.rolled_in.len()
        ),
        MAX_TEXT,
    );
    json!({"text": text, "blocks": blocks})
}

/// Sections holding `lines` under `title`, each at most [`MAX_SECTION`] characters.
fn chunks(title: &str, lines: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cur = title.to_string();
    for l in lines {
        let l = clip(l, MAX_SECTION - 1);
        if cur.chars().count() + 1 + l.chars().count() > MAX_SECTION {
            out.push(section(&cur));
            cur = l;
        } else {
            if !cur.is_empty() {
                cur.push('\n');
            }
            cur.push_str(&l);
        }
    }
    if !cur.is_empty() {
        out.push(section(&cur));
    }
    out
}

/// A line for people: what the alert is and, if held back, why.
pub fn summary(a: &Alert) -> String {
    let held = match a.held {
        Some(Held::Throttled) => " (held back: owner's hourly limit; goes into the digest)",
        Some(Held::QuietHours) => " (held back: quiet hours; goes into the digest)",
        None => "",
    };
    format!(
        "{} {} score {} → {}: {}{held}",
        tier_word(a),
        a.account,
        a.score,
        a.owner,
        a.signals.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_and_escape() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(money(24000.0), "$24,000");
        assert_eq!(money(999.0), "$999");
        assert_eq!(money(1234567.0), "$1,234,567");
    }

    #[test]
    fn a_long_digest_stays_inside_slacks_limits() {
        let d = Digest {
            key: "digest:2026-05-01".into(),
            date: "2026-05-01".into(),
            as_of: "2026-05-01T09:00:00Z".into(),
            hot: 3,
            warm: 4,
            top: vec![],
            rolled_in: (0..5000)
                .map(|i| format!("alert:account-{i}.example.com:2026-05-01:pricing_intent"))
                .collect(),
        };
        let m = digest_slack(&d);
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        for b in blocks {
            if let Some(t) = b.pointer("/text/text").and_then(Value::as_str) {
                assert!(t.chars().count() <= MAX_SECTION);
            }
        }
        assert!(
            m["text"]
                .as_str()
                .unwrap()
                .contains("5000 alerts rolled in")
        );
    }
}
