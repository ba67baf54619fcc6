//! The headless front-end: `--run-daily` and the other commands. Parses nothing itself (that is
//! [`args`]), dispatches each command to the file of its family, which prints and sets the exit
//! code. Command files share only [`common`] and [`args`], never each other.
//!
//! - [`args`]: the command line (clap)
//! - [`common`]: the context, `--as-of`, the progress bar, exit codes
//! - `daily`: `--run-daily` and `beton` with no command when piped
//! - `import`: `init`, `import`, `demo`
//! - `scores`: `scores`, `explain`
//! - `figures`: `backtest`, `learn`, `explain-signal`, `health`, `sources`
//! - `posthog`: `connect posthog`, `provision`, `doctor`, `hogql`
//! - `attio`: `connect attio`, `attio setup`, `sync attio`

/// `println!` that stays quiet when stdout is closed (`beton scores | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod args;
mod attio;
pub mod common;
mod daily;
mod figures;
mod import;
mod posthog;
mod scores;

use beton::Result;

use args::{AttioCommand, Command, ConnectTarget, Global, SyncService};
pub use common::{Exit, as_of, context};
pub use daily::first_run;

pub fn run(g: &Global, command: Option<Command>) -> Result<Exit> {
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
            target: ConnectTarget::Attio { base_url },
        }) => attio::connect(g, base_url),
        Some(Command::Provision { dry_run, recreate }) => posthog::provision(g, dry_run, recreate),
        Some(Command::Doctor) => posthog::doctor(g),
        Some(Command::Hogql {
            dump,
            score,
            backtest,
        }) => posthog::hogql(g, dump, score, backtest),
        Some(Command::Attio {
            command: AttioCommand::Setup { dry_run },
        }) => attio::setup_cmd(g, dry_run),
        Some(Command::Sync {
            service:
                SyncService::Attio {
                    dry_run,
                    pull,
                    allow_demo,
                },
        }) => attio::sync_cmd(g, dry_run, pull, allow_demo),
        Some(Command::Backtest { range, sets, sweep }) => {
            figures::backtest(g, range, &sets, sweep.as_deref())
        }
        Some(Command::Learn {
            apply,
            force,
            rollback,
        }) => figures::learn(g, apply, force, rollback),
        Some(Command::ExplainSignal { signal, range }) => {
            figures::explain_signal(g, &signal, range)
        }
        Some(Command::Health { status }) => figures::health(g, status),
        Some(Command::Sources) => figures::sources(g),
    }
}
