//! Imports of SPEC §1: events (JSONL or CSV), the accounts snapshot (JSONL) and deals (CSV or
//! JSONL). A bad row is skipped and reported with its line; the good rows of a file are stored
//! in one transaction.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::store::{DealRow, EventRef, Ingest, NewEntry, Resolved, Resolver, Store};
use crate::time::parse_ts;

mod jsonl;
mod scan;

/// How many bad rows a report lists one by one (all are counted).
pub const LISTED_ERRORS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// By extension; `None` when the name says nothing (stdin, or no known extension).
    pub fn from_path(path: &str) -> Option<Self> {
        let lower = path.to_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Events,
    Accounts,
    Deals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub kind: Kind,
    pub format: Format,
    pub rows: u64,
    pub imported: u64,
    /// Accounts and deals whose key was already stored (by an earlier import or an earlier row
    /// of this file): the row replaced it, so it is not counted as imported.
    pub updated: u64,
    pub duplicates: u64,
    pub without_account: u64,
    pub skipped: u64,
    /// Skipped rows by reason (the reason's first words).
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// The first bad rows, with line numbers.
    pub errors: Vec<BadRow>,
    pub seconds: f64,
}

impl ImportReport {
    fn new(file: &str, kind: Kind, format: Format) -> Self {
        Self {
            file: file.to_string(),
            kind,
            format,
            rows: 0,
            imported: 0,
            updated: 0,
            duplicates: 0,
            without_account: 0,
            skipped: 0,
            skipped_by_reason: BTreeMap::new(),
            errors: Vec::new(),
            seconds: 0.0,
        }
    }

    fn bad(&mut self, line: u64, reason: String) {
        self.skipped += 1;
        let key = reason.split(':').next().unwrap_or(&reason).to_string();
        *self.skipped_by_reason.entry(key).or_default() += 1;
        if self.errors.len() < LISTED_ERRORS {
            self.errors.push(BadRow { line, reason });
        }
    }
}

/// An open input: a file or stdin, with its size when known (for progress).
pub struct Input {
    pub name: String,
    pub reader: Box<dyn Read + Send>,
    pub size: Option<u64>,
}

impl Input {
    /// `-` is standard input.
    pub fn open(path: &str) -> Result<Self> {
        if path == "-" {
            return Ok(Self {
                name: "<stdin>".into(),
                reader: Box::new(std::io::stdin()),
                size: None,
            });
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(Path::new(path), e))?;
        let size = file.metadata().ok().map(|m| m.len());
        Ok(Self {
            name: path.to_string(),
            reader: Box::new(file),
            size,
        })
    }
}

/// The UTF-8 byte order mark some tools (Excel, PowerShell) write at the start of a file.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A reader that drops a leading UTF-8 byte order mark, however the first reads are split
/// (a pipe may hand over one byte at a time).
pub struct SkipBom<R> {
    inner: R,
    head: [u8; 3],
    pos: usize,
    len: usize,
    started: bool,
}

impl<R: Read> SkipBom<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            head: [0; 3],
            pos: 0,
            len: 0,
            started: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.started {
            while self.len < 3 {
                match self.inner.read(&mut self.head[self.len..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.len += n;
                        // Stop early once the bytes cannot be a BOM any more.
                        if self.head[..self.len] != BOM[..self.len] {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.started = true;
            if self.head[..self.len] == BOM {
                self.len = 0;
            }
        }
        if self.pos < self.len {
            let n = buf.len().min(self.len - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// `input`'s bytes past a leading BOM, buffered.
fn buffered(input: Box<dyn Read + Send>, capacity: usize) -> BufReader<Box<dyn Read + Send>> {
    BufReader::with_capacity(capacity, Box::new(SkipBom::new(input)))
}

/// What the first byte that is not white space says: `{` is JSON Lines, `[` a JSON array, else
/// CSV. `None` for an empty input.
fn looks_like(reader: &mut BufReader<Box<dyn Read + Send>>, name: &str) -> Result<Option<u8>> {
    let buf = reader
        .fill_buf()
        .map_err(|e| Error::io(Path::new(name), e))?;
    Ok(buf.iter().find(|b| !b.is_ascii_whitespace()).copied())
}

/// The format to read `reader` as: the one given (by `--format` or the file name) when the
/// content agrees, else the content's. A file whose content contradicts its declared format is
/// an error that says so, before anything is read.
fn check_format(
    reader: &mut BufReader<Box<dyn Read + Send>>,
    name: &str,
    declared: Option<Format>,
) -> Result<Format> {
    let first = looks_like(reader, name)?;
    let content = match first {
        None | Some(b'{') => Format::Jsonl,
        Some(b'[') => {
            return Err(Error::Usage(format!(
                "{name}: this is a JSON array; Beton reads JSON Lines (one object per line) or CSV"
            )));
        }
        Some(_) => Format::Csv,
    };
    match declared {
        Some(d) if first.is_some() && d != content => Err(Error::Usage(format!(
            "{name}: read as {} (from {}), but it looks like {}: {}",
            d.label(),
            if Format::from_path(name) == Some(d) {
                "its name"
            } else {
                "--format"
            },
            content.label(),
            match content {
                Format::Jsonl => "its first line starts with `{`",
                Format::Csv => "its first line is not a JSON object",
            }
        ))),
        Some(d) => Ok(d),
        None => Ok(content),
    }
}

impl Format {
    fn label(self) -> &'static str {
        match self {
            Format::Jsonl => "JSON Lines",
            Format::Csv => "CSV",
        }
    }
}

/// A serde message in the words of the file: "expected struct RawDeal" names a type of this
/// program, not something the user wrote.
fn plain(message: String) -> String {
    let mut out = message;
    for kind in ["struct ", "enum "] {
        while let Some(i) = out.find(&format!("expected {kind}")) {
            let start = i + "expected ".len();
            let name_end = out[start + kind.len()..]
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .map_or(out.len(), |j| start + kind.len() + j);
            out.replace_range(start..name_end, "a JSON object");
        }
    }
    out
}

fn bad_json(e: serde_json::Error) -> String {
    plain(format!("bad JSON: {e}"))
}

/// Calls `f(line number, line)` for each line that is not blank; a line that is not UTF-8 is
/// handed over as an error, like a bad row. A read error ends the input.
fn for_jsonl_lines(
    mut reader: impl BufRead,
    name: &str,
    mut f: impl FnMut(u64, std::result::Result<&str, String>) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(Path::new(name), e))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        match std::str::from_utf8(&buf) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => f(n, Ok(text.trim()))?,
            Err(_) => f(n, Err("not UTF-8 text".to_string()))?,
        }
    }
}

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
/// The columns a deals CSV must have.
const DEAL_COLUMNS: &[&str] = &[
    "deal_id",
    "account_key",
    "lead_source",
    "stage",
    "created_at",
];

/// What is wrong with a CSV header, if anything: a column named twice, or a required one missing.
fn header_problem(headers: &csv::StringRecord, required: &[&str]) -> Option<String> {
    let names: Vec<&str> = headers.iter().collect();
    if let Some((i, twice)) = names
        .iter()
        .enumerate()
        .find(|(i, n)| !n.is_empty() && names[..*i].contains(n))
    {
        return Some(format!(
            "bad CSV header: column `{twice}` appears twice (columns {} and {})",
            names.iter().position(|n| n == twice).unwrap_or(0) + 1,
            i + 1
        ));
    }
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !names.contains(r))
        .map(|r| format!("`{r}`"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "bad CSV header: no {} column{} (the header is {:?}); no row was read",
            missing.join(", "),
            if missing.len() > 1 { "s" } else { "" },
            names.join(",")
        )
    })
}

/// A CSV error in the file's words.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text (column {})", err.field() + 1),
        csv::ErrorKind::Deserialize { err, .. } => plain(format!("bad CSV row: {err}")),
        _ => plain(format!("bad CSV row: {e}")),
    }
}

/// Reads CSV rows with a header, calling `f(line, row)` until it returns false. A header problem
/// (unreadable, a column twice, a `required` column missing) is reported once, as line 1, and no
/// row is read.
fn for_csv_rows<T: serde::de::DeserializeOwned>(
    reader: impl Read,
    required: &[&str],
    mut f: impl FnMut(u64, std::result::Result<T, String>) -> bool,
) {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            f(1, Err(format!("bad CSV header: {}", csv_reason(&e))));
            return;
        }
    };
    if let Some(problem) = header_problem(&headers, required) {
        f(1, Err(problem));
        return;
    }
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut rec) {
            Ok(false) => return,
            Ok(true) => {
                let line = rec.position().map_or(line, |p| p.line());
                let row = rec.deserialize(Some(&headers)).map_err(|e| csv_reason(&e));
                if !f(line, row) {
                    return;
                }
            }
            Err(e) => {
                if !f(line, Err(csv_reason(&e))) {
                    return;
                }
            }
        }
    }
}

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
/// ([`jsonl`]), CSV on a second thread. Returns the format and the resolver (to hand back to
/// the ingest).
fn parse_events(
    input: Input,
    format: Option<Format>,
    group_type: String,
    resolver: Resolver,
    mut sink: impl FnMut(Batch) -> Result<()>,
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
            Ok(())
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
