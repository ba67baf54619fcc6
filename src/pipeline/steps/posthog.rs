//! The `posthog` step: reported only when PostHog is connected but no client could be made
//! (capture and provisioning then do not run).

use super::{Integration, Run};
use crate::error::Result;
use crate::pipeline::report::{Step, StepStatus};

pub struct Connection;

impl Integration for Connection {
    fn run(&self, run: &Run<'_>) -> Result<Option<Step>> {
        Ok(match run.posthog {
            Some(Err(e)) => Some(Step::new("posthog", StepStatus::Failed, &e.to_string())),
            _ => None,
        })
    }
}
