//! Deals (CSV or JSONL): amounts read as written, dates checked, a repeated id an update.

use super::*;

/// The columns a deals CSV must have.
const DEAL_COLUMNS: &[&str] = &[
    "deal_id",
    "account_key",
    "lead_source",
    "stage",
    "created_at",
];

// ---- deals ---------------------------------------------------------------------------------

/// The largest deal value taken (a trillion, in the CRM's currency): anything above is a typo or
/// a unit mix-up, not a deal.
pub const MAX_DEAL_VALUE: f64 = 1e12;

/// A deal's `value` as written: text (CSV, or a JSON string) or a JSON number.
enum RawValue {
    Text(String),
    Number(serde_json::Number),
}

/// A deal row as read, every field text (CSV) or JSON scalar (JSONL).
#[derive(Default)]
struct RawDeal {
    deal_id: Option<String>,
    account_key: Option<String>,
    name: Option<String>,
    lead_source: Option<String>,
    stage: Option<String>,
    value: Option<RawValue>,
    created_at: Option<String>,
    sql_at: Option<String>,
    closed_at: Option<String>,
    owner_email: Option<String>,
}

impl RawDeal {
    /// From a CSV row (column name → cell).
    fn from_cells(mut cells: std::collections::HashMap<String, String>) -> Self {
        let mut take = |k: &str| {
            cells
                .remove(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            deal_id: take("deal_id"),
            account_key: take("account_key"),
            name: take("name"),
            lead_source: take("lead_source"),
            stage: take("stage"),
            value: take("value").map(RawValue::Text),
            created_at: take("created_at"),
            sql_at: take("sql_at"),
            closed_at: take("closed_at"),
            owner_email: take("owner_email"),
        }
    }

    /// From a JSON Lines row: strings, numbers and booleans are taken as text; an object or an
    /// array where a value belongs is a bad row.
    fn from_json(line: &str) -> std::result::Result<Self, String> {
        let mut map = match serde_json::from_str::<Value>(line).map_err(bad_json)? {
            Value::Object(m) => m,
            _ => return Err("bad JSON: expected an object".into()),
        };
        let number = match map.get("value") {
            Some(Value::Number(n)) => Some(RawValue::Number(n.clone())),
            _ => None,
        };
        let mut take = |k: &str| -> std::result::Result<Option<String>, String> {
            match map.remove(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(format!(
                    "bad `{k}`: expected text or a number, not an object or array"
                )),
            }
        };
        let value = match number {
            Some(n) => Some(n),
            None => take("value")?.map(RawValue::Text),
        };
        Ok(Self {
            deal_id: take("deal_id")?,
            account_key: take("account_key")?,
            name: take("name")?,
            lead_source: take("lead_source")?,
            stage: take("stage")?,
            value,
            created_at: take("created_at")?,
            sql_at: take("sql_at")?,
            closed_at: take("closed_at")?,
            owner_email: take("owner_email")?,
        })
    }
}

/// A deal value: a plain number (`1250`, `1250.50`) or one with comma thousands (`1,250.50`).
/// Anything a reader could take two ways (`1.000,50`, `1,5`), not a finite number, or outside
/// 0..=[`MAX_DEAL_VALUE`] is refused with the reason.
fn deal_value(v: &RawValue) -> std::result::Result<f64, String> {
    let (shown, x) = match v {
        RawValue::Number(n) => (n.to_string(), n.as_f64()),
        RawValue::Text(t) => (t.clone(), parse_amount(t)?),
    };
    match x {
        Some(x) if x.is_finite() && (0.0..=MAX_DEAL_VALUE).contains(&x) => Ok(x),
        Some(x) if x.is_finite() => Err(format!(
            "bad `value` {shown}: out of range (0 to {MAX_DEAL_VALUE:e})"
        )),
        _ => Err(format!("bad `value` {shown}: not a finite number")),
    }
}

/// Reads a written amount; `Ok(None)` is not a finite number.
fn parse_amount(t: &str) -> std::result::Result<Option<f64>, String> {
    let bad = |why: &str| Err(format!("bad `value` {t:?}: {why}"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let body = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if let Some(f) = frac
        && !digits(f)
    {
        if f.contains(',') || f.contains('.') {
            return bad("ambiguous: both `.` and `,` as separators (write 1000.50 or 1,000.50)");
        }
        return bad("expected a number like 1250, 1250.50 or 1,250.50");
    }
    let plain_int = if int.contains(',') {
        let groups: Vec<&str> = int.split(',').collect();
        let ok = groups[0].len() <= 3
            && digits(groups[0])
            && groups[1..].iter().all(|g| g.len() == 3 && digits(g));
        if !ok {
            return bad(
                "ambiguous: a comma is read only as a thousands separator (1,000); write a decimal point as `.`",
            );
        }
        groups.concat()
    } else if digits(int) {
        int.to_string()
    } else {
        let lower = t.to_ascii_lowercase();
        if ["nan", "inf", "-inf", "infinity", "-infinity", "+inf"].contains(&lower.as_str()) {
            return Ok(None);
        }
        return bad("expected a number like 1250, 1250.50 or 1,250.50");
    };
    let text = match frac {
        Some(f) => format!(
            "{}{plain_int}.{f}",
            if body.len() < t.len() { "-" } else { "" }
        ),
        None => format!("{}{plain_int}", if body.len() < t.len() { "-" } else { "" }),
    };
    Ok(text.parse::<f64>().ok())
}

fn check_deal(d: RawDeal, cfg: &Config) -> std::result::Result<DealRow, String> {
    let need = |v: Option<String>, k: &str| v.ok_or_else(|| format!("missing `{k}`"));
    let date = |v: Option<String>, k: &str| -> std::result::Result<Option<i64>, String> {
        v.map(|s| {
            parse_ts(&s).ok_or_else(|| format!("bad `{k}` {s:?}: expected RFC 3339 or YYYY-MM-DD"))
        })
        .transpose()
    };
    let deal_id = need(d.deal_id, "deal_id")?;
    let account_key = need(d.account_key, "account_key")?;
    let lead_source = need(d.lead_source, "lead_source")?.to_lowercase();
    let stage = need(d.stage, "stage")?;
    let created_at = date(d.created_at, "created_at")?.ok_or("missing `created_at`")?;
    let closed_at = date(d.closed_at, "closed_at")?;
    let outcome = crate::deals::Outcome::of(&stage, cfg);
    if outcome != crate::deals::Outcome::Open && closed_at.is_none() {
        return Err(format!(
            "missing `closed_at`: stage {stage:?} is {}",
            outcome.as_str()
        ));
    }
    if let Some(closed) = closed_at
        && closed < created_at
    {
        return Err(format!(
            "`closed_at` {} is before `created_at` {}",
            crate::time::fmt_ts(closed),
            crate::time::fmt_ts(created_at)
        ));
    }
    let value = d.value.as_ref().map(deal_value).transpose()?;
    Ok(DealRow {
        deal_id,
        account_key,
        name: d.name,
        lead_source,
        stage,
        value,
        created_at,
        sql_at: date(d.sql_at, "sql_at")?,
        closed_at,
        owner_email: d.owner_email,
    })
}

/// Imports deals (CSV with a header, or JSON Lines with the same keys). A `deal_id` seen before
/// (earlier in the file or in the workspace) replaces that deal and counts as updated.
pub fn import_deals(
    store: &Store,
    cfg: &Config,
    input: Input,
    format: Option<Format>,
) -> Result<ImportReport> {
    let started = std::time::Instant::now();
    let name = input.name.clone();
    let mut reader = buffered(input.reader, 1 << 16);
    let format = check_format(&mut reader, &name, format)?;
    let mut report = ImportReport::new(&name, Kind::Deals, format);
    let mut rows: Vec<(u64, std::result::Result<RawDeal, String>)> = Vec::new();
    match format {
        Format::Jsonl => for_jsonl_lines(reader, &name, |n, line| {
            rows.push((n, line.and_then(RawDeal::from_json)));
            Ok(())
        })?,
        Format::Csv => for_csv_rows::<std::collections::HashMap<String, String>>(
            reader,
            DEAL_COLUMNS,
            |line, row| {
                rows.push((line, row.map(RawDeal::from_cells)));
                true
            },
        ),
    }
    let mut ingest = Ingest::begin(store, cfg)?;
    for (line, row) in rows {
        report.rows += 1;
        match row.and_then(|d| check_deal(d, cfg)) {
            Ok(deal) => {
                if ingest.deal(&deal)? {
                    report.updated += 1;
                } else {
                    report.imported += 1;
                }
            }
            Err(reason) => report.bad(line, reason),
        }
    }
    ingest.commit()?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
