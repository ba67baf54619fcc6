//! Reps' dispositions (SPEC §10): CSV `account_key,disposition,at,note,by`, header on line 1. A
//! bad row is skipped and named with its line and field; the good rows are stored in one
//! transaction; the same answer imported twice (account, disposition, `at`) is stored once.

use super::*;
use crate::feedback::Kind as Disposition;
use crate::store::DispositionRow;

/// The columns a feedback CSV must have (`note` and `by` may be left out).
const FEEDBACK_COLUMNS: &[&str] = &["account_key", "disposition", "at"];

/// Checks one row (column name → cell) and turns it into a workspace row, or says which field is
/// wrong and why.
fn check_row(
    store: &Store,
    mut cells: std::collections::HashMap<String, String>,
) -> std::result::Result<DispositionRow, String> {
    let mut take = |k: &str| {
        cells
            .remove(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let account = take("account_key").ok_or("missing `account_key`")?;
    let kind_text = take("disposition").ok_or("missing `disposition`")?;
    let at_text = take("at").ok_or("missing `at`")?;
    let note = take("note");
    let by = take("by");
    let kind = Disposition::parse(&kind_text).ok_or_else(|| {
        format!(
            "bad `disposition` {:?}: expected legit, not_ready or already_working",
            plain(kind_text.clone())
        )
    })?;
    let at = parse_ts(&at_text).ok_or_else(|| {
        format!(
            "bad `at` {:?}: expected RFC 3339 or YYYY-MM-DD (UTC)",
            plain(at_text.clone())
        )
    })?;
    if let Some(b) = &by
        && !b.contains('@')
    {
        return Err(format!(
            "bad `by` {:?}: expected an email",
            plain(b.clone())
        ));
    }
    let known = store.account_id(&account).map_err(|e| e.to_string())?;
    if known.is_none() {
        return Err(format!(
            "unknown `account_key` {:?}: no such account in this workspace",
            plain(account)
        ));
    }
    Ok(DispositionRow {
        origin: Some(format!("import:{account}:{}:{at}", kind.as_str())),
        account,
        kind: kind.as_str().into(),
        at,
        note,
        by,
        source: "import".into(),
    })
}

/// Imports reps' dispositions from CSV. Rows already imported (same account, disposition and
/// `at`) count as duplicates.
pub fn import_feedback(store: &Store, input: Input) -> Result<ImportReport> {
    let started = std::time::Instant::now();
    let name = input.name.clone();
    let mut reader = buffered(input.reader, 1 << 16);
    if check_format(&mut reader, &name, Some(Format::Csv)).is_err() {
        return Err(Error::Usage(format!(
            "{name}: feedback is read as CSV with the header account_key,disposition,at,note,by, and \
             this starts like JSON"
        )));
    }
    let mut report = ImportReport::new(&name, Kind::Feedback, Format::Csv);
    let mut rows: Vec<(u64, std::result::Result<DispositionRow, String>)> = Vec::new();
    for_csv_rows::<std::collections::HashMap<String, String>>(
        reader,
        FEEDBACK_COLUMNS,
        |line, row| {
            rows.push((line, row.and_then(|cells| check_row(store, cells))));
            true
        },
    );
    let mut good = Vec::new();
    for (line, row) in rows {
        report.rows += 1;
        match row {
            Ok(r) => good.push(r),
            Err(reason) => report.bad(line, reason),
        }
    }
    let added = store.record_dispositions(&good, crate::time::now())?;
    report.imported = added as u64;
    report.duplicates = (good.len() - added) as u64;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &'static [u8]) -> Input {
        Input {
            name: "feedback.csv".into(),
            reader: Box::new(text),
            size: None,
        }
    }

    #[test]
    fn rows_are_checked_by_field_and_line_and_a_second_import_adds_nothing() {
        let store = Store::open_in_memory().unwrap();
        store.ensure_accounts(["acme.com", "globex.io"]).unwrap();
        let file: &'static [u8] = b"\xEF\xBB\xBFaccount_key,disposition,at,note,by\n\
            acme.com,not_ready,2026-05-01,budget in Q3,ae@example.com\n\
            globex.io,Already working,2026-05-02T10:00:00Z,,\n\
            nope.io,legit,2026-05-01,,\n\
            acme.com,maybe,2026-05-01,,\n\
            acme.com,legit,May 1st,,\n\
            acme.com,legit,2026-05-03,,Jane\n\
            ,legit,2026-05-03,,\n";
        let r = import_feedback(&store, input(file)).unwrap();
        assert_eq!((r.rows, r.imported, r.skipped), (7, 2, 5), "{r:?}");
        let reasons: Vec<(u64, &str)> = r
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(reasons[0].0, 4);
        assert!(
            reasons[0].1.contains("unknown `account_key` \"nope.io\""),
            "{reasons:?}"
        );
        assert!(
            reasons[1].1.starts_with("bad `disposition` \"maybe\""),
            "{reasons:?}"
        );
        assert_eq!(
            reasons[2],
            (
                6,
                "bad `at` \"May 1st\": expected RFC 3339 or YYYY-MM-DD (UTC)"
            )
        );
        assert!(reasons[3].1.starts_with("bad `by`"), "{reasons:?}");
        assert_eq!(reasons[4], (8, "missing `account_key`"));
        let stored = store.dispositions().unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(
            (
                stored[0].account.as_str(),
                stored[0].kind.as_str(),
                stored[0].note.as_deref()
            ),
            ("acme.com", "not_ready", Some("budget in Q3"))
        );
        assert_eq!(stored[1].kind, "already_working");
        assert_eq!(stored[1].source, "import");
        let again = import_feedback(&store, input(file)).unwrap();
        assert_eq!((again.imported, again.duplicates), (0, 2));
        assert_eq!(store.dispositions().unwrap().len(), 2);
    }

    #[test]
    fn a_header_without_a_required_column_reads_no_row() {
        let store = Store::open_in_memory().unwrap();
        store.ensure_accounts(["acme.com"]).unwrap();
        let r = import_feedback(
            &store,
            input(b"account_key,kind,at\nacme.com,legit,2026-05-01\n"),
        )
        .unwrap();
        assert_eq!((r.imported, r.skipped), (0, 1));
        assert_eq!(r.errors[0].line, 1);
        assert!(
            r.errors[0].reason.contains("`disposition`"),
            "{:?}",
            r.errors
        );
        assert!(store.dispositions().unwrap().is_empty());
        let err = import_feedback(&store, input(b"{\"account_key\":\"acme.com\"}\n")).unwrap_err();
        assert!(err.to_string().contains("CSV"), "{err}");
    }
}
