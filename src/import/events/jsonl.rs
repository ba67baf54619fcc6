//! JSON Lines events on every core: a reader cuts the input into chunks at line ends, parser
//! threads parse chunks in parallel, and one resolver thread puts them back in file order and
//! turns names into ids (ids are handed out in order of first appearance, as a single thread
//! would), feeding the writer batch by batch.
//!
//! Memory stays bounded whatever the input's size, stdin included: at most [`POOL`] chunk
//! buffers exist, each is reused once the resolver is done with it, and the reader waits for a
//! free one. The parsed events' and the resolved rows' buffers go round the same way (a fresh
//! buffer of a few MiB for each chunk would cost page faults, and memory the allocator keeps).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::{Batch, EventRef, check_event, parse_json_event, scan};
use crate::error::{Error, Result};
use crate::store::{Classifier, Prepared, Resolved, Resolver, Uuid};

/// Bytes read per chunk (a chunk ends at the last line end in it; a longer line grows it).
const CHUNK: usize = 1 << 21;
/// Chunk buffers in existence at most: chunks being read, parsed, waiting for their turn or
/// being resolved.
const POOL: usize = 8;
/// Resolved batches waiting for the writer (it stalls while it merges rollups).
const QUEUED: usize = 12;

/// Text of one field: `(start, len)` in the chunk, or in the chunk's arena when the JSON had
/// escapes (the high bit of `start`).
#[derive(Clone, Copy)]
struct Span(u32, u32);

const IN_ARENA: u32 = 1 << 31;
/// The longest line read (a chunk must stay below [`IN_ARENA`]).
const MAX_LINE: usize = 1 << 30;

/// One parsed event with an account, its text left where it was read.
struct Ev {
    ts: i64,
    uuid: Option<Uuid>,
    account: Span,
    user: Span,
    event: Span,
    feature: Option<Span>,
    url: Option<Span>,
    pricing: bool,
    group_set: Option<Box<Map<String, Value>>>,
}

/// A chunk of whole lines.
struct Chunk {
    index: u64,
    data: Vec<u8>,
    len: usize,
    /// An empty buffer for its parsed events.
    events: Vec<Ev>,
}

/// A chunk's buffers, back from the resolver for the next chunk.
type Free = (Vec<u8>, Vec<Ev>);

/// A chunk's bytes: checked as UTF-8 once as a whole, or (when some line is not) as they were.
enum Text {
    Utf8(String),
    Bytes(Vec<u8>),
}

impl Text {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Text::Utf8(s) => s.into_bytes(),
            Text::Bytes(b) => b,
        }
    }
}

/// What a parser thread makes of a chunk.
struct Parsed {
    index: u64,
    text: Text,
    len: usize,
    arena: String,
    events: Vec<Ev>,
    /// Bad rows, by line within the chunk (1-based).
    bad: Vec<(u64, String)>,
    lines: u64,
    read: u64,
    without_account: u64,
}

enum Work {
    Chunk(Chunk),
    Failed(u64, Error),
}

enum Done {
    Parsed(Parsed),
    Failed(u64, Error),
}

impl Done {
    fn index(&self) -> u64 {
        match self {
            Done::Parsed(p) => p.index,
            Done::Failed(i, _) => *i,
        }
    }
}

/// Parses `reader` (JSON Lines) on all cores; calls `sink` with each batch in file order.
/// Returns the resolver, with every name it met.
pub(super) fn parse(
    reader: impl Read + Send,
    name: &str,
    group_type: &str,
    resolver: Resolver,
    mut sink: impl FnMut(Batch) -> Result<Vec<Resolved>>,
) -> Result<Resolver> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    let classifier = resolver.classifier().clone();
    let (work_tx, work_rx) = sync_channel::<Work>(POOL);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<Done>(POOL);
    let (free_tx, free_rx) = channel::<Free>();
    let (batch_tx, batch_rx) = sync_channel::<Result<Batch>>(QUEUED);
    let (spent_tx, spent_rx) = channel::<Vec<Resolved>>();
    std::thread::scope(|s| {
        s.spawn(move || read_chunks(reader, name, &free_rx, &work_tx));
        for _ in 0..workers {
            let (work_rx, done_tx) = (Arc::clone(&work_rx), done_tx.clone());
            let classifier = &classifier;
            s.spawn(move || {
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let done = match next {
                        Ok(Ok(Work::Chunk(c))) => {
                            Done::Parsed(parse_chunk(c, group_type, classifier))
                        }
                        Ok(Ok(Work::Failed(i, e))) => Done::Failed(i, e),
                        _ => return,
                    };
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let resolving =
            s.spawn(move || resolve_in_order(resolver, done_rx, free_tx, &spent_rx, batch_tx));
        let written = (|| {
            for batch in batch_rx {
                let _ = spent_tx.send(sink(batch?)?);
            }
            Ok(())
        })();
        let resolver = resolving
            .join()
            .map_err(|_| Error::Usage("the import's resolver thread failed".into()))?;
        written.map(|()| resolver)
    })
}

/// Reads chunks that end at a line end into free buffers, until the end or an error.
fn read_chunks(mut reader: impl Read, name: &str, free: &Receiver<Free>, work: &SyncSender<Work>) {
    let mut made = 0;
    let mut carry: Vec<u8> = Vec::new();
    for index in 0.. {
        let (mut data, events) = match free.try_recv() {
            Ok(d) => d,
            Err(_) if made < POOL => {
                made += 1;
                (vec![0; CHUNK], Vec::new())
            }
            Err(_) => match free.recv() {
                Ok(d) => d,
                Err(_) => return,
            },
        };
        // A reused buffer comes back cut to its last chunk: give it its room back (only the
        // bytes past that cut are zeroed again).
        data.resize((carry.len() + CHUNK / 2).max(CHUNK), 0);
        data[..carry.len()].copy_from_slice(&carry);
        let mut len = carry.len();
        carry.clear();
        let mut end = false;
        loop {
            while len < data.len() {
                match reader.read(&mut data[len..]) {
                    Ok(0) => {
                        end = true;
                        break;
                    }
                    Ok(n) => len += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = work.send(Work::Failed(index, Error::io(Path::new(name), e)));
                        return;
                    }
                }
            }
            if end {
                break;
            }
            if let Some(i) = memchr::memrchr(b'\n', &data[..len]) {
                carry.extend_from_slice(&data[i + 1..len]);
                len = i + 1;
                break;
            }
            // One line longer than the buffer: make room and read on (spans are 31-bit).
            let grown = data.len() * 2;
            if grown > MAX_LINE {
                let e = Error::Usage(format!(
                    "{name}: a line longer than {} MiB; nothing was imported",
                    MAX_LINE >> 20
                ));
                let _ = work.send(Work::Failed(index, e));
                return;
            }
            data.resize(grown, 0);
        }
        let chunk = Chunk {
            index,
            data,
            len,
            events,
        };
        if len > 0 && work.send(Work::Chunk(chunk)).is_err() {
            return;
        }
        if end {
            return;
        }
    }
}

/// Parses every line of a chunk.
fn parse_chunk(chunk: Chunk, group_type: &str, classifier: &Classifier) -> Parsed {
    let mut out = Parsed {
        index: chunk.index,
        text: Text::Bytes(Vec::new()),
        len: chunk.len,
        arena: String::new(),
        events: {
            let mut events = chunk.events;
            events.clear();
            events.reserve(chunk.len / 160);
            events
        },
        bad: Vec::new(),
        lines: 0,
        read: 0,
        without_account: 0,
    };
    let mut data = chunk.data;
    data.truncate(chunk.len);
    let base = data.as_ptr() as usize;
    let line = |text: &str, out: &mut Parsed| {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        out.read += 1;
        let parsed = match scan::fast_event(text) {
            Some(raw) => check_event(raw, group_type),
            None => parse_json_event(text, group_type),
        };
        match parsed {
            Ok(ev) if ev.account.is_none() => out.without_account += 1,
            Ok(ev) => {
                let e = keep(ev, base, &mut out.arena, classifier);
                out.events.push(e);
            }
            Err(reason) => out.bad.push((out.lines, reason)),
        }
    };
    match String::from_utf8(data) {
        // The usual case: one check for the whole chunk, and lines are slices of it.
        Ok(text) => {
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', text.as_bytes()) {
                out.lines += 1;
                line(&text[start..=nl], &mut out);
                start = nl + 1;
            }
            if start < text.len() {
                out.lines += 1;
                line(&text[start..], &mut out);
            }
            out.text = Text::Utf8(text);
        }
        Err(e) => {
            let data = e.into_bytes();
            let mut start = 0;
            let ends = memchr::memchr_iter(b'\n', &data).map(|nl| nl + 1);
            for end in ends.chain((!data.is_empty()).then_some(data.len())) {
                if start >= end {
                    break;
                }
                out.lines += 1;
                match std::str::from_utf8(&data[start..end]) {
                    Ok(t) => line(t, &mut out),
                    Err(_) => {
                        out.read += 1;
                        out.bad.push((out.lines, "not UTF-8 text".to_string()));
                    }
                }
                start = end;
            }
            out.text = Text::Bytes(data);
        }
    }
    out
}

/// An event as spans of the chunk (text copied only where the JSON had escapes).
fn keep(ev: EventRef<'_>, base: usize, arena: &mut String, classifier: &Classifier) -> Ev {
    let mut span = |t: &std::borrow::Cow<'_, str>| match t {
        std::borrow::Cow::Borrowed(s) => Span((s.as_ptr() as usize - base) as u32, s.len() as u32),
        std::borrow::Cow::Owned(s) => {
            let at = arena.len() as u32 | IN_ARENA;
            arena.push_str(s);
            Span(at, s.len() as u32)
        }
    };
    let account = span(
        ev.account
            .as_ref()
            .expect("events without an account are counted"),
    );
    Ev {
        ts: ev.ts,
        uuid: ev.uuid.as_deref().map(Uuid::parse),
        account,
        user: span(&ev.distinct_id),
        event: span(&ev.event),
        feature: ev.feature.as_ref().map(&mut span),
        pricing: ev.url.as_deref().is_some_and(|u| classifier.is_pricing(u)),
        url: ev.url.as_ref().map(&mut span),
        group_set: ev.group_set.map(Box::new),
    }
}

/// Puts parsed chunks back in file order, resolves their names and hands the writer batches.
fn resolve_in_order(
    mut resolver: Resolver,
    done: Receiver<Done>,
    free: std::sync::mpsc::Sender<Free>,
    spent: &Receiver<Vec<Resolved>>,
    batches: SyncSender<Result<Batch>>,
) -> Resolver {
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut lines = 0u64;
    for d in done {
        waiting.insert(d.index(), d);
        while let Some(d) = waiting.remove(&next) {
            next += 1;
            let mut p = match d {
                Done::Parsed(p) => p,
                Done::Failed(_, e) => {
                    let _ = batches.send(Err(e));
                    return resolver;
                }
            };
            let mut rows = spent.try_recv().unwrap_or_default();
            rows.clear();
            rows.reserve(p.events.len());
            let mut batch = Batch {
                rows,
                bad: p.bad.into_iter().map(|(n, r)| (lines + n, r)).collect(),
                read: p.read,
                without_account: p.without_account,
                bytes: p.len as u64,
                new: Vec::new(),
                urls: String::new(),
            };
            lines += p.lines;
            let text = |s: Span| -> &str {
                let (start, len) = ((s.0 & !IN_ARENA) as usize, s.1 as usize);
                match &p.text {
                    _ if s.0 & IN_ARENA != 0 => &p.arena[start..start + len],
                    Text::Utf8(t) => &t[start..start + len],
                    Text::Bytes(b) => std::str::from_utf8(&b[start..start + len])
                        .expect("a span is a field of a line that was UTF-8"),
                }
            };
            for e in p.events.drain(..) {
                batch.rows.push(resolver.resolve_prepared(Prepared {
                    ts: e.ts,
                    uuid: e.uuid,
                    account: text(e.account),
                    user: text(e.user),
                    event: text(e.event),
                    feature: e.feature.map(text),
                    url: e.url.map(text),
                    pricing: e.pricing,
                    group_set: e.group_set,
                }));
            }
            batch.new = resolver.take_new();
            batch.urls = resolver.take_urls();
            let _ = free.send((p.text.into_bytes(), p.events));
            if batches.send(Ok(batch)).is_err() {
                return resolver;
            }
        }
    }
    resolver
}
