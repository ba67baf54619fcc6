//! The `attio` step: sync the run's routed accounts to Attio as deals, notes, tasks and list
//! entries (docs/ATTIO.md). A DEMO workspace is never sent: its accounts are invented.

use super::{Integration, Run};
use crate::attio::{SyncOptions, connect, sync};
use crate::error::Result;
use crate::pipeline::report::{Step, StepStatus};

pub struct Attio;

impl Integration for Attio {
    fn run(&self, run: &Run<'_>) -> Result<Option<Step>> {
        let cfg = run.cfg();
        if run.run_id == 0 || cfg.attio.is_none() {
            return Ok(None);
        }
        run.progress.stage("attio");
        let step = |status, detail: String| Step {
            name: "attio".into(),
            status,
            detail,
        };
        let store = run.store;
        match store.meta("demo") {
            Ok(Some(_)) => {
                return Ok(Some(step(
                    StepStatus::Skipped,
                    "the workspace holds DEMO data: no deals are sent to Attio".into(),
                )));
            }
            Ok(None) => {}
            Err(e) => return Ok(Some(step(StepStatus::Failed, e.to_string()))),
        }
        let result = connect(&run.ctx.paths, cfg)
            .and_then(|client| sync(store, cfg, &client, run.run_id, &SyncOptions::default()));
        Ok(Some(match result {
            Ok(r) if r.count(crate::attio::sync::Outcome::Failed) > 0 => {
                step(StepStatus::Failed, r.summary())
            }
            Ok(r) => step(StepStatus::Ok, r.summary()),
            Err(e) => step(StepStatus::Failed, e.to_string()),
        }))
    }
}
