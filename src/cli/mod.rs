//! The headless front-end: `--run-daily` and the other commands. Parses nothing itself (that is
//! [`args`]), dispatches each command to the file of its family, which prints and sets the exit
//! code. Command files share only [`common`] and [`args`], never each other.
//!
//! - [`args`]: the command line (clap)
//! - [`common`]: the context, `--as-of`, the progress bar, exit codes
//! - `daily`: `--run-daily` and `beton` with no command when piped
//! - `import`: `init`, `import`, `demo`
//! - `scores`: `scores`, `explain`
//! - `feedback`: `feedback` (reps' dispositions)
//! - `diff`: `diff`
//! - `figures`: `backtest`, `learn`, `explain-signal`, `health`, `sources`
//! - `posthog`: `connect posthog`, `provision`, `doctor`, `hogql`
//! - `attio`: `connect attio`, `attio setup`, `sync attio`
//! - `meta`: `completions`, `man` (the shell completions and the manual page)

/// `println!` that stays quiet when stdout is closed (`beton scores | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // Account keys and names are chosen by whoever holds the public project key: every
        // control character is shown as an escape (a valid JSON one too), never acted on.
        let line = format!($($arg)*);
        let _ = writeln!(std::io::stdout().lock(), "{}", beton::safe::text(&line));
    }};
}

mod alerts;
pub mod args;
mod attio;
pub mod common;
mod daily;
mod diff;
mod feedback;
mod figures;
mod import;
mod meta;
mod posthog;
mod scores;

use beton::Result;

use args::{AttioCommand, Command, ConnectTarget, Global, SyncService};
pub use common::{Exit, as_of};
pub use daily::first_run;

pub fn run(g: &Global, command: Option<Command>) -> Result<Exit> {
    // Every command checks --as-of, whether it uses it or not: a bad value is never ignored.
    if !(command.is_none() && g.json) {
        common::as_of(g)?;
    }
    match command {
        None => daily::daily(g),
        Some(Command::Init { force }) => import::init(g, force),
        Some(Command::Import { kind, file, format }) => import::import(g, kind, &file, format),
        Some(Command::Demo {
            accounts,
            days,
            seed,
            activity_scale,
            out,
            force,
        }) => import::demo(
            g,
            import::DemoArgs {
                accounts,
                days,
                seed,
                activity_scale,
            },
            out,
            force,
        ),
        Some(Command::Explain { account }) => scores::explain_cmd(g, &account),
        Some(Command::Scores { tier, format }) => scores::scores(g, tier, format),
        Some(Command::Connect {
            target: ConnectTarget::Posthog { host, project },
        }) => posthog::connect(g, host, project),
        Some(Command::Connect {
            target:
                ConnectTarget::Attio {
                    base_url,
                    default_owner,
                },
        }) => attio::connect(g, base_url, default_owner),
        Some(Command::Provision { dry_run, recreate }) => posthog::provision(g, dry_run, recreate),
        Some(Command::Doctor) => posthog::doctor(g),
        Some(Command::Hogql {
            dump,
            score,
            backtest,
        }) => posthog::hogql(g, dump, score, backtest),
        Some(Command::Attio {
            command:
                AttioCommand::Setup {
                    dry_run,
                    default_owner,
                },
        }) => attio::setup_cmd(g, dry_run, default_owner),
        Some(Command::Sync {
            service:
                SyncService::Attio {
                    dry_run,
                    pull,
                    allow_demo,
                },
        }) => attio::sync_cmd(g, dry_run, pull, allow_demo),
        Some(Command::Backtest {
            range,
            sets,
            sweep,
            format,
        }) => figures::backtest(g, range, &sets, sweep.as_deref(), format),
        Some(Command::Learn {
            apply,
            force,
            rollback,
            use_feedback,
        }) => figures::learn(g, apply, force, rollback, use_feedback),
        Some(Command::ExplainSignal { signal, range }) => {
            figures::explain_signal(g, &signal, range)
        }
        Some(Command::Health { status, format }) => figures::health(g, status, format),
        Some(Command::Sources { format }) => figures::sources(g, format),
        Some(Command::Completions { shell }) => meta::completions(shell),
        Some(Command::Man) => meta::man(),
        Some(Command::Diff {
            account,
            from,
            to,
            runs,
        }) => diff::diff(g, account.as_deref(), from, to, runs),
        Some(Command::Alerts { dry_run, account }) => {
            alerts::alerts(g, dry_run, account.as_deref())
        }
        Some(Command::Watch { every, runs }) => alerts::watch(g, &every, runs),
        Some(Command::Incrementality) => alerts::incrementality(g),
        Some(Command::Feedback {
            account,
            disposition,
            note,
            at,
            by,
        }) => feedback::feedback(
            g,
            &account,
            disposition.map(|d| feedback::Answer { d, note, at, by }),
        ),
    }
}
