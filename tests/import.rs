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
    assert_eq!((r.imported, r.updated), (0, 1), "D1 was stored: an update");
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

fn named(name: &str, bytes: &[u8]) -> Input {
    Input {
        name: name.into(),
        reader: Box::new(Cursor::new(bytes.to_vec())),
        size: None,
    }
}

/// A byte at a time, as a slow pipe may hand it over.
struct Trickle(Vec<u8>, usize);
impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1 >= self.0.len() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[self.1];
        self.1 += 1;
        Ok(1)
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";
const DEALS_CSV: &str = "deal_id,account_key,lead_source,stage,value,created_at,closed_at\n\
    D1,acme.com,pql,won,24000,2026-01-01,2026-02-01\n";
const ACCOUNTS: &str = r#"{"group_type":"company","group_key":"acme.com","properties":{"plan":"team"}}
"#;

fn with_bom(text: &str) -> Vec<u8> {
    [BOM, text.as_bytes()].concat()
}

#[test]
fn a_byte_order_mark_is_skipped_by_every_importer_and_the_format_sniffing() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    // Events, JSONL with no format given: the sniffing sees past the BOM (it used to read the
    // BOM as the start of a CSV header).
    let r = import_events(&store, &cfg, named("-", &with_bom(GOOD)), None, &Silent).unwrap();
    assert_eq!(
        (r.format, r.imported, r.skipped),
        (Format::Jsonl, 2, 0),
        "{:?}",
        r.errors
    );
    // The same through a reader that hands over one byte at a time.
    let store = Store::open_in_memory().unwrap();
    let trickle = Input {
        name: "<stdin>".into(),
        reader: Box::new(Trickle(with_bom(GOOD), 0)),
        size: None,
    };
    let r = import_events(&store, &cfg, trickle, None, &Silent).unwrap();
    assert_eq!(
        (r.format, r.imported, r.skipped),
        (Format::Jsonl, 2, 0),
        "{:?}",
        r.errors
    );
    // Events, CSV: the first column's name is `uuid`, not `\u{feff}uuid`.
    let csv = "uuid,event,distinct_id,timestamp,properties\n\
        e1,$pageview,u1,2026-05-01T12:00:00Z,\"{\"\"$groups\"\":{\"\"company\"\":\"\"acme.com\"\"}}\"\n";
    let store = Store::open_in_memory().unwrap();
    let r = import_events(
        &store,
        &cfg,
        named("e.csv", &with_bom(csv)),
        Some(Format::Csv),
        &Silent,
    )
    .unwrap();
    assert_eq!((r.imported, r.skipped), (1, 0), "{:?}", r.errors);
    // Accounts.
    let r = import_accounts(&store, &cfg, named("a.jsonl", &with_bom(ACCOUNTS))).unwrap();
    assert_eq!((r.imported, r.skipped), (1, 0), "{:?}", r.errors);
    // Deals, CSV (the header's first column is `deal_id`) and JSONL.
    let r = import_deals(
        &store,
        &cfg,
        named("d.csv", &with_bom(DEALS_CSV)),
        Some(Format::Csv),
    )
    .unwrap();
    assert_eq!((r.imported, r.skipped), (1, 0), "{:?}", r.errors);
    let jsonl = r#"{"deal_id":"D2","account_key":"acme.com","lead_source":"pql","stage":"open","created_at":"2026-01-01"}"#;
    let r = import_deals(&store, &cfg, named("-", &with_bom(jsonl)), None).unwrap();
    assert_eq!(
        (r.format, r.imported, r.skipped),
        (Format::Jsonl, 1, 0),
        "{:?}",
        r.errors
    );
}

#[test]
fn invalid_utf8_in_accounts_and_deals_is_a_bad_row_with_its_line() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let accounts = [
        ACCOUNTS.as_bytes(),
        b"{\"group_type\":\"company\",\"group_key\":\"b\xFFd.io\"}\n",
        b"{\"group_type\":\"company\",\"group_key\":\"beta.io\"}\n",
    ]
    .concat();
    let r = import_accounts(&store, &cfg, named("a.jsonl", &accounts)).unwrap();
    assert_eq!((r.imported, r.skipped), (2, 1));
    assert_eq!(
        (r.errors[0].line, r.errors[0].reason.as_str()),
        (2, "not UTF-8 text")
    );
    let deals = [
        b"{\"deal_id\":\"D1\",\"account_key\":\"acme.com\",\"lead_source\":\"pql\",\"stage\":\"open\",\"created_at\":\"2026-01-01\"}\n".as_slice(),
        b"{\"deal_id\":\"D\xC3\",\"account_key\":\"acme.com\",\"lead_source\":\"pql\",\"stage\":\"open\",\"created_at\":\"2026-01-01\"}\n",
    ]
    .concat();
    let r = import_deals(&store, &cfg, named("d.jsonl", &deals), None).unwrap();
    assert_eq!((r.imported, r.skipped), (1, 1));
    assert_eq!(
        (r.errors[0].line, r.errors[0].reason.as_str()),
        (2, "not UTF-8 text")
    );
    let csv = [
        DEALS_CSV.as_bytes(),
        b"D\xFF2,acme.com,pql,open,1,2026-01-01,\n",
    ]
    .concat();
    let r = import_deals(&store, &cfg, named("d.csv", &csv), None).unwrap();
    assert_eq!(r.skipped, 1);
    assert_eq!(r.errors[0].line, 3);
    assert!(
        r.errors[0].reason.starts_with("not UTF-8 text"),
        "{:?}",
        r.errors
    );
}

#[test]
fn deal_values_are_plain_numbers_or_comma_thousands_and_in_range() {
    let cfg = Config::default();
    let row = |v: &str| format!("D,acme.com,pql,open,{v},2026-01-01,\n");
    let good = [
        ("1250", 1250.0),
        ("1250.50", 1250.5),
        ("\"1,000\"", 1000.0),
        ("\"1,250,000.75\"", 1_250_000.75),
        ("0", 0.0),
    ];
    for (v, want) in good {
        let store = Store::open_in_memory().unwrap();
        let text = format!(
            "{}{}",
            DEALS_CSV.lines().next().unwrap().to_owned() + "\n",
            row(v)
        );
        let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
        assert_eq!((r.imported, r.skipped), (1, 0), "{v}: {:?}", r.errors);
        assert_eq!(store.deals().unwrap()[0].value, Some(want), "{v}");
    }
    let bad = [
        ("\"1.000,50\"", "ambiguous"),
        ("\"1,5\"", "ambiguous"),
        ("\"12,00\"", "ambiguous"),
        ("NaN", "not a finite number"),
        ("inf", "not a finite number"),
        ("-infinity", "not a finite number"),
        ("-5", "out of range"),
        ("1e400", "expected a number"),
        ("2000000000000", "out of range"),
        ("$100", "expected a number"),
        ("lots", "expected a number"),
    ];
    for (v, why) in bad {
        let store = Store::open_in_memory().unwrap();
        let text = format!(
            "{}{}",
            DEALS_CSV.lines().next().unwrap().to_owned() + "\n",
            row(v)
        );
        let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
        assert_eq!((r.imported, r.skipped), (0, 1), "{v} must be refused");
        let reason = &r.errors[0].reason;
        assert!(
            reason.starts_with("bad `value`") && reason.contains(why),
            "{v}: {reason}"
        );
    }
    // JSON numbers: in range or not.
    let store = Store::open_in_memory().unwrap();
    let j = |v: &str| {
        format!(
            r#"{{"deal_id":"D-{}","account_key":"a","lead_source":"pql","stage":"open","created_at":"2026-01-01","value":{v}}}"#,
            v.len()
        )
    };
    let text = [j("1500.5"), j("-1"), j("1e13"), j("\"1.000,50\"")].join("\n");
    let r = import_deals(&store, &cfg, named("d.jsonl", text.as_bytes()), None).unwrap();
    assert_eq!((r.imported, r.skipped), (1, 3), "{:?}", r.errors);
    assert_eq!(store.deals().unwrap()[0].value, Some(1500.5));
    assert!(
        r.errors.iter().all(|e| e.reason.starts_with("bad `value`")),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_repeated_deal_id_or_account_is_an_update_not_a_second_import() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let text = format!(
        "{DEALS_CSV}D1,acme.com,pql,lost,100,2026-01-01,2026-03-01\nD2,acme.com,pql,open,5,2026-01-02,\n"
    );
    let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
    assert_eq!((r.rows, r.imported, r.updated, r.skipped), (3, 2, 1, 0));
    assert_eq!(store.deals().unwrap().len(), 2);
    let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
    assert_eq!(
        (r.imported, r.updated),
        (0, 3),
        "everything was stored already"
    );
    let accounts = format!("{ACCOUNTS}{ACCOUNTS}");
    let r = import_accounts(&store, &cfg, named("a.jsonl", accounts.as_bytes())).unwrap();
    assert_eq!((r.imported, r.updated), (1, 1));
    assert_eq!(store.accounts().unwrap().len(), 1);
}

#[test]
fn a_deal_closed_before_it_was_created_is_a_bad_row() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let text = format!("{DEALS_CSV}D2,acme.com,pql,won,100,2026-03-01,2026-02-01\n");
    let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
    assert_eq!((r.imported, r.skipped), (1, 1));
    assert_eq!(r.errors[0].line, 3);
    assert!(
        r.errors[0].reason.contains("`closed_at`")
            && r.errors[0].reason.contains("before `created_at`"),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_header_problem_is_reported_once_for_the_header() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let rows = "D1,acme.com,pql,won,1,2026-01-01,2026-02-01\n".repeat(5);
    // `stage` misspelt: one problem, at line 1, not five "missing `stage`" rows.
    let text = format!("deal_id,account_key,lead_source,stag,value,created_at,closed_at\n{rows}");
    let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
    assert_eq!(
        (r.imported, r.skipped, r.errors.len()),
        (0, 1, 1),
        "{:?}",
        r.errors
    );
    assert_eq!(r.errors[0].line, 1);
    assert!(
        r.errors[0].reason.contains("no `stage` column"),
        "{:?}",
        r.errors
    );
    let text = format!("deal_id,account_key,lead_source,stage,stage,created_at,closed_at\n{rows}");
    let r = import_deals(&store, &cfg, named("d.csv", text.as_bytes()), None).unwrap();
    assert_eq!((r.skipped, r.errors[0].line), (1, 1));
    assert!(
        r.errors[0].reason.contains("`stage` appears twice"),
        "{:?}",
        r.errors
    );
    let events = "uuid,name,distinct_id,timestamp\n".to_string()
        + &"e,$pageview,u,2026-05-01T00:00:00Z\n".repeat(4);
    let r = import_events(
        &store,
        &cfg,
        named("e.csv", events.as_bytes()),
        None,
        &Silent,
    )
    .unwrap();
    assert_eq!(
        (r.skipped, r.errors.len(), r.errors[0].line),
        (1, 1, 1),
        "{:?}",
        r.errors
    );
    assert!(
        r.errors[0].reason.contains("no `event` column"),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_format_mismatch_says_so_and_reads_nothing() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let err = import_events(
        &store,
        &cfg,
        named("e.csv", GOOD.as_bytes()),
        Some(Format::Csv),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("e.csv")
            && err.contains("read as CSV")
            && err.contains("looks like JSON Lines"),
        "{err}"
    );
    let err = import_deals(
        &store,
        &cfg,
        named("d.jsonl", DEALS_CSV.as_bytes()),
        Some(Format::Jsonl),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("d.jsonl")
            && err.contains("read as JSON Lines")
            && err.contains("looks like CSV"),
        "{err}"
    );
    let err = import_accounts(
        &store,
        &cfg,
        named("a.csv", b"group_type,group_key\ncompany,acme.com\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("a.csv") && err.contains("accounts are read as JSON Lines"),
        "{err}"
    );
    let err = import_events(
        &store,
        &cfg,
        named(
            "e.json",
            format!("[{}]", GOOD.lines().next().unwrap()).as_bytes(),
        ),
        Some(Format::Jsonl),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("JSON array"), "{err}");
    assert!(store.is_empty().unwrap());
}

#[test]
fn reasons_never_name_the_programs_own_types() {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let lines = format!(
        "{}\n\"just a string\"\n[1, 2]\n42\n",
        GOOD.lines().next().unwrap()
    );
    let r = import_events(
        &store,
        &cfg,
        named("e.jsonl", lines.as_bytes()),
        None,
        &Silent,
    )
    .unwrap();
    let a = import_accounts(
        &store,
        &cfg,
        named(
            "a.jsonl",
            format!("{ACCOUNTS}\"x\"\n{{\"group_key\":\"k\",\"properties\":7}}\n").as_bytes(),
        ),
    )
    .unwrap();
    let d = import_deals(
        &store,
        &cfg,
        named(
            "d.jsonl",
            b"{\"deal_id\":\"x\"}\n\"x\"\n{\"deal_id\":{\"a\":1}}\n",
        ),
        None,
    )
    .unwrap();
    let reasons: Vec<&str> = [&r, &a, &d]
        .iter()
        .flat_map(|r| r.errors.iter().map(|e| e.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3 + 2 + 3, "{reasons:?}");
    for reason in &reasons {
        assert!(
            !reason.contains("struct") && !reason.contains("Raw") && !reason.contains("Map<"),
            "{reason}"
        );
    }
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
