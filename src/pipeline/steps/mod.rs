//! The integration steps of the daily run, after detection is recorded: each one looks at the
//! run and reports one [`Step`], or nothing when it does not apply (not configured). A failed
//! step is reported and the others still run.
//!
//! To add a step: write a unit struct implementing [`Integration`] in a file of this folder and
//! put it in [`STEPS`] where it should run. Nothing else in the pipeline changes.

pub mod alerts;
mod attio;
pub(crate) mod capture;
mod posthog;
mod provision;

use crate::config::Config;
use crate::error::Result;
use crate::pipeline::Context;
use crate::posthog::{Client, PosthogError};
use crate::progress::Progress;
use crate::signals::AccountScore;
use crate::source::Source;
use crate::store::{Emission, Store};

use super::report::Step;

/// The run so far, as the steps see it.
pub struct Run<'a> {
    pub ctx: &'a Context,
    pub store: &'a Store,
    pub source: Source<'a>,
    /// The T the run detected at.
    pub t: i64,
    /// The recorded run; 0 when detection failed and nothing was recorded.
    pub run_id: i64,
    pub scores: &'a [AccountScore],
    /// The signals the cooldown ledger let through this run.
    pub emitted: &'a [Emission],
    /// Every held-out account (SPEC §12): no CRM write, no alert.
    pub held_out: &'a std::collections::HashSet<i64>,
    /// The PostHog connection when PostHog is connected (or the source), or why it failed.
    pub posthog: Option<&'a std::result::Result<Client, PosthogError>>,
    pub progress: &'a dyn Progress,
    /// Where alerts go (loaded before the run was recorded, since the alerts are queued with it).
    pub alerts: &'a alerts::Setup,
}

impl<'a> Run<'a> {
    pub fn cfg(&self) -> &'a Config {
        &self.ctx.config
    }

    /// The connected PostHog project: its client and settings.
    pub fn posthog(&self) -> Option<(&'a Client, &'a crate::config::PosthogSettings)> {
        match (self.posthog?, self.cfg().posthog.as_ref()) {
            (Ok(client), Some(p)) if p.project_id != 0 => Some((client, p)),
            _ => None,
        }
    }
}

/// One step of the daily run after detection.
pub trait Integration: Sync {
    /// Runs the step: `None` when it does not apply to this run, so the report leaves it out.
    /// What goes wrong with the step's service is a failed [`Step`]; an `Err` (the workspace
    /// itself failing) ends the run.
    fn run(&self, run: &Run<'_>) -> Result<Option<Step>>;
}

/// The steps, in the order they run.
pub const STEPS: &[&dyn Integration] = &[
    &posthog::Connection,
    &capture::Capture,
    &provision::Provision,
    &attio::Attio,
    &alerts::Alerts,
];
