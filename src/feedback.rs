//! Rep dispositions (SPEC §10): what a rep answered about a flagged account (`legit`,
//! `not_ready`, `already_working`), the suppression rule that keeps an answered account out of
//! routing and alerts for a while, and the reps' false-positive trend the backtest reports.
//! The store keeps plain rows (`store::DispositionRow`); the meaning is here. docs/FEEDBACK.md.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::FeedbackSettings;
use crate::error::{Error, Result};
use crate::signals::AccountScore;
use crate::store::{DispositionRow, Store};
use crate::time::{DAY, fmt_date, fmt_ts};

/// A rep's answer about an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A real buying signal: suppresses nothing.
    Legit,
    /// Not ready to buy: no routing and no alerts for `feedback.not_ready_days`.
    NotReady,
    /// Someone already works the account: no routing and no alerts for
    /// `feedback.already_working_days`.
    AlreadyWorking,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Legit, Kind::NotReady, Kind::AlreadyWorking];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Legit => "legit",
            Kind::NotReady => "not_ready",
            Kind::AlreadyWorking => "already_working",
        }
    }

    /// Parses `legit`, `not_ready` or `already_working` (case and `-`/`_`/space insensitive, so
    /// a CRM's "Not ready" or a spreadsheet's "already-working" read the same).
    pub fn parse(s: &str) -> Option<Kind> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Kind::ALL.into_iter().find(|k| k.as_str() == norm)
    }

    /// Days this answer suppresses routing and alerts.
    pub fn days(self, s: &FeedbackSettings) -> u32 {
        match self {
            Kind::Legit => 0,
            Kind::NotReady => s.not_ready_days,
            Kind::AlreadyWorking => s.already_working_days,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One disposition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disposition {
    pub account: String,
    pub kind: Kind,
    /// When the rep answered (microseconds, UTC).
    pub at: i64,
    pub note: Option<String>,
    /// Who answered (an email), when known.
    pub by: Option<String>,
    /// `cli`, `import`, `tui` or `attio`.
    pub source: String,
}

impl Disposition {
    /// The workspace row; `origin` is the source's own key of the answer (an Attio pull's).
    pub fn to_row(&self, origin: Option<String>) -> DispositionRow {
        DispositionRow {
            account: self.account.clone(),
            kind: self.kind.as_str().into(),
            at: self.at,
            note: self.note.clone(),
            by: self.by.clone(),
            source: self.source.clone(),
            origin,
        }
    }

    fn of(r: DispositionRow) -> Result<Self> {
        let kind = Kind::parse(&r.kind).ok_or_else(|| {
            Error::Damaged(format!("disposition of `{}` is {:?}", r.account, r.kind))
        })?;
        Ok(Self {
            account: r.account,
            kind,
            at: r.at,
            note: r.note,
            by: r.by,
            source: r.source,
        })
    }
}

/// An account kept out of routing and alerts at some T by a disposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub kind: Kind,
    /// When the suppressing answer was given.
    pub at: i64,
    /// at + N days: the first instant it no longer suppresses.
    pub until: i64,
}

impl Suppression {
    /// `suppressed_until` as the reports print it (RFC 3339).
    pub fn until_ts(&self) -> String {
        fmt_ts(self.until)
    }

    /// One line for `explain` and the TUI detail.
    pub fn line(&self) -> String {
        format!(
            "suppressed: a rep answered {} on {}; no routing and no alerts until {}",
            self.kind,
            fmt_date(self.at),
            fmt_ts(self.until)
        )
    }
}

/// The disposition in force at `t` among one account's: the latest with `at < t` (of two at the
/// same instant, the later in `history`'s order, which is the order they were recorded in).
pub fn in_force(history: &[Disposition], t: i64) -> Option<&Disposition> {
    history
        .iter()
        .enumerate()
        .filter(|(_, d)| d.at < t)
        .max_by_key(|(i, d)| (d.at, *i))
        .map(|(_, d)| d)
}

/// SPEC §10: a disposition at `a` applies to runs with T > a until the account's next one; a
/// `not_ready` (`already_working`) answer suppresses routing and alerts for runs with
/// a < T < a + N days, N = `feedback.not_ready_days` (`already_working_days`); `legit` nothing.
pub fn suppression(s: &FeedbackSettings, history: &[Disposition], t: i64) -> Option<Suppression> {
    let d = in_force(history, t)?;
    let days = d.kind.days(s);
    let until = d.at.saturating_add(i64::from(days) * DAY);
    (days > 0 && t < until).then_some(Suppression {
        kind: d.kind,
        at: d.at,
        until,
    })
}

/// Every account's dispositions, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Book {
    by_account: HashMap<String, Vec<Disposition>>,
}

impl Book {
    pub fn load(store: &Store) -> Result<Self> {
        Self::of(store.dispositions()?)
    }

    /// From stored rows (in the order they were recorded within an instant).
    pub fn of(rows: Vec<DispositionRow>) -> Result<Self> {
        let mut by_account: HashMap<String, Vec<Disposition>> = HashMap::new();
        for r in rows {
            let d = Disposition::of(r)?;
            by_account.entry(d.account.clone()).or_default().push(d);
        }
        Ok(Self { by_account })
    }

    pub fn is_empty(&self) -> bool {
        self.by_account.is_empty()
    }

    pub fn history(&self, account: &str) -> &[Disposition] {
        self.by_account.get(account).map_or(&[], Vec::as_slice)
    }

    /// The account's suppression at `t`, if any.
    pub fn suppression(&self, s: &FeedbackSettings, account: &str, t: i64) -> Option<Suppression> {
        suppression(s, self.history(account), t)
    }

    /// Every disposition, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &Disposition> {
        self.by_account.values().flatten()
    }
}

/// Takes suppressed accounts out of routing (they stay scored and listed) and returns the
/// suppression of every scored account that has one at `t`, routed or not, by account id.
pub fn apply(
    book: &Book,
    s: &FeedbackSettings,
    t: i64,
    scores: &mut [AccountScore],
) -> HashMap<i64, Suppression> {
    let mut out = HashMap::new();
    if book.is_empty() {
        return out;
    }
    for a in scores.iter_mut() {
        if let Some(sup) = book.suppression(s, &a.account, t) {
            a.routed = false;
            out.insert(a.account_id, sup);
        }
    }
    out
}

/// [`apply`] with the workspace's dispositions.
pub fn apply_stored(
    store: &Store,
    s: &FeedbackSettings,
    t: i64,
    scores: &mut [AccountScore],
) -> Result<HashMap<i64, Suppression>> {
    Ok(apply(&Book::load(store)?, s, t, scores))
}

/// Records one disposition; the account must be in the workspace.
pub fn record(store: &Store, d: &Disposition) -> Result<()> {
    if d.account.trim().is_empty() {
        return Err(Error::Usage("the account key is empty".into()));
    }
    if store.account_id(&d.account)?.is_none() {
        return Err(Error::Usage(format!(
            "no account `{}` in this workspace (the key is the group key, e.g. acme.com; \
             `beton scores` lists the scored ones)",
            d.account
        )));
    }
    store.record_dispositions(&[d.to_row(None)], crate::time::now())?;
    Ok(())
}

/// Dispositions per answer (SPEC §10's `feedback.counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub legit: u64,
    pub not_ready: u64,
    pub already_working: u64,
}

impl Counts {
    fn add(&mut self, k: Kind) {
        match k {
            Kind::Legit => self.legit += 1,
            Kind::NotReady => self.not_ready += 1,
            Kind::AlreadyWorking => self.already_working += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.legit + self.not_ready + self.already_working
    }
}

/// One UTC month of the trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Month {
    /// `YYYY-MM` of the answers' `at`.
    pub month: String,
    pub dispositions: u64,
    pub not_ready: u64,
    /// not_ready ÷ dispositions; `null` with fewer than [`MIN_MONTH`] dispositions.
    pub false_positive_rate: Option<f64>,
}

/// Fewer dispositions than this in a month give its count but no rate.
pub const MIN_MONTH: u64 = 5;

/// The backtest's `feedback` block (SPEC §10): every disposition with `at` in (T − R, T].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub counts: Counts,
    pub by_month: Vec<Month>,
    /// not_ready ÷ dispositions over the whole range; `null` below [`MIN_MONTH`] dispositions.
    pub false_positive_rate: Option<f64>,
    /// Why a rate is missing, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The flags of the replay that an answer given before their date suppressed.
    #[serde(default)]
    pub held_back: HeldBack,
}

/// Accounts flagged (score ≥ threshold) at some replay date D while an answer given before D
/// suppressed them, judged at the first such D like the backtest's precision: won in
/// (D, D + H], not won, or too recent to tell (D + H > T, not won).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    pub accounts: u64,
    /// Of them, held back by a `not_ready` answer (the rest by `already_working`).
    pub not_ready: u64,
    pub won: u64,
    /// Won although a `not_ready` answer held them back: the rep's "not ready" was wrong.
    pub won_after_not_ready: u64,
    pub not_won: u64,
    pub censored: u64,
}

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

impl Trend {
    /// One line: the answers by kind and the false-positive rate with its n.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let n = c.total();
        if n == 0 {
            return "reps' answers: none in the range".into();
        }
        format!(
            "reps' answers: {n} (legit {}, not_ready {}, already_working {}); false positives {}",
            c.legit,
            c.not_ready,
            c.already_working,
            match self.false_positive_rate {
                Some(r) => format!("{} (not_ready ÷ answers, n = {n})", percent(r)),
                None => format!("not enough data (n = {n} < {MIN_MONTH})"),
            }
        )
    }

    /// What the answers held back in the replay, in one line (empty when nothing was).
    pub fn held_back_line(&self, horizon_days: u32) -> Option<String> {
        let h = &self.held_back;
        (h.accounts > 0).then(|| {
            format!(
                "answers held back {} flagged accounts in the replay ({} by not_ready): {} won within {horizon_days} days \
                 anyway ({} after not_ready), {} not, {} too recent to tell",
                h.accounts, h.not_ready, h.won, h.won_after_not_ready, h.not_won, h.censored
            )
        })
    }

    /// The last `months` months on one line: `2026-03 100.0 % (5) · 2026-05 n = 1`.
    pub fn month_line(&self, months: usize) -> String {
        let skip = self.by_month.len().saturating_sub(months);
        self.by_month[skip..]
            .iter()
            .map(|m| match m.false_positive_rate {
                Some(r) => format!("{} {} ({})", m.month, percent(r), m.dispositions),
                None => format!("{} n = {}", m.month, m.dispositions),
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// A table for the CLI: month, answers, not_ready, rate and a 10-cell bar; a month under
    /// [`MIN_MONTH`] answers shows its count and "not enough data".
    pub fn month_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "  {:<8} {:>8} {:>10} {:>16}",
            "month", "answers", "not_ready", "false positives"
        )];
        for m in &self.by_month {
            let (rate, bar) = match m.false_positive_rate {
                Some(r) => {
                    let cells = (r * 10.0).round() as usize;
                    (
                        percent(r),
                        "█".repeat(cells) + &"·".repeat(10 - cells.min(10)),
                    )
                }
                None => ("not enough data".to_string(), String::new()),
            };
            let line = format!(
                "  {:<8} {:>8} {:>10} {:>16}  {bar}",
                m.month, m.dispositions, m.not_ready, rate
            );
            out.push(line.trim_end().to_string());
        }
        out
    }
}

fn rate(not_ready: u64, n: u64) -> Option<f64> {
    (n >= MIN_MONTH).then(|| not_ready as f64 / n as f64)
}

/// The false-positive trend over the dispositions with `at` in (from, to], by UTC month of `at`.
pub fn trend<'a>(
    dispositions: impl IntoIterator<Item = &'a Disposition>,
    from: i64,
    to: i64,
) -> Trend {
    let mut counts = Counts::default();
    let mut months: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in dispositions {
        if d.at <= from || d.at > to {
            continue;
        }
        counts.add(d.kind);
        let m = months.entry(fmt_date(d.at)[..7].to_string()).or_default();
        m.0 += 1;
        if d.kind == Kind::NotReady {
            m.1 += 1;
        }
    }
    let by_month: Vec<Month> = months
        .into_iter()
        .map(|(month, (n, nr))| Month {
            month,
            dispositions: n,
            not_ready: nr,
            false_positive_rate: rate(nr, n),
        })
        .collect();
    let thin = by_month
        .iter()
        .filter(|m| m.false_positive_rate.is_none())
        .count();
    let total = counts.total();
    let reason = if total == 0 {
        Some("not enough data: no disposition in the range".to_string())
    } else if thin > 0 {
        Some(format!(
            "not enough data in {thin} of {} months: a month needs {MIN_MONTH} dispositions for a rate",
            by_month.len()
        ))
    } else {
        None
    };
    Trend {
        false_positive_rate: rate(counts.not_ready, total),
        counts,
        by_month,
        reason,
        held_back: HeldBack::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_ts;

    fn d(kind: Kind, at: &str) -> Disposition {
        Disposition {
            account: "acme.com".into(),
            kind,
            at: parse_ts(at).unwrap(),
            note: None,
            by: None,
            source: "cli".into(),
        }
    }

    fn at(s: &str) -> i64 {
        parse_ts(s).unwrap()
    }

    #[test]
    fn not_ready_suppresses_strictly_inside_its_days() {
        let s = FeedbackSettings::default();
        let h = [d(Kind::NotReady, "2026-05-01T00:00:00Z")];
        // At t itself the answer does not apply yet (T > t); just after, it does.
        assert_eq!(suppression(&s, &h, at("2026-05-01T00:00:00Z")), None);
        let sup = suppression(&s, &h, at("2026-05-01T00:00:01Z")).unwrap();
        assert_eq!(
            (sup.kind, sup.until),
            (Kind::NotReady, at("2026-05-31T00:00:00Z"))
        );
        assert_eq!(sup.until_ts(), "2026-05-31T00:00:00Z");
        // The day before the end, and the last instant: suppressed. On the end and after: not.
        assert!(suppression(&s, &h, at("2026-05-30T00:00:00Z")).is_some());
        assert!(suppression(&s, &h, at("2026-05-30T23:59:59Z")).is_some());
        assert_eq!(suppression(&s, &h, at("2026-05-31T00:00:00Z")), None);
        assert_eq!(suppression(&s, &h, at("2026-06-01T00:00:00Z")), None);
        // Before the answer: nothing.
        assert_eq!(suppression(&s, &h, at("2026-04-30T00:00:00Z")), None);
    }

    #[test]
    fn already_working_uses_its_own_days_and_legit_suppresses_nothing() {
        let s = FeedbackSettings {
            not_ready_days: 30,
            already_working_days: 90,
        };
        let h = [d(Kind::AlreadyWorking, "2026-01-01")];
        assert!(suppression(&s, &h, at("2026-03-31T23:00:00Z")).is_some());
        assert_eq!(suppression(&s, &h, at("2026-04-01")), None);
        let h = [d(Kind::Legit, "2026-01-01")];
        assert_eq!(suppression(&s, &h, at("2026-01-02")), None);
        // N = 0 turns that answer's suppression off.
        let off = FeedbackSettings {
            not_ready_days: 0,
            ..s
        };
        assert_eq!(
            suppression(&off, &[d(Kind::NotReady, "2026-01-01")], at("2026-01-02")),
            None
        );
    }

    #[test]
    fn the_next_disposition_ends_the_previous_one() {
        let s = FeedbackSettings::default();
        let h = [
            d(Kind::NotReady, "2026-05-01"),
            d(Kind::Legit, "2026-05-10"),
            d(Kind::AlreadyWorking, "2026-05-20"),
        ];
        assert_eq!(
            suppression(&s, &h, at("2026-05-05")).unwrap().kind,
            Kind::NotReady
        );
        // On the legit answer's instant the not_ready one is still in force; after it, not.
        assert_eq!(
            suppression(&s, &h, at("2026-05-10")).unwrap().kind,
            Kind::NotReady
        );
        assert_eq!(suppression(&s, &h, at("2026-05-10T00:00:01Z")), None);
        let later = suppression(&s, &h, at("2026-06-15")).unwrap();
        assert_eq!(
            (later.kind, later.until),
            (Kind::AlreadyWorking, at("2026-08-18"))
        );
        // Order in the slice does not matter except between answers at the same instant.
        let mut shuffled = h.clone();
        shuffled.reverse();
        assert_eq!(suppression(&s, &shuffled, at("2026-05-15")), None);
        let same = [
            d(Kind::NotReady, "2026-05-01"),
            d(Kind::Legit, "2026-05-01"),
        ];
        assert_eq!(suppression(&s, &same, at("2026-05-02")), None);
    }

    #[test]
    fn apply_unroutes_suppressed_accounts_and_keeps_them_scored() {
        let book = Book {
            by_account: [(
                "acme.com".to_string(),
                vec![d(Kind::NotReady, "2026-05-01")],
            )]
            .into(),
        };
        let mut scores = vec![
            AccountScore {
                account_id: 1,
                account: "acme.com".into(),
                score: 80,
                tier: crate::signals::Tier::Hot,
                routed: true,
                parts: Default::default(),
                fired: vec![],
            },
            AccountScore {
                account_id: 2,
                account: "other.io".into(),
                score: 80,
                tier: crate::signals::Tier::Hot,
                routed: true,
                parts: Default::default(),
                fired: vec![],
            },
        ];
        let s = FeedbackSettings::default();
        let sup = apply(&book, &s, at("2026-05-02"), &mut scores);
        assert_eq!(sup.len(), 1);
        assert!(sup.contains_key(&1));
        assert_eq!((scores[0].routed, scores[1].routed), (false, true));
        assert_eq!(scores.len(), 2);
    }

    #[test]
    fn kinds_parse_loosely() {
        assert_eq!(Kind::parse("Not ready"), Some(Kind::NotReady));
        assert_eq!(Kind::parse("already-working"), Some(Kind::AlreadyWorking));
        assert_eq!(Kind::parse(" LEGIT "), Some(Kind::Legit));
        assert_eq!(Kind::parse("maybe"), None);
    }

    #[test]
    fn trend_counts_the_range_by_utc_month_and_withholds_thin_rates() {
        let mut all = Vec::new();
        for day in 1..=5 {
            all.push(d(Kind::NotReady, &format!("2026-03-0{day}T23:30:00Z")));
        }
        for day in 1..=5 {
            let k = if day == 1 {
                Kind::NotReady
            } else {
                Kind::Legit
            };
            all.push(d(k, &format!("2026-04-0{day}")));
        }
        all.push(d(Kind::AlreadyWorking, "2026-05-01"));
        // Outside (from, to]: on `from` and after `to`.
        all.push(d(Kind::NotReady, "2026-02-01"));
        all.push(d(Kind::NotReady, "2026-05-02T00:00:01Z"));
        let t = trend(&all, at("2026-02-01"), at("2026-05-02"));
        assert_eq!(
            t.counts,
            Counts {
                legit: 4,
                not_ready: 6,
                already_working: 1
            }
        );
        let months: Vec<_> = t
            .by_month
            .iter()
            .map(|m| (m.month.as_str(), m.dispositions, m.false_positive_rate))
            .collect();
        assert_eq!(
            months,
            vec![
                ("2026-03", 5, Some(1.0)),
                ("2026-04", 5, Some(0.2)),
                ("2026-05", 1, None)
            ]
        );
        assert_eq!(t.false_positive_rate, Some(6.0 / 11.0));
        assert!(t.reason.as_deref().unwrap().contains("1 of 3 months"));
        assert_eq!(t.month_line(2), "2026-04 20.0 % (5) · 2026-05 n = 1");
        let lines = t.month_lines();
        assert!(
            lines[1].contains("100.0 %") && lines[1].ends_with("██████████"),
            "{lines:?}"
        );
        assert!(lines[3].contains("not enough data"), "{lines:?}");
        assert!(
            t.summary().contains("54.5 % (not_ready ÷ answers, n = 11)"),
            "{}",
            t.summary()
        );
        let empty = trend(&all, at("2027-01-01"), at("2027-02-01"));
        assert_eq!((empty.counts.total(), empty.false_positive_rate), (0, None));
        assert_eq!(empty.summary(), "reps' answers: none in the range");
    }
}
