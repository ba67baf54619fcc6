//! The core's error type: every message names the file, line, key or step it is about.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("workspace database: {0}")]
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
