//! Emissions a channel has not queued yet (issue 12). The cooldown ledger starts when a run
//! records its emissions; the Attio sync plans its note and task later, after reading Attio. An
//! emission whose note and task were never planned (a kill in between, Attio down for the whole
//! run, the account unresolved that day) is still owed to Attio: the next sync of the account
//! treats its type as new, once.

use rusqlite::params;

use super::{Emission, Scored, Store, cooled_down};
use crate::error::Result;

impl Store {
    /// The emissions [`Store::record_detection`] will record for `scores` at `t`: each fired
    /// type outside its cooldown, in the same order.
    pub fn emissions_due(
        &self,
        t: i64,
        scores: &[impl Scored],
        cooldown_days: u32,
    ) -> Result<Vec<Emission>> {
        let last = self.last_emissions(t)?;
        Ok(scores
            .iter()
            .flat_map(|s| s.fired_types().into_iter().map(move |name| (s, name)))
            .filter(|(s, name)| {
                cooled_down(
                    last.get(&(s.account_id(), name.to_string())).copied(),
                    t,
                    cooldown_days,
                )
            })
            .map(|(s, name)| Emission {
                account: s.account().to_string(),
                signal: name.to_string(),
            })
            .collect())
    }

    /// The signal types emitted for `account_id` at or after `since` (T) by a run other than
    /// `run_id` for which no Attio note or task of the account has been planned since that run
    /// started.
    pub fn attio_unplanned_emissions(
        &self,
        account_id: i64,
        since: i64,
        run_id: i64,
    ) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT DISTINCT e.signal FROM emissions e JOIN runs r ON r.id = e.run_id
             WHERE e.account_id = ?1 AND e.emitted_at >= ?2 AND e.run_id <> ?3
               AND NOT EXISTS (SELECT 1 FROM outbox o
                               WHERE o.channel = 'attio' AND o.account_id = e.account_id AND o.kind IN ('note', 'task')
                                 AND o.created_at >= r.started_at)
             ORDER BY e.signal",
        )?;
        let rows = stmt.query_map(params![account_id, since, run_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
