//! A generated, deterministic demo workspace: accounts with users, page views, feature use,
//! invites, support and billing events, plan limits, trials, `$groupidentify` history, and deals
//! from four lead sources. Buying intent shows in usage before most wins, noisily: some buyers
//! show nothing, some accounts show intent and never buy, so backtests are neither perfect nor
//! useless.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::store::{DealRow, EventIn, Ingest, Store};
use crate::time::{DAY, SECOND, day_of, fmt_ts};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub accounts: u32,
    pub days: u32,
    pub seed: u64,
    /// The end of the generated history (exclusive).
    pub as_of: i64,
    /// Multiplies how many events an active user sends (1.0: about 4 per account-day).
    pub activity_scale: f64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            accounts: 1000,
            days: 180,
            seed: 42,
            as_of: crate::time::now(),
            activity_scale: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct DemoSummary {
    pub accounts: u64,
    pub events: u64,
    pub deals: u64,
}

/// SplitMix64: tiny, fast, and its output never changes with a crate upgrade, which is what
/// makes a seed reproduce the same workspace everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
    /// A small Poisson draw (Knuth), for event counts.
    fn poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let (mut k, mut p) = (0u32, 1.0);
        loop {
            p *= self.f();
            if p <= l || k > 200 {
                return k;
            }
            k += 1;
        }
    }
}

const WORDS_A: &[&str] = &[
    "acme", "nova", "bright", "blue", "cloud", "data", "flow", "pixel", "quant", "rapid", "north",
    "stellar", "urban", "vivid", "zen", "orbit", "lumen", "apex", "cedar", "delta",
];
const WORDS_B: &[&str] = &[
    "labs", "works", "hq", "soft", "ly", "base", "stack", "forge", "grid", "loop", "mint", "wave",
];
const TLDS: &[&str] = &["com", "io", "co", "dev", "ai"];
const FEATURES: &[&str] = &[
    "dashboards",
    "reports",
    "alerts",
    "api",
    "sso",
    "exports",
    "integrations",
    "workflows",
    "comments",
    "audit_log",
    "custom_fields",
    "automations",
    "sandbox",
    "webhooks",
];
const PAGES: &[&str] = &[
    "/dashboard",
    "/projects",
    "/reports",
    "/settings",
    "/docs",
    "/team",
    "/integrations",
];
const INDUSTRIES: &[&str] = &["saas", "fintech", "retail", "health", "media", "logistics"];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Buys at `at` (a day); shows intent in the weeks before when `shows`.
    Buyer {
        at: i64,
        shows: bool,
    },
    /// Shows intent around `at` but does not buy.
    Kicker {
        at: i64,
    },
    /// Usage falls away from `at`.
    Churner {
        at: i64,
    },
    Steady,
}

struct Account {
    key: String,
    name: String,
    owner: String,
    plan: &'static str,
    created: i64,
    kind: Kind,
    users: Vec<(String, i64)>,
    features: Vec<usize>,
    activity: f64,
    usage: f64,
    trial_ends: Option<i64>,
    seat_limit: i64,
}

/// Where generated rows go: straight into the workspace, or into files to import.
pub trait Sink {
    fn account(&mut self, key: &str, created: i64, props: &Map<String, Value>) -> Result<()>;
    fn event(&mut self, ev: &EventIn) -> Result<()>;
    fn deal(&mut self, deal: &DealRow) -> Result<()>;
}

impl Sink for Ingest<'_> {
    fn account(&mut self, key: &str, created: i64, props: &Map<String, Value>) -> Result<()> {
        self.account_snapshot(key, Some(created), props).map(drop)
    }
    fn event(&mut self, ev: &EventIn) -> Result<()> {
        Ingest::event(self, ev)
    }
    fn deal(&mut self, deal: &DealRow) -> Result<()> {
        Ingest::deal(self, deal).map(drop)
    }
}

/// Writes `accounts.jsonl`, `events.jsonl` and `deals.csv` in the SPEC §1 formats.
pub struct FileSink {
    dir: std::path::PathBuf,
    accounts: std::io::BufWriter<std::fs::File>,
    events: std::io::BufWriter<std::fs::File>,
    deals: csv::Writer<std::fs::File>,
    group_type: String,
}

impl FileSink {
    pub fn create(dir: &std::path::Path, group_type: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let open = |name: &str| {
            let p = dir.join(name);
            std::fs::File::create(&p).map_err(|e| Error::io(&p, e))
        };
        let mut deals = csv::Writer::from_writer(open("deals.csv")?);
        deals
            .write_record([
                "deal_id",
                "account_key",
                "name",
                "lead_source",
                "stage",
                "value",
                "created_at",
                "sql_at",
                "closed_at",
                "owner_email",
            ])
            .map_err(|e| Error::Usage(format!("deals.csv: {e}")))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            accounts: std::io::BufWriter::with_capacity(1 << 20, open("accounts.jsonl")?),
            events: std::io::BufWriter::with_capacity(1 << 20, open("events.jsonl")?),
            deals,
            group_type: group_type.to_string(),
        })
    }

    pub fn finish(mut self) -> Result<()> {
        let dir = self.dir.clone();
        let fail = |e: std::io::Error| Error::io(&dir, e);
        self.accounts.flush().map_err(fail)?;
        self.events.flush().map_err(fail)?;
        self.deals.flush().map_err(fail)
    }
}

impl Sink for FileSink {
    fn account(&mut self, key: &str, created: i64, props: &Map<String, Value>) -> Result<()> {
        let row = json!({"group_type": self.group_type, "group_key": key, "created_at": fmt_ts(created), "properties": props});
        writeln!(self.accounts, "{row}").map_err(|e| Error::io(&self.dir, e))
    }
    fn event(&mut self, ev: &EventIn) -> Result<()> {
        let mut props = Map::new();
        if let Some(set) = &ev.group_set {
            props.insert("$group_type".into(), json!(self.group_type));
            props.insert("$group_key".into(), json!(ev.account));
            props.insert("$group_set".into(), Value::Object(set.clone()));
        } else if let Some(a) = &ev.account {
            props.insert("$groups".into(), json!({ self.group_type.as_str(): a }));
        }
        if let Some(u) = &ev.url {
            props.insert("$current_url".into(), json!(u));
        }
        if let Some(f) = &ev.feature {
            props.insert("feature".into(), json!(f));
        }
        let row = json!({"uuid": ev.uuid, "event": ev.event, "distinct_id": ev.distinct_id,
                         "timestamp": fmt_ts(ev.ts), "properties": props});
        writeln!(self.events, "{row}").map_err(|e| Error::io(&self.dir, e))
    }
    fn deal(&mut self, d: &DealRow) -> Result<()> {
        let opt = |t: Option<i64>| t.map(fmt_ts).unwrap_or_default();
        self.deals
            .write_record([
                d.deal_id.clone(),
                d.account_key.clone(),
                d.name.clone().unwrap_or_default(),
                d.lead_source.clone(),
                d.stage.clone(),
                d.value.map(|v| v.to_string()).unwrap_or_default(),
                fmt_ts(d.created_at),
                opt(d.sql_at),
                opt(d.closed_at),
                d.owner_email.clone().unwrap_or_default(),
            ])
            .map_err(|e| Error::Usage(format!("deals.csv: {e}")))
    }
}

/// A UUIDv7-shaped id: time-ordered like PostHog's, so imports append in order.
fn uuid7(ts: i64, rng: &mut Rng) -> String {
    let ms = (ts / 1000) as u64 & 0xFFFF_FFFF_FFFF;
    let r = rng.next();
    let r2 = rng.next();
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xFFFF,
        r & 0xFFF,
        0x8000 | ((r >> 12) & 0x3FFF),
        r2 & 0xFFFF_FFFF_FFFF
    )
}

fn limits(plan: &str) -> (i64, i64) {
    match plan {
        "business" => (100_000, 50),
        "team" => (10_000, 12),
        _ => (1_000, 3),
    }
}

fn make_accounts(opts: &DemoOptions, rng: &mut Rng, first_day: i64, last_day: i64) -> Vec<Account> {
    let mut seen = std::collections::HashSet::new();
    (0..opts.accounts)
        .map(|i| {
            let mut base = format!("{}{}", rng.pick(WORDS_A), rng.pick(WORDS_B));
            if !seen.insert(base.clone()) {
                base = format!("{base}{i}");
                seen.insert(base.clone());
            }
            let key = format!("{base}.{}", rng.pick(TLDS));
            let plan = *rng.pick(&["free", "free", "trial", "team", "team", "business"]);
            // Most accounts exist before the window; a quarter sign up during it.
            let created = if plan == "trial" && rng.chance(0.7) {
                // Trials are recent by nature: most started in the last few weeks.
                last_day - rng.range(0, 30)
            } else if rng.chance(0.75) {
                first_day - rng.range(10, 400)
            } else {
                rng.range(first_day, last_day - 5)
            };
            let span = last_day - first_day;
            let kind = match rng.f() {
                x if x < 0.16 => Kind::Buyer {
                    at: rng.range(first_day + 20, last_day + span / 4),
                    shows: rng.chance(0.8),
                },
                x if x < 0.26 => Kind::Kicker {
                    at: rng.range(first_day + 10, last_day),
                },
                x if x < 0.36 => Kind::Churner {
                    at: rng.range(first_day, last_day),
                },
                _ => Kind::Steady,
            };
            let n_users = 1 + (rng.f().powi(2) * 18.0) as usize;
            // Accounts buy seats with room to grow; buyers fill them up while they ramp.
            let seat_limit = limits(plan)
                .1
                .max((n_users as f64 * (1.5 + rng.f())).ceil() as i64);
            let users = (0..n_users)
                .map(|u| (format!("{base}_u{u}"), created + rng.range(0, 20)))
                .collect();
            let features = (0..rng.range(1, 5))
                .map(|_| rng.next() as usize % FEATURES.len())
                .collect();
            Account {
                name: format!("{}{}", base[..1].to_uppercase(), &base[1..]),
                owner: format!("ae{}@example.com", rng.range(1, 8)),
                plan,
                created,
                kind,
                users,
                features,
                activity: 0.15 + rng.f() * 0.4,
                usage: 0.2 + rng.f() * 0.65,
                trial_ends: (plan == "trial").then(|| created + 14 + rng.range(0, 7)),
                seat_limit,
                key,
            }
        })
        .collect()
}

impl Account {
    /// How strongly the account shows buying intent on `day` (0 none, 1 full).
    fn intent(&self, day: i64) -> f64 {
        match self.kind {
            Kind::Buyer { at, shows: true } if day < at && day >= at - 28 => {
                1.0 - (at - day) as f64 / 40.0
            }
            Kind::Kicker { at } if (at - 10..at + 10).contains(&day) => 0.6,
            _ => 0.0,
        }
    }

    fn level(&self, day: i64) -> f64 {
        let weekday = (day + 4).rem_euclid(7); // 0 = Sunday
        let week = if weekday == 0 || weekday == 6 {
            0.35
        } else {
            1.0
        };
        let churn = match self.kind {
            Kind::Churner { at } if day >= at => 0.08,
            _ => 1.0,
        };
        week * churn * (1.0 + 1.6 * self.intent(day))
    }

    fn props(&self, day: i64) -> Map<String, Value> {
        let (limit, _) = limits(self.plan);
        let seats = self.seat_limit;
        let joined = self.users.iter().filter(|(_, d)| *d <= day).count() as i64;
        let mut m = Map::new();
        m.insert("plan".into(), json!(self.plan));
        m.insert("plan_limit".into(), json!(limit));
        m.insert(
            "usage".into(),
            json!((self.usage * limit as f64).round() as i64),
        );
        m.insert("seat_limit".into(), json!(seats));
        m.insert("seats_used".into(), json!(joined.min(seats)));
        if let Some(t) = self.trial_ends {
            m.insert("trial_ends_at".into(), json!(fmt_ts(t * DAY)));
        }
        m
    }
}

/// Generates the demo into `sink`.
pub fn generate(
    opts: &DemoOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<DemoSummary> {
    let mut rng = Rng::new(opts.seed);
    let end = opts.as_of;
    let last_day = day_of(end - 1);
    let first_day = last_day - i64::from(opts.days) + 1;
    let mut accounts = make_accounts(opts, &mut rng, first_day, last_day);
    let mut summary = DemoSummary::default();

    // ARR draws from its own stream so that adding it left every other generated value as it was.
    let mut arr_rng = Rng::new(opts.seed ^ 0xA88);
    for a in &accounts {
        let mut props = Map::new();
        props.insert("name".into(), json!(a.name));
        props.insert("domain".into(), json!(a.key));
        props.insert("owner_email".into(), json!(a.owner));
        props.insert("industry".into(), json!(*rng.pick(INDUSTRIES)));
        let arr = match a.plan {
            "business" => arr_rng.range(24, 150) * 1000,
            "team" => arr_rng.range(3, 24) * 1000,
            _ => 0,
        };
        props.insert("arr".into(), json!(arr));
        sink.account(&a.key, a.created.max(first_day - 400) * DAY, &props)?;
        summary.accounts += 1;
    }

    let mut day_events: Vec<EventIn> = Vec::new();
    for day in first_day..=last_day {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        progress.advance((day - first_day) as u64, u64::from(opts.days));
        let day_start = day * DAY;
        day_events.clear();
        for a in &mut accounts {
            if a.created > day {
                continue;
            }
            let intent = a.intent(day);
            let level = a.level(day);
            let mut push = |rng: &mut Rng,
                            event: &str,
                            user: &str,
                            url: Option<String>,
                            feature: Option<String>| {
                let ts =
                    day_start + rng.range(6 * 3600, 22 * 3600) * SECOND + rng.range(0, 999_999);
                day_events.push(EventIn {
                    uuid: None,
                    event: event.to_string(),
                    distinct_id: user.to_string(),
                    ts,
                    account: Some(a.key.clone()),
                    url,
                    feature,
                    group_set: None,
                });
            };
            // Buying intent brings teammates in: invite one now and then.
            if intent > 0.0 && rng.chance(0.2 * intent) {
                let n = a.users.len();
                let inviter = a.users[0].0.clone();
                a.users.push((
                    format!("{}_u{n}", a.key.split('.').next().unwrap_or("x")),
                    day,
                ));
                push(&mut rng, "user_invited", &inviter, None, None);
            }
            if intent > 0.0 && rng.chance(0.45 * intent) {
                a.features.push(rng.next() as usize % FEATURES.len());
            }
            if intent > 0.0 {
                a.usage = (a.usage + 0.02 * intent).min(1.1);
            }
            let joined: Vec<String> = a
                .users
                .iter()
                .filter(|(_, d)| *d <= day)
                .map(|(u, _)| u.clone())
                .collect();
            for user in &joined {
                if !rng.chance((a.activity * level).min(0.95)) {
                    continue;
                }
                for _ in 0..1 + rng.poisson(1.6 * level.min(2.0) * opts.activity_scale) {
                    match rng.f() {
                        x if x < 0.55 => {
                            let page = rng.pick(PAGES);
                            push(
                                &mut rng,
                                "$pageview",
                                user,
                                Some(format!("https://app.{}{}", a.key, page)),
                                None,
                            );
                        }
                        x if x < 0.85 => {
                            let f = FEATURES[*rng.pick(&a.features)];
                            push(&mut rng, "feature_used", user, None, Some(f.to_string()));
                        }
                        x if x < 0.93 => push(&mut rng, "report_exported", user, None, None),
                        _ => push(&mut rng, "$pageleave", user, None, None),
                    }
                }
            }
            let Some(user) = joined.first() else { continue };
            let pricing_p = 0.01 + 0.35 * intent;
            if rng.chance(pricing_p) {
                for _ in 0..rng.range(1, 3) {
                    let url = format!(
                        "https://{}/pricing{}",
                        a.key,
                        if rng.chance(0.3) {
                            "?plan=business"
                        } else {
                            ""
                        }
                    );
                    push(&mut rng, "$pageview", user, Some(url), None);
                }
            }
            if rng.chance(0.01 + 0.12 * intent) {
                let ev = if rng.chance(0.6) {
                    "intercom_conversation_started"
                } else {
                    "support_ticket_created"
                };
                for _ in 0..rng.range(1, 3) {
                    push(&mut rng, ev, user, None, None);
                }
            }
            let near_buy =
                matches!(a.kind, Kind::Buyer { at, shows: true } if (at - 6..at).contains(&day));
            if rng.chance(if near_buy { 0.3 } else { 0.002 + 0.02 * intent }) {
                let ev = if rng.chance(0.5) {
                    "checkout_started"
                } else {
                    "upgrade_clicked"
                };
                push(&mut rng, ev, user, None, None);
            }
            // The app reports plan usage weekly and on sign-up.
            if day == a.created.max(first_day) || (day - a.created).rem_euclid(7) == 0 {
                let ts = day_start + 3 * 3600 * SECOND;
                day_events.push(EventIn {
                    uuid: None,
                    event: "$groupidentify".into(),
                    distinct_id: user.clone(),
                    ts,
                    account: Some(a.key.clone()),
                    url: None,
                    feature: None,
                    group_set: Some(a.props(day)),
                });
            }
        }
        day_events.retain(|e| e.ts < end);
        day_events.sort_by_key(|e| e.ts);
        for ev in &mut day_events {
            ev.uuid = Some(uuid7(ev.ts, &mut rng));
            sink.event(ev)?;
            summary.events += 1;
        }
    }

    for deal in deals(&accounts, &mut rng, first_day, last_day) {
        sink.deal(&deal)?;
        summary.deals += 1;
    }
    Ok(summary)
}

fn deals(accounts: &[Account], rng: &mut Rng, first_day: i64, last_day: i64) -> Vec<DealRow> {
    let mut out = Vec::new();
    for a in accounts {
        let value = |rng: &mut Rng| -> f64 {
            let base = match a.plan {
                "business" => rng.range(24, 120),
                "team" => rng.range(6, 30),
                _ => rng.range(3, 15),
            };
            (base * 1000) as f64
        };
        let mut deal = |rng: &mut Rng, source: &str, created: i64, outcome: Option<(bool, i64)>| {
            let (stage, closed) = match outcome {
                Some((true, c)) => ("closed_won", Some(c)),
                Some((false, c)) => ("closed_lost", Some(c)),
                None => (*rng.pick(&["discovery", "proposal", "negotiation"]), None),
            };
            let sql = (outcome.is_some_and(|o| o.0) || rng.chance(0.5))
                .then(|| created + rng.range(1, 10));
            out.push(DealRow {
                deal_id: format!("D-{:05}", out.len() + 1),
                account_key: a.key.clone(),
                name: Some(format!("{} – {source}", a.name)),
                lead_source: source.into(),
                stage: stage.into(),
                value: Some(value(rng)),
                created_at: created * DAY + rng.range(9, 17) * 3600 * SECOND,
                sql_at: sql
                    .filter(|d| *d <= last_day)
                    .map(|d| d * DAY + 12 * 3600 * SECOND),
                closed_at: closed.map(|d| d * DAY + rng.range(9, 18) * 3600 * SECOND),
                owner_email: Some(a.owner.clone()),
            });
        };
        match a.kind {
            Kind::Buyer { at, shows } => {
                let source = if shows {
                    *rng.pick(&[
                        "pql", "pql", "pql", "pql", "inbound", "inbound", "outbound", "partner",
                    ])
                } else {
                    *rng.pick(&["inbound", "inbound", "outbound", "outbound", "partner"])
                };
                let cycle = if source == "pql" {
                    rng.range(5, 30)
                } else {
                    rng.range(15, 75)
                };
                let created = at - cycle;
                if created <= last_day {
                    deal(rng, source, created, (at <= last_day).then_some((true, at)));
                }
            }
            Kind::Kicker { at } if rng.chance(0.6) => {
                let created = at + rng.range(0, 10);
                if created <= last_day {
                    let close = created + rng.range(10, 60);
                    deal(
                        rng,
                        "pql",
                        created,
                        (close <= last_day).then_some((false, close)),
                    );
                }
            }
            _ => {
                // Sales-led noise: outbound, inbound and partner deals with their own odds.
                for (source, p, win) in [
                    ("outbound", 0.10, 0.12),
                    ("inbound", 0.06, 0.25),
                    ("partner", 0.03, 0.35),
                ] {
                    if rng.chance(p) {
                        let created = rng.range(first_day - 90, last_day - 5);
                        let close = created + rng.range(15, 90);
                        let outcome = (close <= last_day).then(|| (rng.chance(win), close));
                        deal(rng, source, created, outcome);
                    }
                }
            }
        }
    }
    out
}

/// Generates the demo into the workspace in one transaction and marks it as demo data.
pub fn create(
    store: &Store,
    cfg: &Config,
    opts: &DemoOptions,
    progress: &dyn Progress,
) -> Result<DemoSummary> {
    let mut ingest = Ingest::begin(store, cfg)?;
    let summary = generate(opts, &mut ingest, progress)?;
    ingest.commit()?;
    store.set_meta(
        "demo",
        &json!({"seed": opts.seed, "accounts": opts.accounts, "days": opts.days}).to_string(),
    )?;
    // What the workspace held when the demo was made: `beton demo` replaces it freely while
    // nothing was imported on top (see `untouched`).
    store.set_meta("demo_fingerprint", &store.data_fingerprint()?)?;
    Ok(summary)
}

/// True when the workspace is a DEMO workspace nothing was imported into since it was made: it
/// holds nothing of the user's, so generating another demo may replace it.
pub fn untouched(store: &Store) -> Result<bool> {
    Ok(store.meta("demo")?.is_some()
        && store.meta("demo_fingerprint")? == Some(store.data_fingerprint()?))
}

/// Creates the default demo workspace when the workspace is empty and the source is local.
/// Returns what was created, or `None` when there was data (or PostHog) already.
pub fn ensure(
    ctx: &crate::pipeline::Context,
    progress: &dyn Progress,
) -> Result<Option<DemoSummary>> {
    if ctx.config.source != crate::config::SourceKind::Local {
        return Ok(None);
    }
    let _lock = crate::store::RunLock::acquire(&ctx.paths.data_dir, crate::pipeline::LOCK_WAIT)?;
    let store = ctx.open_store()?;
    if !store.is_empty()? {
        return Ok(None);
    }
    create(&store, &ctx.config, &DemoOptions::default(), progress).map(Some)
}
