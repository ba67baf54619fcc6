//! The Attio sync's tables: company cache, deal map, and the outbox of writes (docs/ATTIO.md).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use super::Store;
use super::units::UnitKey;
use crate::error::Result;

/// A routed account of a run, as the Attio sync needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttioCandidate {
    pub account_id: i64,
    pub account: String,
    pub score: u32,
    pub tier: String,
    pub signals: Vec<CandidateSignal>,
}

/// One fired signal of a candidate; `emitted` is false inside its cooldown (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateSignal {
    pub signal: String,
    pub base: u32,
    pub evidence: String,
    pub emitted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Written, never sent.
    Pending,
    /// Sent; whether Attio applied it is unknown until it is replayed or confirmed.
    Sent,
    Done,
    /// Attio rejected it (a 4xx); planned again it becomes pending.
    Failed,
    /// Never sent, and replaced by a newer step of the same kind for the account (a later run's
    /// note, task or deal values), so that the account gets one of each, not one per run.
    Superseded,
}

impl StepState {
    fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Sent => "sent",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Superseded => "superseded",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sent" => StepState::Sent,
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            "superseded" => StepState::Superseded,
            _ => StepState::Pending,
        }
    }
}

/// One write of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxStep {
    pub id: i64,
    pub key: String,
    pub account_id: i64,
    pub kind: String,
    pub method: String,
    pub path: String,
    pub body: String,
    pub marker: String,
    pub state: StepState,
    pub attempts: i64,
}

/// What a confirmed step changes in the local state, in the same transaction as "done".
#[derive(Debug, Clone, PartialEq)]
pub enum Completion<'a> {
    Company {
        domain: &'a str,
    },
    Deal {
        digest: &'a str,
        /// The record's address in Attio's web app, when Attio gave one.
        web_url: Option<&'a str>,
    },
    Other,
}

fn upsert_company(
    conn: &rusqlite::Connection,
    account_id: i64,
    domain: &str,
    record_id: Option<&str>,
    t: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO attio_companies(account_id, domain, record_id, checked_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(account_id) DO UPDATE SET domain = excluded.domain, record_id = excluded.record_id,
           checked_at = excluded.checked_at",
        params![account_id, domain, record_id, t],
    )?;
    Ok(())
}

impl Store {
    /// The routed accounts of a run with their fired signals, best score first; held-out accounts
    /// (SPEC §12) are left out: they get no CRM write.
    pub fn attio_candidates(&self, run_id: i64) -> Result<Vec<AttioCandidate>> {
        let mut stmt = self.conn().prepare(
            "SELECT s.account_id, a.key, s.score, s.tier FROM run_scores s JOIN accounts a ON a.id = s.account_id
             WHERE s.run_id = ?1 AND s.routed
               AND NOT EXISTS (SELECT 1 FROM holdout h WHERE h.account_id = s.account_id AND h.held_out)
             ORDER BY s.score DESC, a.key",
        )?;
        let rows = stmt.query_map([run_id], |r| {
            Ok(AttioCandidate {
                account_id: r.get(0)?,
                account: r.get(1)?,
                score: r.get(2)?,
                tier: r.get(3)?,
                signals: vec![],
            })
        })?;
        let mut out: Vec<AttioCandidate> = rows.collect::<rusqlite::Result<_>>()?;
        let mut sig = self.conn().prepare(
            "SELECT signal, base, evidence, emitted FROM run_signals WHERE run_id = ?1 AND account_id = ?2
             ORDER BY base DESC, signal",
        )?;
        for c in &mut out {
            let rows = sig.query_map(params![run_id, c.account_id], |r| {
                Ok(CandidateSignal {
                    signal: r.get(0)?,
                    base: r.get(1)?,
                    evidence: r.get(2)?,
                    emitted: r.get(3)?,
                })
            })?;
            c.signals = rows.collect::<rusqlite::Result<_>>()?;
        }
        Ok(out)
    }

    /// An account's properties as of `t`: the snapshot overlaid with every `$group_set` before `t`.
    pub fn account_props(&self, account_id: i64, t: i64) -> Result<Map<String, Value>> {
        let snapshot: Option<String> = self
            .conn()
            .query_row(
                "SELECT snapshot FROM accounts WHERE id = ?1",
                [account_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let mut props: Map<String, Value> = snapshot
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let mut stmt = self.conn().prepare_cached(
            "SELECT props FROM prop_history WHERE account_id = ?1 AND ts < ?2 ORDER BY ts, seq",
        )?;
        let rows = stmt.query_map(params![account_id, t], |r| r.get::<_, String>(0))?;
        for row in rows {
            if let Ok(set) = serde_json::from_str::<Map<String, Value>>(&row?) {
                props.extend(set);
            }
        }
        Ok(props)
    }

    /// Per user, activity events in days `[from_day, to_day)`, most active first.
    pub fn account_user_activity(
        &self,
        account_id: i64,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(String, i64)>> {
        let mut per_user: HashMap<i64, i64> = HashMap::new();
        self.account_units_between(account_id, from_day, to_day, |k, c| {
            if let UnitKey::User { user, .. } = k
                && c.activity > 0
            {
                *per_user.entry(user).or_default() += c.activity as i64;
            }
        })?;
        self.named_counts("SELECT key FROM users WHERE id = ?1", per_user)
    }

    /// Per feature, the days in `[from_day, to_day)` it was used on, most used first.
    pub fn account_feature_days(
        &self,
        account_id: i64,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(String, i64)>> {
        let mut per_feature: HashMap<i64, i64> = HashMap::new();
        self.account_units_between(account_id, from_day, to_day, |k, _| {
            if let UnitKey::Feature { feature, .. } = k {
                *per_feature.entry(feature).or_default() += 1;
            }
        })?;
        self.named_counts("SELECT name FROM features WHERE id = ?1", per_feature)
    }

    /// Counts by id, as (name, count), highest count first then by name.
    fn named_counts(
        &self,
        name_sql: &str,
        counts: HashMap<i64, i64>,
    ) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn().prepare_cached(name_sql)?;
        let mut out = Vec::with_capacity(counts.len());
        for (id, n) in counts {
            out.push((stmt.query_row([id], |r| r.get::<_, String>(0))?, n));
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// The cached company of an account: its domain and record id (None: not in Attio).
    pub fn attio_company(&self, account_id: i64) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT domain, record_id FROM attio_companies WHERE account_id = ?1",
                [account_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_attio_company(
        &self,
        account_id: i64,
        domain: &str,
        record_id: Option<&str>,
        t: i64,
    ) -> Result<()> {
        upsert_company(self.conn(), account_id, domain, record_id, t)
    }

    /// Drops an account's cached company, so the next sync looks it up again.
    pub fn forget_attio_company(&self, account_id: i64) -> Result<()> {
        self.conn().execute(
            "DELETE FROM attio_companies WHERE account_id = ?1",
            [account_id],
        )?;
        Ok(())
    }

    /// Drops the account's deal from the map (Attio no longer has it), so that nothing waiting
    /// for a deal is sent to the deleted one.
    pub fn forget_attio_deal(&self, account_id: i64) -> Result<()> {
        self.conn().execute(
            "DELETE FROM attio_deals WHERE account_id = ?1",
            [account_id],
        )?;
        Ok(())
    }

    /// Attio company record id → account key, for every resolved company.
    pub fn attio_company_accounts(&self) -> Result<HashMap<String, String>> {
        let mut stmt = self.conn().prepare(
            "SELECT c.record_id, a.key FROM attio_companies c JOIN accounts a ON a.id = c.account_id
             WHERE c.record_id IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The deal Beton made for an account: record id and digest of the values last asserted.
    pub fn attio_deal(&self, account_id: i64) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT record_id, digest FROM attio_deals WHERE account_id = ?1",
                [account_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The Attio deal of an account for people: its record id and web address (when known).
    pub fn attio_deal_link(&self, account_id: i64) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT record_id, web_url FROM attio_deals WHERE account_id = ?1",
                [account_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Adds steps in one transaction. A step whose key exists is left alone, unless Attio had
    /// rejected it or it was superseded: then it is pending again with the new body. Returns how many are new or revived.
    pub fn outbox_add(&self, steps: &[OutboxStep], t: i64) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO outbox(channel, key, account_id, kind, method, path, body, marker, state, created_at)
                 VALUES ('attio', ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)
                 ON CONFLICT(channel, key) DO UPDATE SET state = 'pending', body = excluded.body, path = excluded.path,
                   error = NULL
                 WHERE outbox.state IN ('failed', 'superseded')",
            )?;
            for s in steps {
                n += stmt.execute(params![
                    s.key,
                    s.account_id,
                    s.kind,
                    s.method,
                    s.path,
                    s.body,
                    s.marker,
                    t
                ])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Marks the account's never-sent (`pending`) deal, note and task steps superseded when a step
    /// of the same kind with another key is among `newer`: a later run's plan replaces what an
    /// earlier one could not send (its deal was rejected, so its note and task waited). Steps
    /// that were sent are left for the replay, which knows whether Attio has them.
    pub fn outbox_supersede(&self, account_id: i64, newer: &[OutboxStep]) -> Result<usize> {
        let mut n = 0;
        for s in newer
            .iter()
            .filter(|s| matches!(s.kind.as_str(), "deal" | "note" | "task"))
        {
            n += self.conn().execute(
                "UPDATE outbox SET state = 'superseded', error = 'replaced by ' || ?3
                 WHERE channel = 'attio' AND account_id = ?1 AND kind = ?2 AND key <> ?3 AND state = 'pending'",
                params![account_id, s.kind, s.key],
            )?;
        }
        Ok(n)
    }

    /// True when a note for the account was sent to (or is on its way to) the Attio record `rid`:
    /// Beton has attached its context to that deal before.
    pub fn outbox_attached(&self, account_id: i64, rid: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS(SELECT 1 FROM outbox WHERE channel = 'attio' AND account_id = ?1 AND kind = 'note'
               AND state IN ('pending', 'sent', 'done') AND instr(body, ?2) > 0)",
            params![account_id, rid],
            |r| r.get::<_, bool>(0),
        )?)
    }

    /// Steps not done yet (pending or sent), oldest first; of one account when given.
    pub fn outbox_open(&self, account_id: Option<i64>) -> Result<Vec<OutboxStep>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, key, account_id, kind, method, path, body, marker, state, attempts FROM outbox
             WHERE channel = 'attio' AND state IN ('pending', 'sent') AND (?1 IS NULL OR account_id = ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map([account_id], |r| {
            Ok(OutboxStep {
                id: r.get(0)?,
                key: r.get(1)?,
                account_id: r.get(2)?,
                kind: r.get(3)?,
                method: r.get(4)?,
                path: r.get(5)?,
                body: r.get(6)?,
                marker: r.get(7)?,
                state: StepState::parse(&r.get::<_, String>(8)?),
                attempts: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The state of the step with `key`, if there is one.
    pub fn outbox_state(&self, key: &str) -> Result<Option<StepState>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state FROM outbox WHERE channel = 'attio' AND key = ?1",
                [key],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(|s| StepState::parse(&s)))
    }

    /// Records that a step is about to be sent (committed before the request goes out).
    pub fn outbox_sent(&self, id: i64, t: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2 WHERE id = ?1",
            params![id, t],
        )?;
        Ok(())
    }

    /// Marks a step done with the id Attio gave, and applies what it changes locally, atomically.
    pub fn outbox_done(
        &self,
        step: &OutboxStep,
        result: &str,
        what: Completion<'_>,
        t: i64,
    ) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            "UPDATE outbox SET state = ?2, done_at = ?3, result = ?4, error = NULL WHERE id = ?1",
            params![step.id, StepState::Done.as_str(), t, result],
        )?;
        match what {
            Completion::Company { domain } => {
                upsert_company(&tx, step.account_id, domain, Some(result), t)?;
            }
            Completion::Deal { digest, web_url } => {
                tx.execute(
                    "INSERT INTO attio_deals(account_id, record_id, digest, synced_at, web_url) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(account_id) DO UPDATE SET record_id = excluded.record_id, digest = excluded.digest,
                       synced_at = excluded.synced_at,
                       web_url = CASE WHEN excluded.record_id = record_id
                                      THEN coalesce(excluded.web_url, web_url) ELSE excluded.web_url END",
                    params![step.account_id, result, digest, t, web_url],
                )?;
            }
            Completion::Other => {}
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a step rejected by Attio, with the reason.
    pub fn outbox_failed(&self, id: i64, error: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'failed', error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    /// Steps by state, for reports and tests.
    pub fn outbox_counts(&self) -> Result<HashMap<String, i64>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT state, count(*) FROM outbox WHERE channel = 'attio' GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every account key with its `domain` property from the snapshot (for mapping pulled deals).
    pub fn account_domains(&self) -> Result<Vec<(String, Option<String>)>> {
        self.account_text_prop("domain")
    }

    /// Every account key with a text property of its snapshot (e.g. `owner_email`).
    pub fn account_text_prop(&self, prop: &str) -> Result<Vec<(String, Option<String>)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT key, snapshot FROM accounts ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, snapshot) = row?;
            let value = snapshot
                .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok())
                .and_then(|m| m.get(prop).and_then(Value::as_str).map(str::to_string));
            out.push((key, value));
        }
        Ok(out)
    }
}

impl Store {
    /// The time T a run detected at.
    pub fn run_as_of(&self, run_id: i64) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row("SELECT as_of FROM runs WHERE id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

impl Store {
    /// Removes pulled deals (`attio:` ids) that are not in `keep`: Attio no longer has them, or
    /// they no longer map to an account. Returns how many went.
    pub fn remove_attio_deals_except(
        &self,
        keep: &std::collections::HashSet<String>,
    ) -> Result<usize> {
        let ids: Vec<String> = {
            let mut stmt = self
                .conn()
                .prepare("SELECT deal_id FROM deals WHERE deal_id LIKE 'attio:%'")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let tx = self.conn().unchecked_transaction()?;
        let mut n = 0;
        for id in ids.iter().filter(|id| !keep.contains(*id)) {
            n += tx.execute("DELETE FROM deals WHERE deal_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Ingest;

    /// A deal recreated in Attio under a new record id drops the old record's address when the
    /// answer brings none; the same record keeps its address.
    #[test]
    fn a_new_record_id_never_keeps_the_old_address() {
        let store = Store::open_in_memory().unwrap();
        let mut ingest = Ingest::begin(&store, &Config::default()).unwrap();
        let account = ingest.account_id("acme.com").unwrap();
        ingest.commit().unwrap();
        let step = OutboxStep {
            id: 1,
            key: "k".into(),
            account_id: account,
            kind: "deal".into(),
            method: "PUT".into(),
            path: "/v2/objects/deals/records".into(),
            body: "{}".into(),
            marker: String::new(),
            state: StepState::Sent,
            attempts: 1,
        };
        let done = |record: &str, url: Option<&str>| {
            let what = Completion::Deal {
                digest: "d",
                web_url: url,
            };
            store.outbox_done(&step, record, what, 0).unwrap();
            store.attio_deal_link(account).unwrap()
        };
        let url = "https://app.attio.com/x/deals/rec-1";
        assert_eq!(
            done("rec-1", Some(url)),
            Some(("rec-1".into(), Some(url.into())))
        );
        assert_eq!(
            done("rec-1", None),
            Some(("rec-1".into(), Some(url.into())))
        );
        assert_eq!(done("rec-2", None), Some(("rec-2".into(), None)));
    }
}
