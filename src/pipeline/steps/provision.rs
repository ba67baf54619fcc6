//! The `provision` step: the deals view and the four dashboards kept up to date on every run when
//! `posthog.provision_on_run` is set (docs/POSTHOG.md).

use super::{Integration, Run};
use crate::error::Result;
use crate::pipeline::report::{Step, StepStatus};
use crate::posthog::{dashboards, doctor};

pub struct Provision;

impl Integration for Provision {
    fn run(&self, run: &Run<'_>) -> Result<Option<Step>> {
        let Some((client, _)) = run.posthog().filter(|(_, p)| p.provision_on_run) else {
            return Ok(None);
        };
        run.progress.stage("provision");
        let outcome = dashboards::Definitions::builtin().and_then(|defs| {
            let sources = doctor::check(client, run.cfg(), run.t)?;
            dashboards::provision(client, run.store, run.cfg(), &defs, Some(&sources), false)
        });
        Ok(Some(match outcome {
            Ok(o) => Step::new("provision", StepStatus::Ok, &o.summary()),
            Err(e) => Step::new("provision", StepStatus::Failed, &e.to_string()),
        }))
    }
}
