//! Names to ids: the dictionaries an import interns (accounts, users, event names, features) and
//! the uuid of each event, resolved before the rows are written.

use super::*;

/// A dictionary of names to ids, assigned in memory; new entries are written by the ingest.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dict {
    pub(crate) ids: FxHashMap<String, i64>,
    pub(crate) next: i64,
}

impl Dict {
    pub(crate) fn load(conn: &Connection, sql: &str) -> Result<Self> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))?;
        let ids: FxHashMap<String, i64> = rows.collect::<rusqlite::Result<_>>()?;
        let next = ids.values().max().copied().unwrap_or(0) + 1;
        Ok(Self { ids, next })
    }

    pub(crate) fn id(&mut self, key: &str, table: Table, new: &mut Vec<NewEntry>) -> i64 {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.next;
        self.next += 1;
        self.ids.insert(key.to_string(), id);
        new.push(NewEntry {
            table,
            id,
            key: key.to_string(),
        });
        id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Accounts,
    Users,
    EventNames,
    Features,
}

/// A name that got an id and still has to be written.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub(crate) table: Table,
    pub(crate) id: i64,
    pub(crate) key: String,
}

/// An event ready for [`Resolver::resolve_prepared`]: names as text, the rest worked out.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub ts: i64,
    pub uuid: Option<Uuid>,
    pub account: &'a str,
    pub user: &'a str,
    pub event: &'a str,
    pub feature: Option<&'a str>,
    /// `$current_url` of a `$pageview`.
    pub url: Option<&'a str>,
    /// Whether `url` matches a pricing pattern ([`Classifier::is_pricing`]).
    pub pricing: bool,
    pub group_set: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// An event with its names resolved to ids and its classes decided, ready to write.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub(crate) ts: i64,
    pub(crate) uuid: Option<Uuid>,
    pub(crate) account: i64,
    pub(crate) user: i64,
    pub(crate) name: i64,
    pub(crate) class: NameClass,
    /// A page view's URL: where it lies in the batch's URL text ([`Resolver::take_urls`]).
    pub(crate) url: Option<(u32, u32)>,
    pub(crate) pricing: bool,
    pub(crate) feature: Option<i64>,
    pub(crate) group_set: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// A PostHog uuid as its 16 bytes; anything else is kept as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uuid {
    Bytes([u8; 16]),
    Text(String),
}

impl Uuid {
    pub fn parse(s: &str) -> Self {
        match Self::canonical(s.as_bytes()) {
            Some(b) => Uuid::Bytes(b),
            None => Self::parse_any(s),
        }
    }

    /// Any text: 32 hex digits, dashes anywhere, is 16 bytes; anything else stays text.
    pub(crate) fn parse_any(s: &str) -> Self {
        let mut out = [0u8; 16];
        let mut n = 0;
        for b in s.bytes().filter(|b| *b != b'-') {
            let Some(v) = (b as char).to_digit(16) else {
                return Uuid::Text(s.to_string());
            };
            if n == 32 {
                return Uuid::Text(s.to_string());
            }
            out[n / 2] |= (v as u8) << if n % 2 == 0 { 4 } else { 0 };
            n += 1;
        }
        if n == 32 {
            Uuid::Bytes(out)
        } else {
            Uuid::Text(s.to_string())
        }
    }

    /// The common `8-4-4-4-12` hex form, decoded without a pass per character; `None` for
    /// any other text (which [`Uuid::parse`] then reads the general way, to the same bytes).
    pub(crate) fn canonical(b: &[u8]) -> Option<[u8; 16]> {
        if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        let hex = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut out = [0u8; 16];
        for (o, &i) in out.iter_mut().zip(&AT) {
            *o = hex(b[i])? << 4 | hex(b[i + 1])?;
        }
        Some(out)
    }

    pub(crate) fn as_ref(&self) -> UuidRef<'_> {
        match self {
            Uuid::Bytes(b) => UuidRef::Bytes(*b),
            Uuid::Text(t) => UuidRef::Text(t),
        }
    }
}

/// Turns parsed events into [`Resolved`] rows. It can run on another thread than the writer
/// (the import's parser thread), which takes the hashing off the writer's hot path.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub(crate) accounts: Dict,
    pub(crate) users: Dict,
    pub(crate) names: Dict,
    pub(crate) classes: FxHashMap<i64, NameClass>,
    pub(crate) features: Dict,
    pub(crate) classifier: Classifier,
    pub(crate) new: Vec<NewEntry>,
    pub(crate) urls: String,
}

impl Resolver {
    pub(crate) fn load(conn: &Connection, cfg: &Config) -> Result<Self> {
        let classifier = Classifier::new(cfg);
        let names = Dict::load(conn, "SELECT id, name FROM event_names")?;
        let classes = names
            .ids
            .iter()
            .map(|(n, id)| (*id, classifier.class(n)))
            .collect();
        Ok(Self {
            accounts: Dict::load(conn, "SELECT id, key FROM accounts")?,
            users: Dict::load(conn, "SELECT id, key FROM users")?,
            names,
            classes,
            features: Dict::load(conn, "SELECT id, name FROM features")?,
            classifier,
            new: Vec::new(),
            urls: String::new(),
        })
    }

    /// Resolves one event; `None` when it has no account.
    pub fn resolve(&mut self, ev: EventIn) -> Option<Resolved> {
        self.resolve_ref(EventRef {
            uuid: ev.uuid.as_deref().map(Cow::Borrowed),
            event: Cow::Borrowed(&ev.event),
            distinct_id: Cow::Borrowed(&ev.distinct_id),
            ts: ev.ts,
            account: ev.account.as_deref().map(Cow::Borrowed),
            url: ev.url.as_deref().map(Cow::Borrowed),
            feature: ev.feature.as_deref().map(Cow::Borrowed),
            group_set: ev.group_set,
        })
    }

    /// [`Resolver::resolve`] for borrowed text: nothing is copied but a page view's URL.
    pub fn resolve_ref(&mut self, ev: EventRef<'_>) -> Option<Resolved> {
        let url = ev.url.as_deref();
        Some(self.resolve_prepared(Prepared {
            ts: ev.ts,
            uuid: ev.uuid.as_deref().map(Uuid::parse),
            account: ev.account.as_deref()?,
            user: &ev.distinct_id,
            event: &ev.event,
            feature: ev.feature.as_deref(),
            url,
            pricing: url.is_some_and(|u| self.classifier.is_pricing(u)),
            group_set: ev.group_set.map(Box::new),
        }))
    }

    /// Resolves an event whose uuid and pricing flag were worked out already (by a parser
    /// thread): only the dictionary lookups are left, and they run in file order.
    pub fn resolve_prepared(&mut self, ev: Prepared<'_>) -> Resolved {
        let account = self.accounts.id(ev.account, Table::Accounts, &mut self.new);
        let user = self.users.id(ev.user, Table::Users, &mut self.new);
        let name = self.names.id(ev.event, Table::EventNames, &mut self.new);
        let class = *self
            .classes
            .entry(name)
            .or_insert_with(|| self.classifier.class(ev.event));
        let feature = ev
            .feature
            .map(|f| self.features.id(f, Table::Features, &mut self.new));
        let url = if class.pageview { ev.url } else { None };
        Resolved {
            ts: ev.ts,
            uuid: ev.uuid,
            account,
            user,
            name,
            class,
            pricing: url.is_some() && ev.pricing,
            url: url.map(|u| {
                let at = self.urls.len() as u32;
                self.urls.push_str(u);
                (at, u.len() as u32)
            }),
            feature,
            group_set: ev.group_set,
        }
    }

    /// The settings that decide what an event counts as (for [`Prepared::pricing`]).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The names that got ids since the last call.
    pub fn take_new(&mut self) -> Vec<NewEntry> {
        std::mem::take(&mut self.new)
    }

    /// The URL text of the rows resolved since the last call (their `url` points into it).
    pub fn take_urls(&mut self) -> String {
        std::mem::take(&mut self.urls)
    }
}
