//! Events (JSONL or CSV, SPEC §1): parsed on every core, resolved and stored in one transaction.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::*;
use crate::store::{EventRef, Ingest, NewEntry, Resolved, Resolver};

mod jsonl;
mod scan;

// ---- events ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(default)]
    distinct_id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    properties: Option<RawProps<'a>>,
}

#[derive(Deserialize, Default)]
struct RawProps<'a> {
    #[serde(rename = "$current_url", borrow, default)]
    current_url: Option<Cow<'a, str>>,
    #[serde(rename = "$groups", borrow, default)]
    groups: Option<Groups<'a>>,
    #[serde(borrow, default)]
    feature: Option<Scalar<'a>>,
    #[serde(rename = "$group_type", borrow, default)]
    group_type: Option<Cow<'a, str>>,
    #[serde(rename = "$group_key", borrow, default)]
    group_key: Option<Scalar<'a>>,
    #[serde(rename = "$group_set", default)]
    group_set: Option<Map<String, Value>>,
}

/// `$groups`: group type → key, in the order written (a handful of entries, so no hashing).
#[derive(Default)]
struct Groups<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Groups<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Groups<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of group keys")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Text<'a>, Scalar<'a>>()? {
                    out.push((k.0, v));
                }
                Ok(Groups(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'a> Groups<'a> {
    fn take(self, group_type: &str) -> Option<Scalar<'a>> {
        self.0
            .into_iter()
            .rev()
            .find(|(k, _)| k == group_type)
            .map(|(_, v)| v)
    }
}

/// A JSON string, borrowed from the line unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Str(s) => Ok(Text(s)),
            _ => Err(serde::de::Error::custom("expected a string")),
        }
    }
}

/// A JSON string, number or boolean, as text; null and anything else is absent.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(serde_json::Number),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess};
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Scalar<'a>, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Scalar::Other, Scalar::Num))
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_none<E>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<S: SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> std::result::Result<Scalar<'a>, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<M: MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Scalar<'a>, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'a> Scalar<'a> {
    fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) if !s.is_empty() => Some(s),
            Scalar::Num(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    }
}

fn check_event<'a>(
    raw: RawEvent<'a>,
    group_type: &str,
) -> std::result::Result<EventRef<'a>, String> {
    let event = raw
        .event
        .filter(|e| !e.is_empty())
        .ok_or("missing `event`")?;
    let stamp = raw.timestamp.ok_or("missing `timestamp`")?;
    let ts = scan::fast_ts(&stamp)
        .or_else(|| parse_ts(&stamp))
        .ok_or_else(|| format!("bad `timestamp` {stamp:?}: expected RFC 3339"))?;
    let distinct_id = raw
        .distinct_id
        .and_then(Scalar::into_text)
        .ok_or("missing `distinct_id`")?;
    let props = raw.properties.unwrap_or_default();
    let identify = event == "$groupidentify" && props.group_type.as_deref() == Some(group_type);
    let account = if identify {
        props.group_key.and_then(Scalar::into_text)
    } else {
        props
            .groups
            .and_then(|g| g.take(group_type))
            .and_then(Scalar::into_text)
    };
    Ok(EventRef {
        uuid: raw.uuid.filter(|u| !u.is_empty()),
        distinct_id,
        ts,
        account,
        url: if event == "$pageview" {
            props.current_url
        } else {
            None
        },
        feature: props.feature.and_then(Scalar::into_text),
        group_set: if identify { props.group_set } else { None },
        event,
    })
}

fn parse_json_event<'a>(
    line: &'a str,
    group_type: &str,
) -> std::result::Result<EventRef<'a>, String> {
    let raw: RawEvent = serde_json::from_str(line).map_err(bad_json)?;
    check_event(raw, group_type)
}

#[derive(Deserialize)]
struct CsvEvent {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    distinct_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    properties: Option<String>,
}

fn parse_csv_event<'a>(
    row: &'a CsvEvent,
    group_type: &str,
) -> std::result::Result<EventRef<'a>, String> {
    let props_text = row.properties.as_deref().unwrap_or_default();
    let properties = if props_text.trim().is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<RawProps>(props_text)
                .map_err(|e| plain(format!("bad JSON in `properties`: {e}")))?,
        )
    };
    let borrowed = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
    let raw = RawEvent {
        uuid: borrowed(&row.uuid),
        event: borrowed(&row.event),
        distinct_id: borrowed(&row.distinct_id).map(Scalar::Str),
        timestamp: borrowed(&row.timestamp),
        properties,
    };
    check_event(raw, group_type)
}

/// The columns an events CSV must have.
const EVENT_COLUMNS: &[&str] = &["event", "distinct_id", "timestamp"];

/// What the parser thread hands the writer: resolved rows, the names they introduced, and the
/// bad rows with their lines.
#[derive(Default)]
struct Batch {
    new: Vec<NewEntry>,
    rows: Vec<Resolved>,
    /// The URL text `rows` point into.
    urls: String,
    bad: Vec<(u64, String)>,
    read: u64,
    without_account: u64,
    bytes: u64,
}

const BATCH: usize = 8192;

impl Batch {
    fn new() -> Self {
        Self {
            rows: Vec::with_capacity(BATCH),
            ..Self::default()
        }
    }
}

/// Parses and resolves `input`, feeding `sink` in order: JSON Lines on every core
/// ([`jsonl`]), CSV on a second thread. `sink` hands back the batch's row buffer, for the
/// next batch to reuse. Returns the format and the resolver (to hand back to the ingest).
fn parse_events(
    input: Input,
    format: Option<Format>,
    group_type: String,
    resolver: Resolver,
    mut sink: impl FnMut(Batch) -> Result<Vec<Resolved>>,
) -> Result<(Format, Resolver)> {
    let mut reader = buffered(input.reader, 1 << 16);
    let format = check_format(&mut reader, &input.name, format)?;
    if format == Format::Jsonl {
        let resolver = jsonl::parse(reader, &input.name, &group_type, resolver, sink)?;
        return Ok((format, resolver));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(32);
    let mut resolver = resolver;
    let parser = std::thread::spawn(move || {
        let mut batch = Batch::new();
        let mut ok = true;
        for_csv_rows::<CsvEvent>(reader, EVENT_COLUMNS, |line, row| {
            batch.read += 1;
            let item =
                row.and_then(|r| parse_csv_event(&r, &group_type).map(|e| resolver.resolve_ref(e)));
            match item {
                Ok(Some(row)) => batch.rows.push(row),
                Ok(None) => batch.without_account += 1,
                Err(reason) => batch.bad.push((line, reason)),
            }
            if batch.read as usize >= BATCH {
                batch.new = resolver.take_new();
                batch.urls = resolver.take_urls();
                ok = tx.send(std::mem::replace(&mut batch, Batch::new())).is_ok();
            }
            ok
        });
        if ok {
            batch.new = resolver.take_new();
            batch.urls = resolver.take_urls();
            let _ = tx.send(batch);
        }
        resolver
    });
    for batch in rx {
        sink(batch)?;
    }
    let resolver = parser
        .join()
        .map_err(|_| Error::Usage("the import parser thread failed".into()))?;
    Ok((format, resolver))
}

/// Imports events into the workspace in one transaction.
pub fn import_events(
    store: &Store,
    cfg: &Config,
    input: Input,
    format: Option<Format>,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let started = std::time::Instant::now();
    let name = input.name.clone();
    let total = input.size.unwrap_or(0);
    let mut report = ImportReport::new(&name, Kind::Events, format.unwrap_or(Format::Jsonl));
    let mut ingest = Ingest::begin(store, cfg)?;
    let resolver = ingest.take_resolver();
    let mut bytes = 0;
    let (format, resolver) =
        parse_events(input, format, cfg.group_type.clone(), resolver, |batch| {
            report.rows += batch.read;
            for (line, reason) in batch.bad {
                report.bad(line, reason);
            }
            ingest.without_account(batch.without_account);
            ingest.write(&batch.new, &batch.rows, &batch.urls)?;
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            bytes += batch.bytes;
            progress.advance(bytes, total);
            Ok(batch.rows)
        })?;
    ingest.put_resolver(resolver);
    let stats = ingest.commit()?;
    report.format = format;
    report.imported = stats.inserted;
    report.duplicates = stats.duplicates;
    report.without_account = stats.without_account;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_rows_are_checked_with_reasons() {
        let ok = parse_json_event(
            r#"{"uuid":"u1","event":"$pageview","distinct_id":17,"timestamp":"2026-05-01T12:00:00Z",
                "properties":{"$current_url":"https://x/pricing","$groups":{"company":"acme.com"},"other":[1,2]}}"#,
            "company",
        )
        .unwrap();
        assert_eq!(ok.distinct_id, "17");
        assert_eq!(ok.account.as_deref(), Some("acme.com"));
        assert_eq!(ok.url.as_deref(), Some("https://x/pricing"));
        let err = |line: &str| parse_json_event(line, "company").unwrap_err();
        assert!(err("{not json").starts_with("bad JSON"));
        assert_eq!(
            err(r#"{"distinct_id":"a","timestamp":"2026-05-01T00:00:00Z"}"#),
            "missing `event`"
        );
        assert_eq!(
            err(r#"{"event":"x","distinct_id":"a"}"#),
            "missing `timestamp`"
        );
        assert!(
            err(r#"{"event":"x","distinct_id":"a","timestamp":"May 1st"}"#)
                .starts_with("bad `timestamp`")
        );
        assert_eq!(
            err(r#"{"event":"x","timestamp":"2026-05-01T00:00:00Z"}"#),
            "missing `distinct_id`"
        );
    }

    #[test]
    fn groupidentify_sets_properties_of_its_group_key() {
        let ev = parse_json_event(
            r#"{"event":"$groupidentify","distinct_id":"u","timestamp":"2026-05-01T00:00:00Z",
                "properties":{"$group_type":"company","$group_key":"acme.com","$group_set":{"plan":"team"}}}"#,
            "company",
        )
        .unwrap();
        assert_eq!(ev.account.as_deref(), Some("acme.com"));
        assert_eq!(ev.group_set.unwrap()["plan"], "team");
        let other = parse_json_event(
            r#"{"event":"$groupidentify","distinct_id":"u","timestamp":"2026-05-01T00:00:00Z",
                "properties":{"$group_type":"project","$group_key":"p1","$group_set":{"plan":"team"}}}"#,
            "company",
        )
        .unwrap();
        assert_eq!(other.account, None);
        assert!(other.group_set.is_none());
    }
}
