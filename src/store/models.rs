//! Learned models as `beton learn --apply` records them, so `explain` can use the current one and
//! `--rollback` can restore the bases it replaced.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::{Error, Result};

/// One applied model; `M` is the engine's model, stored as JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredModel<M> {
    pub id: i64,
    pub applied_at: i64,
    pub as_of: i64,
    pub bases_before: BTreeMap<String, u32>,
    pub bases_after: BTreeMap<String, u32>,
    pub model: M,
    pub test_auc: Option<f64>,
    pub rules_auc: Option<f64>,
    pub forced: bool,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Damaged(format!("model JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Records an applied model and runs `write` (the config file's update) inside the same
    /// transaction: when `write` fails, nothing is recorded. Returns the model's id.
    pub fn apply_model<M: serde::Serialize>(
        &self,
        m: &StoredModel<M>,
        write: impl FnOnce() -> Result<()>,
    ) -> Result<i64> {
        let tx = self.conn().unchecked_transaction()?;
        let id = self.save_model(m)?;
        write()?;
        tx.commit()?;
        Ok(id)
    }

    /// Marks model `id` rolled back at `at` and runs `write` (the bases put back) inside the same
    /// transaction.
    pub fn roll_back_model_with(
        &self,
        id: i64,
        at: i64,
        write: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        self.roll_back_model(id, at)?;
        write()?;
        tx.commit()?;
        Ok(())
    }

    /// Records an applied model; returns its id.
    pub fn save_model<M: serde::Serialize>(&self, m: &StoredModel<M>) -> Result<i64> {
        self.conn().execute(
            "INSERT INTO models(applied_at, as_of, bases_before, bases_after, model, test_auc, rules_auc, forced)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                m.applied_at,
                m.as_of,
                to_json(&m.bases_before)?,
                to_json(&m.bases_after)?,
                to_json(&m.model)?,
                m.test_auc,
                m.rules_auc,
                m.forced
            ],
        )?;
        Ok(self.conn().last_insert_rowid())
    }

    /// The model in force: the newest one not rolled back.
    pub fn current_model<M: serde::de::DeserializeOwned>(&self) -> Result<Option<StoredModel<M>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, applied_at, as_of, bases_before, bases_after, model, test_auc, rules_auc, forced
                 FROM models WHERE rolled_back_at IS NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(StoredModel {
                        id: r.get(0)?,
                        applied_at: r.get(1)?,
                        as_of: r.get(2)?,
                        bases_before: from_json(&r.get::<_, String>(3)?)?,
                        bases_after: from_json(&r.get::<_, String>(4)?)?,
                        model: from_json(&r.get::<_, String>(5)?)?,
                        test_auc: r.get(6)?,
                        rules_auc: r.get(7)?,
                        forced: r.get(8)?,
                    })
                },
            )
            .optional()?)
    }

    /// Marks model `id` rolled back at `at`.
    pub fn roll_back_model(&self, id: i64, at: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE models SET rolled_back_at = ?2 WHERE id = ?1 AND rolled_back_at IS NULL",
            params![id, at],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store keeps any serialisable model; a JSON value stands in for the engine's.
    fn model(intercept: f64) -> serde_json::Value {
        serde_json::json!({ "intercept": intercept })
    }

    #[test]
    fn the_current_model_is_the_newest_not_rolled_back() {
        let store = Store::open_in_memory().expect("store");
        assert_eq!(
            store.current_model::<serde_json::Value>().expect("read"),
            None
        );
        let bases = |b: u32| BTreeMap::from([("billing_intent".to_string(), b)]);
        let mut m = StoredModel {
            id: 0,
            applied_at: 10,
            as_of: 5,
            bases_before: bases(40),
            bases_after: bases(55),
            model: model(-2.0),
            test_auc: Some(0.7),
            rules_auc: Some(0.65),
            forced: false,
        };
        let first = store.save_model(&m).expect("save");
        m.bases_before = bases(55);
        m.bases_after = bases(60);
        m.model = model(-1.5);
        m.forced = true;
        let second = store.save_model(&m).expect("save");
        let now = store
            .current_model::<serde_json::Value>()
            .expect("read")
            .expect("a model");
        assert_eq!(
            (now.id, now.bases_after["billing_intent"], now.forced),
            (second, 60, true)
        );
        store.roll_back_model(second, 20).expect("roll back");
        let back = store
            .current_model::<serde_json::Value>()
            .expect("read")
            .expect("a model");
        assert_eq!(
            (back.id, back.model["intercept"].as_f64()),
            (first, Some(-2.0))
        );
        store.roll_back_model(first, 30).expect("roll back");
        assert_eq!(
            store.current_model::<serde_json::Value>().expect("read"),
            None
        );
    }
}
