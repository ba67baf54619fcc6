//! The core's error type: every message names the file, line, key or step it is about.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    #[error("{path}: {}", io_cause(.source))]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("workspace database{}: {}", workspace_named(), sql_cause(.0))]
    Sql(#[from] rusqlite::Error),
    #[error("workspace database: {0}")]
    Damaged(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NoData(String),
    #[error("another beton run is using this workspace ({0}); try again when it has finished")]
    Busy(String),
    #[error("cancelled")]
    Cancelled,
    #[error("Attio: {0}")]
    Attio(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The workspace file this process opened last, named by database errors (one process works on
/// one workspace).
static WORKSPACE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

pub(crate) fn set_workspace(path: &Path) {
    if let Ok(mut w) = WORKSPACE.lock() {
        *w = Some(path.display().to_string());
    }
}

fn workspace_named() -> String {
    WORKSPACE
        .lock()
        .ok()
        .and_then(|w| w.clone())
        .map(|p| format!(" {p}"))
        .unwrap_or_default()
}

/// An I/O error's cause in words a user can act on, with the system's own words after it.
fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let why = match e.kind() {
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::PermissionDenied => "permission denied (your user cannot read or write here)",
        K::StorageFull => "the disk is full",
        K::FileTooLarge => "the file would exceed the size limit of this system (ulimit -f)",
        K::NotADirectory => "part of the path is a file, not a directory",
        K::IsADirectory => "this is a directory, not a file",
        K::NotFound => "no such file or directory",
        K::InvalidData => "not UTF-8 text",
        _ => return e.to_string(),
    };
    format!("{why} ({e})")
}

/// A SQLite error in words a user can act on.
fn sql_cause(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return e.to_string();
    };
    let why = match f.code {
        C::DatabaseBusy | C::DatabaseLocked => {
            return "an import is running in this workspace (it holds the file while it writes); \
                    try again when it has finished"
                .into();
        }
        C::ReadOnly => "cannot write: the file or its data dir is read-only or not writable by you",
        C::DiskFull => {
            "the disk is full (or a file size limit was reached); nothing of this write was kept: free space and run again"
        }
        C::SystemIoFailure => {
            "a read or write of the file failed (a full disk, a file size limit or a failing disk); nothing of this write was kept"
        }
        C::CannotOpen => "cannot open the file: check that the data dir exists and is writable",
        C::NotADatabase => "this file is not a Beton workspace (not an SQLite database)",
        C::DatabaseCorrupt => "the file is damaged",
        _ => return e.to_string(),
    };
    format!("{why} ({e})")
}

/// Creates a directory and its parents; a file where a directory should be is named as such.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: this is a file, not a directory; the data dir (BETON_DATA or --data-dir) must be a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}
