//! The `capture` step: the run's emitted signals as `beton_signal_fired` events to PostHog
//! (docs/POSTHOG.md; SPEC §3 says which signals are emitted) and the changed Beton group
//! properties as `$groupidentify` events (docs/ALERTS.md), queued in the outbox first so a failed
//! send is retried by the next run.

use std::time::Duration;

use super::{Integration, Run};
use crate::error::Result;
use crate::pipeline::report::{Step, StepStatus};
use crate::source::Source;

pub struct Capture;

impl Integration for Capture {
    fn run(&self, run: &Run<'_>) -> Result<Option<Step>> {
        let Some((_, p)) = run.posthog() else {
            return Ok(None);
        };
        let store = run.store;
        let demo = matches!(run.source, Source::Local) && store.meta("demo")?.is_some();
        if run.run_id == 0 {
            return Ok(None);
        }
        if demo {
            // Invented accounts never reach a real PostHog project.
            return Ok(Some(Step::new(
                "capture",
                StepStatus::Skipped,
                "the local workspace holds DEMO data: signals are not sent to PostHog",
            )));
        }
        run.progress.stage("capture");
        let cfg = run.cfg();
        // The tier back in PostHog: group properties of the accounts whose values changed,
        // queued with the signal events and sent with them.
        let previous = store.group_props()?;
        let ids: Vec<i64> = previous.keys().copied().collect();
        let changed = crate::posthog::groups::changed(
            p.project_id,
            &cfg.group_type,
            run.t,
            run.scores,
            run.held_out,
            &previous,
            &store.account_keys_of(&ids)?,
        );
        store.queue_group_props(&changed)?;
        let events = crate::posthog::capture::events(
            p.project_id,
            &cfg.group_type,
            run.t,
            run.scores,
            run.emitted,
        );
        // Queued first, so a failed send is retried by the next run.
        store.queue_captures(&events)?;
        let unsent = store.unsent_captures()?;
        let earlier = unsent.len().saturating_sub(events.len());
        let step = match crate::posthog::capture::send(
            &p.capture_host,
            &p.project_api_key,
            &unsent,
            Duration::from_secs(1),
        ) {
            Ok(n) => {
                store.mark_captured(&unsent)?;
                let detail = match earlier {
                    0 => format!("{n} events sent (beton_signal_fired, $groupidentify)"),
                    k => format!(
                        "{n} events sent (beton_signal_fired, $groupidentify; {k} left over from earlier runs)"
                    ),
                };
                Step::new("capture", StepStatus::Ok, &detail)
            }
            Err(e) => Step::new(
                "capture",
                StepStatus::Failed,
                &format!("{e}; {} events stay queued for the next run", unsent.len()),
            ),
        };
        Ok(Some(step))
    }
}
