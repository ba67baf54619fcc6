//! The `beton` binary: parse arguments, set up errors and logging, dispatch. Nothing else.

#[macro_use]
mod cli;
mod tui;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use cli::args::Cli;

/// A log destination that shows the control characters of a record as escapes
/// ([`beton::safe::log`]): account keys and server answers end up in log lines.
struct Escaping<W>(W);

impl<W: std::io::Write> std::io::Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over whole records; a record is UTF-8 (it is formatted text).
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(beton::safe::log(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The log file, shared by the formatter's writers.
struct Locked(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for Locked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// Logs go to `beton.log` in the data dir; headless runs also print warnings to stderr.
fn init_tracing(global: &cli::args::Global, headless: bool) {
    let file = beton::config::Paths::resolve(global.config.clone(), global.data_dir.clone())
        .ok()
        .and_then(|p| {
            std::fs::create_dir_all(&p.data_dir).ok()?;
            // 0600: the log names accounts and what was sent where.
            beton::secret::open_private_append(&p.log_file()).ok()
        });
    let filter = || EnvFilter::try_from_env("BETON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer = file.map(|f| {
        let f = std::sync::Arc::new(std::sync::Mutex::new(f));
        tracing_subscriber::fmt::layer()
            .with_writer(move || Escaping(Locked(f.clone())))
            .with_ansi(false)
            .with_filter(filter())
    });
    let stderr_layer = headless.then(|| {
        // The fatal error is printed plainly by main; the log line is for the file only.
        let filter = EnvFilter::try_from_env("BETON_LOG")
            .unwrap_or_else(|_| EnvFilter::new("warn"))
            .add_directive("fatal=off".parse().expect("a valid directive"));
        tracing_subscriber::fmt::layer()
            .with_writer(|| Escaping(std::io::stderr()))
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
    });
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
}

fn main() {
    let cli = Cli::parse();
    let interactive = !cli.run_daily && cli.command.is_none();
    // The app needs a terminal; piped, `beton` prints the queue like --run-daily does.
    let tui = interactive && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let _ = if tui {
        tui::install_hooks()
    } else {
        color_eyre::install()
    };
    init_tracing(&cli.global, !tui);
    let result = if cli.run_daily && cli.command.is_some() {
        Err(beton::Error::Usage(
            "--run-daily runs the whole pipeline and takes no command".into(),
        ))
    } else if tui {
        // The app may start on a settings file that does not exist yet: its tuner writes it.
        cli::common::context_creating(&cli.global)
            .and_then(|ctx| Ok((ctx, cli::as_of(&cli.global)?)))
            .and_then(|(ctx, as_of)| tui::run(ctx.paths, ctx.config, as_of))
    } else if interactive {
        cli::first_run(&cli.global)
    } else {
        cli::run(&cli.global, cli.command)
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(target: "fatal", "{e}");
            eprintln!("beton: {}", beton::safe::text(&e.to_string()));
            1
        }
    };
    std::process::exit(code);
}
