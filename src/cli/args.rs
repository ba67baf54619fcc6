//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Beton finds the accounts whose product usage says "ready to buy", scores them, explains why,
/// and proves with history whether the signals predict revenue.
///
/// With no command it opens the terminal app (creating a demo workspace on first run).
#[derive(Debug, Parser)]
#[command(name = "beton", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Run the whole pipeline once, headless (for cron): detect, score, record, sync.
    #[arg(long)]
    pub run_daily: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// The settings file [default: the platform config dir]/config.toml.
    #[arg(long, global = true, env = "BETON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the workspace lives [default: the platform data dir].
    #[arg(long, global = true, env = "BETON_DATA", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Detect as of this time (RFC 3339 or YYYY-MM-DD, UTC) instead of now.
    #[arg(long, global = true, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented settings file with every default.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Import events, an accounts snapshot, deals (JSONL or CSV) or reps' dispositions (CSV);
    /// `-` reads stdin.
    Import {
        /// What the file holds: events (PostHog event export), accounts (PostHog `groups` rows),
        /// deals, or feedback (reps' dispositions).
        #[arg(value_enum)]
        kind: ImportKind,
        /// The file, or `-` for standard input.
        file: String,
        /// The file's format when its name does not say (.jsonl/.ndjson/.json or .csv).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
    /// Generate a deterministic demo workspace ending now (or at --as-of).
    Demo {
        /// How many accounts to generate.
        #[arg(long, default_value_t = 1000)]
        accounts: u32,
        /// How many days of events, ending at --as-of (or now).
        #[arg(long, default_value_t = 180)]
        days: u32,
        /// The random seed: the same seed gives the same workspace.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Scale how many events active users send (1.6 gives ~10 M events for 10,000 accounts).
        #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
        activity_scale: f64,
        /// Write events.jsonl, accounts.jsonl and deals.csv here instead of the workspace.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace a workspace that already holds data.
        #[arg(long)]
        force: bool,
    },
    /// Show how an account's score is made: each signal's base, the cap, the bonus, the evidence.
    Explain {
        /// The account key (e.g. acme.com).
        account: String,
    },
    /// Connect PostHog or Attio (writes its settings to the config file).
    Connect {
        #[command(subcommand)]
        target: ConnectTarget,
    },
    /// Create or update the four Beton dashboards in PostHog (idempotent).
    Provision {
        /// Only print what would be created or updated.
        #[arg(long)]
        dry_run: bool,
        /// Recreate dashboards and tiles that were deleted in PostHog.
        #[arg(long)]
        recreate: bool,
    },
    /// Check what the PostHog project has, which signals can fire, and the query budget.
    Doctor,
    /// The HogQL Beton sends: `--dump` prints every query as JSON lines {name, query, values};
    /// `--score FILE` scores query answers ({name, columns, rows} lines) as detection would;
    /// `--backtest FILE` runs the backtest at T from answers at every replay date (lines with
    /// `as_of`) and the first-seen answer, with the workspace's deals.
    Hogql {
        /// Print every HogQL query Beton sends, one JSON object per line.
        #[arg(long, conflicts_with_all = ["score", "backtest"])]
        dump: bool,
        /// Score query answers read from FILE ({name, columns, rows} lines) as detection would.
        #[arg(long, value_name = "FILE", conflicts_with = "backtest")]
        score: Option<std::path::PathBuf>,
        /// Run the backtest at T from the answers in FILE (one set per replay date).
        #[arg(long, value_name = "FILE")]
        backtest: Option<std::path::PathBuf>,
    },
    /// List the latest run's scores.
    Scores {
        /// Only this tier.
        #[arg(long, value_enum)]
        tier: Option<TierArg>,
        /// How to print: a table for people, JSON or CSV (raw values) for tools.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Attio workspace setup.
    Attio {
        #[command(subcommand)]
        command: AttioCommand,
    },
    /// Send the latest run's routed accounts to a CRM, or bring its deals back in.
    Sync {
        #[command(subcommand)]
        service: SyncService,
    },
    /// Replay detection at past dates and judge it against the deals: precision, recall, lift, ROI.
    ///
    /// With --set it compares a candidate setting with the saved ones (nothing is saved); with
    /// --sweep it backtests each value of one setting.
    Backtest {
        #[command(flatten)]
        range: RangeArgs,
        /// Try a setting without saving it, e.g. `--set pricing_intent.min_count=4` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Backtest each value of one setting, e.g. `--sweep pricing_intent.min_count=1..6` or `=0.6,0.8`.
        #[arg(long, value_name = "KEY=VALUES")]
        sweep: Option<String>,
        /// How to print: a table for people, JSON or CSV (raw values) for tools.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Learn base points from outcomes: an L2 logistic regression on the backtest's observations
    /// over `learn.range_days`, fitted on the earlier two thirds of the dates, tested on the last
    /// third. Nothing is written without --apply.
    Learn {
        /// Write the proposed bases to the config file (comments kept) and record the model.
        #[arg(long, conflicts_with = "rollback")]
        apply: bool,
        /// With --apply: apply a model that validates worse than the rules in force.
        #[arg(long, requires = "apply")]
        force: bool,
        /// Put back the bases the current model replaced, and retire it.
        #[arg(long)]
        rollback: bool,
        /// Count reps' not_ready answers as negative outcomes of the training part
        /// (docs/EVIDENCE.md: when it helps, when it biases).
        #[arg(long, conflicts_with = "rollback")]
        use_feedback: bool,
    },
    /// Explain a signal: its definition, settings, backtest figures and tuning advice.
    ExplainSignal {
        /// The signal type, e.g. pricing_intent.
        signal: String,
        #[command(flatten)]
        range: RangeArgs,
    },
    /// Account health: active users, week-over-week activity, status, growth leaders, features.
    Health {
        /// Only accounts with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// How to print: a table for people, JSON or CSV (raw values) for tools.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Compare lead sources: leads, SQLs, win and close rates, cycle, pipeline, win rate per quarter.
    Sources {
        /// How to print: a table for people, JSON or CSV (raw values) for tools.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print a shell completion script: `beton completions bash > /etc/bash_completion.d/beton`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print the manual page (roff): `beton man > /usr/local/share/man/man1/beton.1`.
    Man,
    /// Why scores changed between two times (`--from T1 --to T2`, today's settings) or two
    /// recorded runs (`--runs A B`, each with its own settings): the accounts whose score, tier
    /// or routing differ, each change split into signals added and removed, the cap, the bonus
    /// and settings. Nothing is recorded.
    Diff {
        /// Only this account.
        account: Option<String>,
        /// The earlier time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long, value_name = "TIME", requires = "to", conflicts_with = "runs")]
        from: Option<String>,
        /// The later time [with --from].
        #[arg(long, value_name = "TIME", requires = "from")]
        to: Option<String>,
        /// Two recorded run ids, earlier first (`beton scores` shows the latest run's id).
        #[arg(long, num_args = 2, value_names = ["A", "B"])]
        runs: Option<Vec<i64>>,
    },
    /// The outbox: alerts, digests and CRM writes with their state; `--dry-run` shows what a run
    /// at T would send (nothing is recorded or sent).
    Alerts {
        /// Say what a run at T would send; record and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this account's rows.
        #[arg(long, value_name = "KEY")]
        account: Option<String>,
    },
    /// Run the daily pipeline every interval until stopped (local: when an import changed the
    /// workspace; PostHog: within the query budget). Runs never overlap.
    Watch {
        /// The interval: 15m, 1h, 90s …
        #[arg(long, default_value = "15m")]
        every: String,
        /// Stop after this many runs.
        #[arg(long, value_name = "N")]
        runs: Option<u32>,
    },
    /// Treated against held-out win rates (SPEC §12): difference with its interval, p-value,
    /// incremental wins and value, and the minimum detectable difference.
    Incrementality,
    /// Record a rep's answer about an account (SPEC §10): `not_ready` keeps it out of routing and
    /// alerts for feedback.not_ready_days, `already_working` for feedback.already_working_days,
    /// `legit` suppresses nothing. Without a disposition: list the account's answers.
    Feedback {
        /// The account key (e.g. acme.com).
        account: String,
        /// The answer; omitted, the account's recorded answers are listed.
        #[arg(value_enum)]
        disposition: Option<DispositionArg>,
        /// A note (why, what the rep heard).
        #[arg(long, value_name = "TEXT", requires = "disposition")]
        note: Option<String>,
        /// When the rep answered (RFC 3339 or YYYY-MM-DD, UTC) [default: --as-of, else now].
        #[arg(long, value_name = "TIME", requires = "disposition")]
        at: Option<String>,
        /// Who answered (an email).
        #[arg(long, value_name = "EMAIL", requires = "disposition")]
        by: Option<String>,
    },
}

/// A rep's answer (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DispositionArg {
    /// A real buying signal (suppresses nothing).
    #[value(name = "legit")]
    Legit,
    /// Not ready to buy: no routing or alerts for feedback.not_ready_days.
    #[value(name = "not_ready", alias = "not-ready")]
    NotReady,
    /// Already worked by someone: no routing or alerts for feedback.already_working_days.
    #[value(name = "already_working", alias = "already-working")]
    AlreadyWorking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum AttioCommand {
    /// Create the deal attributes, lead_source options and stage the sync needs (only what is
    /// missing); check required deal attributes and deal owners.
    Setup {
        /// Say what would be created; create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Owner of deals whose account has no owner_email that is a workspace member (a
        /// member's email; checked against the members, saved as attio.default_owner).
        #[arg(long, value_name = "EMAIL")]
        default_owner: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncService {
    /// Routed accounts of the latest run → Attio deals, notes, tasks and list entries.
    Attio {
        /// Say what would be sent; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read every Attio deal instead, and store them as deals (for sources and backtest).
        #[arg(long)]
        pull: bool,
        /// Send a DEMO workspace's invented accounts too (to a sandbox workspace).
        #[arg(long)]
        allow_demo: bool,
    },
}

/// The backtest range; each defaults to the `[backtest]` settings.
#[derive(Debug, Clone, Copy, Args)]
pub struct RangeArgs {
    /// Days replayed before T [default: backtest.range_days, 180].
    #[arg(long)]
    pub range_days: Option<u32>,
    /// Days between replay dates [default: backtest.step_days, 7].
    #[arg(long)]
    pub step_days: Option<u32>,
    /// Days after a flag in which a win counts [default: backtest.horizon_days, 90].
    #[arg(long)]
    pub horizon_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    #[value(name = "at_risk", alias = "at-risk")]
    AtRisk,
    Growing,
    Stable,
    Inactive,
}

#[derive(Debug, Subcommand)]
pub enum ConnectTarget {
    /// Connect a PostHog project: the personal API key comes from POSTHOG_API_KEY or a prompt
    /// (then stored in credentials.toml next to the config, mode 0600).
    Posthog {
        /// The private API host [default: https://us.posthog.com, then EU if the key is from there].
        #[arg(long, value_name = "URL")]
        host: Option<String>,
        /// The project id, when the key reaches several.
        #[arg(long, value_name = "ID")]
        project: Option<u64>,
    },
    /// Connect an Attio workspace: checks ATTIO_API_KEY (active, scopes) and writes the
    /// [attio] settings; the key itself is not stored.
    Attio {
        /// Another API address (a test server); saved as attio.base_url.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Owner of deals whose account has no owner_email that is a workspace member (a
        /// member's email; checked against the members, saved as attio.default_owner).
        #[arg(long, value_name = "EMAIL")]
        default_owner: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportKind {
    Events,
    Accounts,
    Deals,
    /// Reps' dispositions: CSV `account_key,disposition,at,note,by` (SPEC §10).
    Feedback,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    Hot,
    Warm,
    Cool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every option and argument of every command says what it is for (`--help`, the man page
    /// and the completions all show it).
    #[test]
    fn every_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(format!("{path} (the command)"));
            }
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
        Cli::command().debug_assert();
    }
}
