//! The capture outbox: `beton_signal_fired` events kept until PostHog accepts them.

use rusqlite::params;
use serde_json::Value;

use super::Store;
use crate::error::Result;

impl Store {
    /// Queues capture events (each with a `uuid`); one already queued is left as it is.
    pub fn queue_captures(&self, events: &[Value]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        {
            let mut ins = tx.prepare(
                "INSERT OR IGNORE INTO capture_outbox(uuid, payload, queued_at) VALUES (?1, ?2, ?3)",
            )?;
            let now = crate::time::now();
            for e in events {
                if let Some(uuid) = e.get("uuid").and_then(Value::as_str) {
                    ins.execute(params![uuid, e.to_string(), now])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every queued event PostHog has not accepted yet, oldest first.
    pub fn unsent_captures(&self) -> Result<Vec<Value>> {
        let mut stmt = self.conn().prepare(
            "SELECT payload FROM capture_outbox WHERE sent_at IS NULL ORDER BY queued_at, uuid",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(v) = serde_json::from_str(&row?) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Marks events accepted by PostHog.
    pub fn mark_captured(&self, events: &[Value]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        {
            let mut up = tx.prepare("UPDATE capture_outbox SET sent_at = ?2 WHERE uuid = ?1")?;
            let now = crate::time::now();
            for e in events {
                if let Some(uuid) = e.get("uuid").and_then(Value::as_str) {
                    up.execute(params![uuid, now])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}
