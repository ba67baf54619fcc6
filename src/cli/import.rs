//! `beton init`, `beton import` and `beton demo`: settings and data into the workspace.

use std::io::Write;

use beton::config::{Paths, TEMPLATE, write_atomic};
use beton::demo::{DemoOptions, FileSink};
use beton::import::{Format, ImportReport, Input};
use beton::store::Store;
use beton::time::fmt_ts;
use beton::{Error, Result};

use super::args::{FormatArg, Global, ImportKind};
use super::common::{Bar, Exit, as_of, context};

pub fn init(g: &Global, force: bool) -> Result<Exit> {
    let paths = Paths::resolve(g.config.clone(), g.data_dir.clone())?;
    if paths.config_file.exists() && !force {
        return Err(Error::Usage(format!(
            "{} exists already; pass --force to replace it with the defaults",
            paths.config_file.display()
        )));
    }
    write_atomic(&paths.config_file, TEMPLATE)?;
    out!("wrote {}", paths.config_file.display());
    Ok(0)
}

pub fn import(g: &Global, kind: ImportKind, file: &str, format: Option<FormatArg>) -> Result<Exit> {
    let ctx = context(g)?;
    let _lock = beton::store::RunLock::acquire(&ctx.paths.data_dir, beton::pipeline::LOCK_WAIT)?;
    let store = ctx.open_store()?;
    let input = Input::open(file)?;
    let format = format
        .map(|f| match f {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        })
        .or_else(|| Format::from_path(file));
    let report = match kind {
        ImportKind::Events => {
            big_buffers_back_on_free();
            let bar = Bar::bytes(input.size);
            let r = beton::import::import_events(&store, &ctx.config, input, format, &bar);
            bar.done();
            r?
        }
        ImportKind::Accounts => beton::import::import_accounts(&store, &ctx.config, input)?,
        ImportKind::Deals => beton::import::import_deals(&store, &ctx.config, input, format)?,
        ImportKind::Feedback => beton::import::import_feedback(&store, input)?,
    };
    print_import(&report, g.json);
    Ok(if report.skipped > 0 { 2 } else { 0 })
}

/// An event import allocates and frees many buffers of 128 KiB to a few MiB on several threads
/// (chunks' parsed events, batches, event blocks, growing uuid arrays). glibc's malloc raises its
/// mmap threshold to the largest such buffer freed (up to 32 MiB), after which they come from its
/// heaps, where what they leave free stays resident: a fixed threshold at its usual start, 128
/// KiB, hands each back to the system when it is freed. The 10 M-event import's peak: 320 →
/// 243 MiB, for about 2 s more system CPU (docs/PERFORMANCE.md). Other allocators: nothing.
fn big_buffers_back_on_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of malloc's tuning values; it takes malloc's own locks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn print_import(r: &ImportReport, json: bool) {
    if json {
        out!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    let rate = if r.seconds > 0.0 {
        r.rows as f64 / r.seconds
    } else {
        0.0
    };
    let updated = if r.updated > 0 {
        format!(", {} updated (already stored; replaced)", r.updated)
    } else {
        String::new()
    };
    out!(
        "{}: {} rows, {} imported{updated}, {} duplicates, {} skipped ({:.1} s, {:.0} rows/s)",
        r.file,
        r.rows,
        r.imported,
        r.duplicates,
        r.skipped,
        r.seconds,
        rate
    );
    if r.without_account > 0 {
        out!(
            "  {} events without an account (no $groups entry for the group type) were ignored",
            r.without_account
        );
    }
    let mut err = std::io::stderr().lock();
    let shown = |s: &str| beton::safe::line(s).into_owned();
    for e in &r.errors {
        let _ = writeln!(err, "{}:{}: {}", shown(&r.file), e.line, shown(&e.reason));
    }
    if r.skipped as usize > r.errors.len() {
        let _ = writeln!(
            err,
            "… and {} more skipped rows; by reason:",
            r.skipped as usize - r.errors.len()
        );
        for (reason, n) in &r.skipped_by_reason {
            let _ = writeln!(err, "  {n} × {}", shown(reason));
        }
    }
}

pub struct DemoArgs {
    pub accounts: u32,
    pub days: u32,
    pub seed: u64,
    pub activity_scale: f64,
}

pub fn demo(g: &Global, a: DemoArgs, out: Option<std::path::PathBuf>, force: bool) -> Result<Exit> {
    let ctx = context(g)?;
    if !(a.activity_scale.is_finite() && a.activity_scale > 0.0) {
        return Err(Error::Usage(
            "--activity-scale must be a number above 0".into(),
        ));
    }
    let days = a.days;
    let opts = DemoOptions {
        accounts: a.accounts,
        days: a.days,
        seed: a.seed,
        as_of: as_of(g)?.unwrap_or_else(beton::time::now),
        activity_scale: a.activity_scale,
    };
    let bar = Bar::counting(u64::from(a.days), "days");
    if let Some(dir) = out {
        let mut sink = FileSink::create(&dir, &ctx.config.group_type)?;
        let s = beton::demo::generate(&opts, &mut sink, &bar)?;
        sink.finish()?;
        bar.done();
        out!(
            "wrote {} accounts, {} events, {} deals to {} (accounts.jsonl, events.jsonl, deals.csv)",
            s.accounts,
            s.events,
            s.deals,
            dir.display()
        );
        return Ok(0);
    }
    let _lock = beton::store::RunLock::acquire(&ctx.paths.data_dir, beton::pipeline::LOCK_WAIT)?;
    let db = ctx.paths.database();
    let existing = Store::open(&db)?;
    if !existing.is_empty()? {
        // A demo nothing was imported into is replaced as asked; anything else needs --force.
        if !force && !beton::demo::untouched(&existing)? {
            return Err(Error::Usage(format!(
                "the workspace {} holds data already (not an untouched DEMO workspace); pass --force to replace it with the demo, or --data-dir for another one",
                ctx.paths.data_dir.display()
            )));
        }
        drop(existing);
        remove_workspace(&db)?;
    }
    let store = Store::open(&db)?;
    let s = beton::demo::create(&store, &ctx.config, &opts, &bar)?;
    bar.done();
    out!(
        "created a DEMO workspace in {}: {} accounts, {} events, {} deals over {} days to {}",
        ctx.paths.data_dir.display(),
        s.accounts,
        s.events,
        s.deals,
        days,
        fmt_ts(opts.as_of)
    );
    Ok(0)
}

fn remove_workspace(db: &std::path::Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Ok(())
}
