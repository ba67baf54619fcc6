//! The parallel JSON Lines import stores exactly what the plain, one-event-at-a-time path stores
//! (`Ingest::event`, fed by a reader written here with serde_json values): every table bit for
//! bit, and the same detection output at a mid-day and a midnight T. On the demo (in the normal
//! suite) and on a generated ~1 M-event file (ignored by default: run it in release with
//! `cargo test --release --test import_parity -- --ignored`).

use std::io::BufRead;
use std::path::Path;

use beton::config::Config;
use beton::demo::{DemoOptions, FileSink, generate};
use beton::import::{Format, Input, import_accounts, import_events};
use beton::progress::Silent;
use beton::signals::score_scan;
use beton::store::{EventIn, Ingest, Store};
use beton::time::parse_ts;
use serde_json::Value;

/// The reference: every line read into an `EventIn` the obvious way, stored one by one.
fn import_one_by_one(store: &Store, cfg: &Config, events: &Path) {
    let mut ingest = Ingest::begin(store, cfg).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(events).unwrap());
    for line in file.lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let text = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let props = v["properties"].as_object().cloned().unwrap_or_default();
        let event = v["event"].as_str().unwrap().to_string();
        let identify = event == "$groupidentify" && props["$group_type"] == cfg.group_type;
        let account = if identify {
            text(&props["$group_key"])
        } else {
            props
                .get("$groups")
                .and_then(|g| g.get(&cfg.group_type))
                .and_then(text)
        };
        ingest
            .event(&EventIn {
                uuid: v["uuid"].as_str().map(str::to_string),
                distinct_id: text(&v["distinct_id"]).unwrap(),
                ts: parse_ts(v["timestamp"].as_str().unwrap()).unwrap(),
                account,
                url: (event == "$pageview")
                    .then(|| props.get("$current_url").and_then(text))
                    .flatten(),
                feature: props.get("feature").and_then(text),
                group_set: if identify {
                    props.get("$group_set").and_then(Value::as_object).cloned()
                } else {
                    None
                },
                event,
            })
            .unwrap();
    }
    ingest.commit().unwrap();
}

/// Every table's rows, in storage order, as text.
fn dump(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let cells: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            out.push(format!("{t}: {}", cells.join(" | ")));
        }
    }
    out
}

fn parity(accounts: u32, days: u32, scale: f64, min_events: usize) {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let as_of = parse_ts("2026-06-01T13:37:00Z").unwrap();
    let opts = DemoOptions {
        accounts,
        days,
        seed: 7,
        as_of,
        activity_scale: scale,
    };
    let mut sink = FileSink::create(&files, "company").unwrap();
    generate(&opts, &mut sink, &Silent).unwrap();
    sink.finish().unwrap();
    let events = files.join("events.jsonl");
    let lines = std::fs::read_to_string(&events).unwrap().lines().count();
    assert!(lines >= min_events, "{lines} events generated");

    let cfg = Config::default();
    let open = |name: &str| {
        let path = dir.path().join(name);
        let store = Store::open(&path).unwrap();
        let accounts = files.join("accounts.jsonl").to_string_lossy().into_owned();
        import_accounts(&store, &cfg, Input::open(&accounts).unwrap()).unwrap();
        (store, path)
    };
    let (fast, fast_path) = open("parallel.sqlite");
    let name = events.to_string_lossy().into_owned();
    let report = import_events(
        &fast,
        &cfg,
        Input::open(&name).unwrap(),
        Some(Format::Jsonl),
        &Silent,
    )
    .unwrap();
    assert_eq!(report.rows as usize, lines);
    assert_eq!(report.skipped, 0);
    let (slow, slow_path) = open("one_by_one.sqlite");
    import_one_by_one(&slow, &cfg, &events);

    for t in [as_of, parse_ts("2026-06-01T00:00:00Z").unwrap()] {
        let (a, n) = score_scan(&fast, &cfg, t).unwrap();
        let (b, m) = score_scan(&slow, &cfg, t).unwrap();
        assert_eq!(n, m);
        assert!(a.iter().any(|s| s.score > 0), "something scores");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
            "detection at {t}"
        );
    }
    drop((fast, slow));
    let (a, b) = (dump(&fast_path), dump(&slow_path));
    assert!(a.iter().any(|r| r.starts_with("event_blocks: ")));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

#[test]
fn the_parallel_import_stores_what_one_by_one_stores_on_the_demo() {
    parity(40, 60, 1.0, 5_000);
}

#[test]
#[ignore = "about 1 M events: run in release (see the module doc)"]
fn the_parallel_import_stores_what_one_by_one_stores_on_a_million_events() {
    parity(1_000, 180, 1.65, 900_000);
}
