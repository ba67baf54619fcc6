//! What every command file shares: the workspace context, `--as-of`, the progress bar and the
//! exit code type.

use std::io::IsTerminal;

use beton::config::{Config, Paths};
use beton::pipeline::Context;
use beton::progress::Progress;
use beton::time::parse_ts;
use beton::{Error, Result};

use super::args::Global;

/// What a command ended with: the process exit code.
pub type Exit = i32;

/// The workspace and settings of a command that reads them. An explicit `--config` or
/// `BETON_CONFIG` naming a file that does not exist is an error: a mistyped path in a crontab
/// must not run on the defaults. (Only the platform default may be missing: then the defaults
/// apply.)
pub fn context(g: &Global) -> Result<Context> {
    let ctx = context_creating(g)?;
    if let Some(given) = &g.config
        && !given.exists()
    {
        let how = if std::env::var_os("BETON_CONFIG").is_some_and(|v| v == given.as_os_str()) {
            "BETON_CONFIG"
        } else {
            "--config"
        };
        return Err(Error::Usage(format!(
            "{how} {}: no such file. `beton init` with the same {how} writes one with every default; \
             without {how} Beton reads the platform's config file",
            given.display()
        )));
    }
    Ok(ctx)
}

/// The context of a command that may create the settings file (`connect`, the terminal app's
/// tuner): a missing file means the defaults.
pub fn context_creating(g: &Global) -> Result<Context> {
    let paths = Paths::resolve(g.config.clone(), g.data_dir.clone())?;
    let config = Config::load(&paths.config_file)?;
    Ok(Context { paths, config })
}

/// Warns (on stderr) when an explicit `--as-of` lies outside the workspace's events: before the
/// first one, or more than a signal window after the last (every window before T is empty).
pub fn warn_out_of_range(g: &Global, ctx: &Context, t: i64) {
    if g.as_of.is_none() || ctx.config.source != beton::config::SourceKind::Local {
        return;
    }
    let Ok(store) = ctx.open_store() else { return };
    let Ok(c) = store.counts() else { return };
    let (Some(first), Some(last)) = (c.first_event, c.last_event) else {
        return;
    };
    let date = beton::time::fmt_date;
    let days = |a: i64, b: i64| (a - b) / beton::time::DAY;
    if t < first {
        eprintln!(
            "beton: warning: --as-of {} is before the workspace's first event ({}): nothing before T to detect on",
            date(t),
            date(first)
        );
    } else if t > last + 7 * beton::time::DAY {
        eprintln!(
            "beton: warning: --as-of {} is {} days after the workspace's last event ({}): the signal windows before T are empty",
            date(t),
            days(t, last),
            date(last)
        );
    }
}

pub fn as_of(g: &Global) -> Result<Option<i64>> {
    g.as_of
        .as_deref()
        .map(|s| {
            parse_ts(s).ok_or_else(|| {
                Error::Usage(format!("--as-of {s:?}: expected RFC 3339 or YYYY-MM-DD"))
            })
        })
        .transpose()
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// A bar counting `unit`s (`days`, `accounts`) of a known total.
    pub fn counting(total: u64, unit: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {{pos}}/{{len}} {unit} [{{bar:30}}] eta {{eta}}"
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(Some(bar))
    }

    pub fn bytes(total: Option<u64>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(Some(bar))
    }

    pub fn done(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn advance(&self, done: u64, _total: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }
}
