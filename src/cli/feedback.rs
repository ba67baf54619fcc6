//! `beton feedback`: record a rep's answer about an account, or list an account's answers
//! (SPEC §10; docs/FEEDBACK.md).

use beton::feedback::{self, Disposition, Kind};
use beton::time::{fmt_ts, parse_ts};
use beton::{Error, Result};

use super::args::{DispositionArg, Global};
use super::common::{Exit, as_of, context};

/// The answer given on the command line.
pub struct Answer {
    pub d: DispositionArg,
    pub note: Option<String>,
    pub at: Option<String>,
    pub by: Option<String>,
}

fn kind(d: DispositionArg) -> Kind {
    match d {
        DispositionArg::Legit => Kind::Legit,
        DispositionArg::NotReady => Kind::NotReady,
        DispositionArg::AlreadyWorking => Kind::AlreadyWorking,
    }
}

fn json_of(d: &Disposition, s: &beton::config::FeedbackSettings) -> serde_json::Value {
    let days = d.kind.days(s);
    serde_json::json!({
        "account": d.account,
        "disposition": d.kind,
        "at": fmt_ts(d.at),
        "note": d.note,
        "by": d.by,
        "source": d.source,
        "suppressed_until": (days > 0).then(|| fmt_ts(d.at + i64::from(days) * beton::time::DAY)),
    })
}

pub fn feedback(g: &Global, account: &str, answer: Option<Answer>) -> Result<Exit> {
    let ctx = context(g)?;
    let store = ctx.open_store()?;
    let s = &ctx.config.feedback;
    let Some(a) = answer else {
        if store.account_id(account)?.is_none() {
            return Err(Error::Usage(format!(
                "no account `{account}` in this workspace"
            )));
        }
        let book = feedback::Book::load(&store)?;
        let history = book.history(account);
        let t = as_of(g)?.unwrap_or_else(beton::time::now);
        let now = book.suppression(s, account, t);
        if g.json {
            let list: Vec<_> = history.iter().map(|d| json_of(d, s)).collect();
            let out = serde_json::json!({
                "account": account,
                "as_of": fmt_ts(t),
                "dispositions": list,
                "suppressed": now.map(|x| x.kind),
                "suppressed_until": now.map(|x| x.until_ts()),
            });
            out!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        } else {
            if history.is_empty() {
                out!("{account}: no disposition recorded");
            }
            for d in history {
                out!(
                    "{}  {:<15}  {:<6}  {}{}",
                    fmt_ts(d.at),
                    d.kind.as_str(),
                    d.source,
                    d.by.as_deref().unwrap_or("-"),
                    d.note
                        .as_deref()
                        .map(|n| format!("  {n}"))
                        .unwrap_or_default()
                );
            }
            match now {
                Some(x) => out!("as of {}: {}", fmt_ts(t), x.line()),
                None => out!("as of {}: not suppressed", fmt_ts(t)),
            }
        }
        return Ok(0);
    };
    let at = match &a.at {
        Some(text) => parse_ts(text).ok_or_else(|| {
            Error::Usage(format!("--at {text:?}: expected RFC 3339 or YYYY-MM-DD"))
        })?,
        None => as_of(g)?.unwrap_or_else(beton::time::now),
    };
    let by = a.by.map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
    if let Some(b) = &by
        && !b.contains('@')
    {
        return Err(Error::Usage(format!("--by {b:?}: expected an email")));
    }
    let d = Disposition {
        account: account.to_string(),
        kind: kind(a.d),
        at,
        note: a
            .note
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        by,
        source: "cli".into(),
    };
    feedback::record(&store, &d)?;
    if g.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json_of(&d, s)).unwrap_or_default()
        );
    } else {
        let days = d.kind.days(s);
        let effect = if days > 0 {
            format!(
                "not routed and not alerted for runs after it until {}",
                fmt_ts(d.at + i64::from(days) * beton::time::DAY)
            )
        } else {
            "suppresses nothing".into()
        };
        out!(
            "recorded {} for {} at {}: {effect}",
            d.kind,
            d.account,
            fmt_ts(d.at)
        );
    }
    Ok(0)
}
