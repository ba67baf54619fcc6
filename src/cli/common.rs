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

pub fn context(g: &Global) -> Result<Context> {
    let paths = Paths::resolve(g.config.clone(), g.data_dir.clone())?;
    let config = Config::load(&paths.config_file)?;
    Ok(Context { paths, config })
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
