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

/// Whether this run's signals go to PostHog: connected, and not a DEMO workspace.
fn sends<'a>(run: &Run<'a>) -> Result<Option<&'a crate::config::PosthogSettings>> {
    let Some((_, p)) = run.posthog() else {
        return Ok(None);
    };
    let demo = matches!(run.source, Source::Local) && run.store.meta("demo")?.is_some();
    Ok((!demo).then_some(p))
}

/// Queues the capture events of the emissions `run` is about to record, before the ledger
/// records them (issue 12): a kill between the two then leaves the events queued for the next
/// run to send, instead of emissions spent with nothing sent. The uuids are deterministic, so the
/// step queueing the same events again after the record is a no-op. `run.emitted` is not known
/// yet: the emissions are the ones the ledger will let through.
pub fn queue_before_record(run: &Run<'_>) -> Result<()> {
    let Some(p) = sends(run)? else {
        return Ok(());
    };
    let cfg = run.cfg();
    let due = run
        .store
        .emissions_due(run.t, run.scores, cfg.cooldown_days)?;
    let events =
        crate::posthog::capture::events(p.project_id, &cfg.group_type, run.t, run.scores, &due);
    run.store.queue_captures(&events)
}

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
