//! The accounts snapshot (JSON Lines in the shape of PostHog's `groups` table).

use super::*;

// ---- accounts ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RawAccount {
    #[serde(default)]
    group_type: Option<String>,
    #[serde(default)]
    group_key: Option<Value>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    properties: Option<Map<String, Value>>,
}

/// Imports an accounts snapshot (JSON Lines in the shape of PostHog's `groups` table). A key
/// seen before (earlier in the file or in the workspace) replaces its snapshot and counts as
/// updated.
pub fn import_accounts(store: &Store, cfg: &Config, input: Input) -> Result<ImportReport> {
    let started = std::time::Instant::now();
    let mut report = ImportReport::new(&input.name, Kind::Accounts, Format::Jsonl);
    let name = input.name.clone();
    let mut reader = buffered(input.reader, 1 << 16);
    if check_format(&mut reader, &name, Some(Format::Jsonl)).is_err() {
        return Err(Error::Usage(format!(
            "{name}: accounts are read as JSON Lines (one object per line, in the shape of \
             PostHog's groups table), and this does not start with a JSON object (CSV?)"
        )));
    }
    let mut ingest = Ingest::begin(store, cfg)?;
    for_jsonl_lines(reader, &name, |n, line| {
        report.rows += 1;
        match line.and_then(|l| check_account(l, cfg)) {
            Ok((key, created, props)) => {
                if ingest.account_snapshot(&key, created, &props)? {
                    report.updated += 1;
                } else {
                    report.imported += 1;
                }
            }
            Err(reason) => report.bad(n, reason),
        }
        Ok(())
    })?;
    ingest.commit()?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

type AccountRow = (String, Option<i64>, Map<String, Value>);

fn check_account(line: &str, cfg: &Config) -> std::result::Result<AccountRow, String> {
    let row: RawAccount = serde_json::from_str(line).map_err(bad_json)?;
    let key = match row.group_key {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Number(x)) => x.to_string(),
        _ => return Err("missing `group_key`".into()),
    };
    if let Some(gt) = row.group_type.as_deref().filter(|gt| *gt != cfg.group_type) {
        return Err(format!(
            "group_type `{gt}`: the configured group type is `{}`",
            cfg.group_type
        ));
    }
    let created = match row.created_at.as_deref() {
        None | Some("") => None,
        Some(s) => {
            Some(parse_ts(s).ok_or_else(|| format!("bad `created_at` {s:?}: expected RFC 3339"))?)
        }
    };
    Ok((key, created, row.properties.unwrap_or_default()))
}
