//! Imports: dedupe on uuid, bad rows reported with line and reason while the good rows are
//! stored, CSV and JSONL, accounts and deals.

use std::io::Cursor;

use beton::config::Config;
use beton::import::{Format, Input, import_accounts, import_deals, import_events};
use beton::progress::Silent;
use beton::store::Store;

fn input(text: &str) -> Input {
    Input {
        name: "test.jsonl".into(),
        reader: Box::new(Cursor::new(text.as_bytes().to_vec())),
        size: None,
    }
}

const GOOD: &str = r#"{"uuid":"0190a000-0000-7000-8000-000000000001","event":"$pageview","distinct_id":"u1","timestamp":"2026-05-01T12:00:00Z","properties":{"$current_url":"https://x/pricing","$groups":{"company":"acme.com"}}}
{"uuid":"0190a000-0000-7000-8000-000000000002","event":"feature_used","distinct_id":"u2","timestamp":"2026-05-01T13:00:00+02:00","properties":{"feature":"sso","$groups":{"company":"acme.com"}}}
{"uuid":"0190a000-0000-7000-8000-000000000003","event":"$pageview","distinct_id":"u3","timestamp":"2026-05-01T14:00:00Z","properties":{}}
"#;

#[test]
fn duplicates_inside_one_file_count_once_on_a_fresh_workspace() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let line = GOOD.lines().next().unwrap();
    let text = format!("{line}\n{line}\n{}\n{line}\n", GOOD.lines().nth(1).unwrap());
    let r = import_events(&store, &cfg, input(&text), None, &Silent).unwrap();
    assert_eq!((r.imported, r.duplicates), (2, 2));
    let r = import_events(&store, &cfg, input(&text), None, &Silent).unwrap();
    assert_eq!(
        (r.imported, r.duplicates),
        (0, 4),
        "the stored uuids of the day dedupe later imports"
    );
    assert_eq!(store.counts().unwrap().events, 2);
}

/// Dedupe is on the uuid within the event's UTC day, as PostHog's own events table (whose
/// ReplacingMergeTree key holds the date and the uuid): a re-sent event always keeps its time.
#[test]
fn a_uuid_dedupes_within_its_utc_day_across_imports() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let ev = |uuid: &str, ts: &str| {
        format!(
            r#"{{"uuid":"{uuid}","event":"$pageview","distinct_id":"u1","timestamp":"{ts}","properties":{{"$groups":{{"company":"acme.com"}}}}}}"#
        )
    };
    let u = "0190a000-0000-7000-8000-0000000000aa";
    let first = [
        ev(u, "2026-05-01T23:59:59Z"),
        ev("t-1", "2026-05-02T00:00:00Z"),
    ]
    .join("\n");
    let r = import_events(&store, &cfg, input(&first), None, &Silent).unwrap();
    assert_eq!((r.imported, r.duplicates), (2, 0));
    // Same day, another time: still the stored event. The same uuids a day later: new events.
    let second = [
        ev(u, "2026-05-01T08:00:00Z"),
        ev("t-1", "2026-05-02T18:00:00Z"),
        ev(u, "2026-05-02T00:00:01Z"),
        ev("t-1", "2026-05-01T12:00:00Z"),
        ev(u, "2026-05-02T09:00:00Z"),
    ]
    .join("\n");
    let r = import_events(&store, &cfg, input(&second), None, &Silent).unwrap();
    assert_eq!((r.imported, r.duplicates), (2, 3));
    assert_eq!(store.counts().unwrap().events, 4);
}

#[test]
fn reimporting_the_same_events_is_a_no_op() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let first = import_events(&store, &cfg, input(GOOD), None, &Silent).unwrap();
    assert_eq!(
        (
            first.rows,
            first.imported,
            first.without_account,
            first.skipped
        ),
        (3, 2, 1, 0)
    );
    let second = import_events(&store, &cfg, input(GOOD), None, &Silent).unwrap();
    assert_eq!((second.imported, second.duplicates), (0, 2));
    assert_eq!(store.counts().unwrap().events, 2);
}

#[test]
fn bad_rows_are_skipped_with_line_and_reason_and_the_rest_is_kept() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let text = format!(
        "{}\n{{not json\n{{\"distinct_id\":\"u\",\"timestamp\":\"2026-05-01T00:00:00Z\"}}\n\n{{\"event\":\"x\",\"distinct_id\":\"u\"}}\n{{\"event\":\"x\",\"distinct_id\":\"u\",\"timestamp\":\"01/05/2026\"}}\n{}",
        GOOD.lines().next().unwrap(),
        GOOD.lines().nth(1).unwrap()
    );
    let r = import_events(&store, &cfg, input(&text), None, &Silent).unwrap();
    assert_eq!((r.imported, r.skipped), (2, 4));
    let lines: Vec<(u64, &str)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(lines[0].0, 2);
    assert!(lines[0].1.starts_with("bad JSON"), "{lines:?}");
    assert_eq!(lines[1], (3, "missing `event`"));
    assert_eq!(lines[2], (5, "missing `timestamp`"));
    assert_eq!(lines[3].0, 6);
    assert!(lines[3].1.contains("01/05/2026"), "{lines:?}");
    assert_eq!(store.counts().unwrap().events, 2);
}

/// The shapes the fast parser has to get right: CRLF endings, a line that is not UTF-8, escaped
/// strings, numbers and booleans as ids, `$groups` with other group types and non-string values.
#[test]
fn jsonl_edge_shapes_parse_like_the_spec_says() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let mut bytes = Vec::new();
    let line = |bytes: &mut Vec<u8>, l: &str| {
        bytes.extend_from_slice(l.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    };
    line(
        &mut bytes,
        r#"{"event":"$pageview","distinct_id":42,"timestamp":"2026-05-01T12:00:00Z","properties":{"$current_url":"https:\/\/x.io\/pricing","$groups":{"project":{"id":1},"company":"esc\u00e9.com"}}}"#,
    );
    line(
        &mut bytes,
        r#"{"event":"feature_used","distinct_id":true,"timestamp":"2026-05-01T12:00:01Z","properties":{"feature":7,"$groups":{"company":1234}}}"#,
    );
    line(
        &mut bytes,
        r#"{"event":"x","distinct_id":"u","timestamp":"2026-05-01T12:00:02Z","properties":{"$groups":{"company":null,"team":"t"}}}"#,
    );
    line(
        &mut bytes,
        r#"{"event":"x","distinct_id":null,"timestamp":"2026-05-01T12:00:03Z"}"#,
    );
    bytes.extend_from_slice(b"{\"event\":\"\xff\"}\r\n");
    line(
        &mut bytes,
        r#"{"event":"x","distinct_id":"u","timestamp":"2026-05-01T12:00:04Z","properties":{"$groups":[1,2]}}"#,
    );
    let r = import_events(
        &store,
        &cfg,
        Input {
            name: "edge.jsonl".into(),
            reader: Box::new(Cursor::new(bytes)),
            size: None,
        },
        None,
        &Silent,
    )
    .unwrap();
    assert_eq!(
        (r.rows, r.imported, r.without_account, r.skipped),
        (6, 2, 1, 3),
        "{:?}",
        r.errors
    );
    let reasons: Vec<(u64, &str)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(reasons[0], (4, "missing `distinct_id`"));
    assert_eq!(reasons[1], (5, "not UTF-8 text"));
    assert_eq!(reasons[2].0, 6);
    assert!(reasons[2].1.starts_with("bad JSON"), "{reasons:?}");
    let keys: Vec<String> = store.accounts().unwrap().into_iter().map(|a| a.1).collect();
    assert_eq!(keys, ["esc\u{e9}.com", "1234"]);
    let mut urls = Vec::new();
    store
        .for_raw_events(i64::MIN, i64::MAX, None, |e| {
            urls.push(e.url.map(str::to_string))
        })
        .unwrap();
    assert!(
        urls.contains(&Some("https://x.io/pricing".to_string())),
        "{urls:?}"
    );
}

#[test]
fn csv_events_with_json_properties() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let csv = "uuid,event,distinct_id,timestamp,properties\n\
        a1,$pageview,u1,2026-05-01T12:00:00Z,\"{\"\"$current_url\"\":\"\"/pricing\"\",\"\"$groups\"\":{\"\"company\"\":\"\"acme.com\"\"}}\"\n\
        a2,$pageview,u1,not-a-date,\"{}\"\n\
        a3,checkout_started,u1,2026-05-01T12:00:00Z,\"{\"\"$groups\"\":{\"\"company\"\":\"\"acme.com\"\"}}\"\n\
        a4,x,u1,2026-05-01T12:00:00Z,\"{broken\"\n";
    let r = import_events(&store, &cfg, input(csv), Some(Format::Csv), &Silent).unwrap();
    assert_eq!((r.rows, r.imported, r.skipped), (4, 2, 2));
    assert_eq!(r.errors[0].line, 3);
    assert!(r.errors[0].reason.starts_with("bad `timestamp`"));
    assert_eq!(r.errors[1].line, 5);
    assert!(r.errors[1].reason.starts_with("bad JSON in `properties`"));
    // Without a format, the first byte tells CSV from JSONL (as for stdin).
    let again = import_events(&store, &cfg, input(csv), None, &Silent).unwrap();
    assert_eq!((again.format, again.duplicates), (Format::Csv, 2));
}

#[test]
fn a_failing_import_leaves_nothing_behind() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let reader = std::io::Read::chain(Cursor::new(GOOD.as_bytes().to_vec()), Failing);
    let broken = Input {
        name: "broken.jsonl".into(),
        reader: Box::new(reader),
        size: None,
    };
    let err = import_events(&store, &cfg, broken, None, &Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("broken.jsonl") && err.contains("disk on fire"),
        "{err}"
    );
    assert_eq!(
        store.counts().unwrap().events,
        0,
        "the transaction rolled back"
    );
    // The rollback also restored the uuid index the fresh import had set aside.
    import_events(&store, &cfg, input(GOOD), None, &Silent).unwrap();
    let again = import_events(&store, &cfg, input(GOOD), None, &Silent).unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 2));
}

#[test]
fn accounts_snapshot_checks_group_type_and_key() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let text = r#"{"group_type":"company","group_key":"acme.com","created_at":"2026-01-01T00:00:00Z","properties":{"plan":"team","usage":850}}
{"group_type":"project","group_key":"p1","properties":{}}
{"group_type":"company","properties":{}}
{"group_type":"company","group_key":"beta.io","created_at":"yesterday"}
"#;
    let r = import_accounts(&store, &cfg, input(text)).unwrap();
    assert_eq!((r.imported, r.skipped), (1, 3));
    assert_eq!(
        r.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let accounts = store.accounts().unwrap();
    assert_eq!(accounts.len(), 1);
    assert!(accounts[0].2.as_deref().unwrap().contains("\"usage\":850"));
}

#[test]
fn deals_csv_and_jsonl_with_upsert_by_id() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let csv = "deal_id,account_key,name,lead_source,stage,value,created_at,sql_at,closed_at,owner_email\n\
        D1,acme.com,Acme,PQL,Won 🎉,24000,2026-01-01,,2026-02-01,ae@example.com\n\
        D2,beta.io,Beta,inbound,negotiation,\"12,000\",2026-01-05T10:00:00Z,,,\n\
        D3,gamma.dev,Gamma,outbound,closed_lost,5000,2026-01-05,,,\n\
        D4,,Nobody,inbound,open,1,2026-01-05,,,\n\
        D5,delta.ai,Delta,partner,open,lots,2026-01-05,,,\n";
    let r = import_deals(&store, &cfg, input(csv), Some(Format::Csv)).unwrap();
    assert_eq!((r.imported, r.skipped), (2, 3));
    let reasons: Vec<(u64, &str)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons[0],
        (4, "missing `closed_at`: stage \"closed_lost\" is lost")
    );
    assert_eq!(reasons[1], (5, "missing `account_key`"));
    assert_eq!(reasons[2].0, 6);
    let deals = store.deals().unwrap();
    assert_eq!(deals[0].lead_source, "pql", "lead sources are lower-cased");
    assert_eq!(deals[1].value, Some(12000.0));
    let jsonl = r#"{"deal_id":"D1","account_key":"acme.com","lead_source":"pql","stage":"lost","value":1,"created_at":"2026-01-01","closed_at":"2026-03-01"}"#;
    let r = import_deals(&store, &cfg, input(jsonl), None).unwrap();
    assert_eq!(r.imported, 1);
    let deals = store.deals().unwrap();
    assert_eq!(deals.len(), 2);
    assert_eq!(
        deals.iter().find(|d| d.deal_id == "D1").unwrap().stage,
        "lost"
    );
}

#[test]
fn a_big_fresh_import_writes_every_row_once() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    // 10,000 events over two days, every tenth one repeated: full blocks of 4,096 are written
    // while reading and the part-filled ones at commit.
    let mut text = String::new();
    for i in 0..10_000 {
        let line = format!(
            r#"{{"uuid":"0190a000-0000-7000-8000-{i:012}","event":"e{}","distinct_id":"u{}","timestamp":"2026-05-{:02}T{:02}:{:02}:00Z","properties":{{"$groups":{{"company":"a{}.com"}}}}}}"#,
            i % 7,
            i % 13,
            1 + i % 2,
            i % 24,
            i % 60,
            i % 5
        );
        text.push_str(&line);
        text.push('\n');
        if i % 10 == 0 {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let r = import_events(&store, &cfg, input(&text), None, &Silent).unwrap();
    assert_eq!((r.rows, r.imported, r.duplicates), (11_000, 10_000, 1_000));
    assert_eq!(store.counts().unwrap().events, 10_000);
    assert_eq!(store.counts().unwrap().accounts, 5);
    let day2 = beton::time::parse_ts("2026-05-02T00:00:00Z").unwrap();
    let mut per_day = [0; 2];
    store
        .for_raw_events(
            day2 - beton::time::DAY,
            day2 + beton::time::DAY,
            None,
            |e| {
                per_day[usize::from(e.ts >= day2)] += 1;
            },
        )
        .unwrap();
    assert_eq!(per_day, [5_000, 5_000]);
    let again = import_events(&store, &cfg, input(&text), None, &Silent).unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 11_000));
}

#[test]
fn a_first_import_into_a_file_is_all_or_nothing_and_leaves_wal_on() {
    let cfg = Config::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let store = Store::open(&path).unwrap();
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("cable pulled"))
        }
    }
    let reader = std::io::Read::chain(Cursor::new(GOOD.as_bytes().to_vec()), Failing);
    let broken = Input {
        name: "broken.jsonl".into(),
        reader: Box::new(reader),
        size: None,
    };
    assert!(import_events(&store, &cfg, broken, None, &Silent).is_err());
    assert_eq!(
        store.counts().unwrap().events,
        0,
        "nothing of the failed import stays"
    );
    let r = import_events(&store, &cfg, input(GOOD), None, &Silent).unwrap();
    assert_eq!(r.imported, 2);
    assert!(
        !dir.path().join("w.sqlite-journal").exists(),
        "the rollback journal is gone"
    );
    // The same connection is back in WAL mode: its next write goes to the WAL file.
    let again = import_events(&store, &cfg, input(GOOD), None, &Silent).unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 2));
    assert!(
        dir.path().join("w.sqlite-wal").exists(),
        "journal_mode is WAL again"
    );
}

/// A stream read in chunks (as stdin is): bad rows far into it keep their line numbers across
/// chunk boundaries, a line longer than a chunk is read whole, and a last line without a line
/// end counts.
#[test]
fn a_long_stream_keeps_line_numbers_across_chunks() {
    let line = |i: usize, extra: &str| {
        format!(
            r#"{{"uuid":"0190a000-0000-7000-8000-{i:012}","event":"click","distinct_id":"u{}","timestamp":"2026-05-01T12:00:00Z","properties":{{"$groups":{{"company":"acme.com"}}{extra}}}}}"#,
            i % 7
        )
    };
    let mut text = String::new();
    let mut bad = Vec::new();
    let total = 40_000; // about 8 MB: several chunks
    for i in 1..=total {
        if i % 9_001 == 0 {
            text.push_str("{not json\n");
            bad.push(i as u64);
        } else if i == 20_000 {
            let big = "x".repeat(5 << 20); // longer than a chunk
            text.push_str(&line(i, &format!(r#","blob":"{big}""#)));
            text.push('\n');
        } else if i == total {
            text.push_str(&line(i, "")); // no line end
        } else {
            text.push_str(&line(i, ""));
            text.push('\n');
        }
    }
    let store = Store::open_in_memory().unwrap();
    let report = import_events(
        &store,
        &Config::default(),
        input(&text),
        Some(Format::Jsonl),
        &Silent,
    )
    .unwrap();
    assert_eq!(report.rows, total as u64);
    assert_eq!(report.imported, (total - bad.len()) as u64);
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, bad);
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.reason.starts_with("bad JSON"))
    );
}
