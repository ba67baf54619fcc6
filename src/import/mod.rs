//! Imports of SPEC §1: events (JSONL or CSV), the accounts snapshot (JSONL) and deals (CSV or
//! JSONL), and reps' dispositions (CSV, SPEC §10). A bad row is skipped and reported with its line; the good rows of a file are stored
//! in one transaction.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::store::{DealRow, Ingest, Store};
use crate::time::parse_ts;

mod accounts;
mod deals;
mod events;
mod feedback;
mod read;

pub use accounts::import_accounts;
pub use deals::import_deals;
pub use events::import_events;
pub use feedback::import_feedback;
pub use read::{Input, SkipBom};
use read::{bad_json, buffered, check_format, for_csv_rows, for_jsonl_lines, plain};

/// How many bad rows a report lists one by one (all are counted).
pub const LISTED_ERRORS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// By extension; `None` when the name says nothing (stdin, or no known extension).
    pub fn from_path(path: &str) -> Option<Self> {
        let lower = path.to_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Events,
    Accounts,
    Deals,
    Feedback,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub kind: Kind,
    pub format: Format,
    pub rows: u64,
    pub imported: u64,
    /// Accounts and deals whose key was already stored (by an earlier import or an earlier row
    /// of this file): the row replaced it, so it is not counted as imported.
    pub updated: u64,
    pub duplicates: u64,
    pub without_account: u64,
    pub skipped: u64,
    /// Skipped rows by reason (the reason's first words).
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// The first bad rows, with line numbers.
    pub errors: Vec<BadRow>,
    pub seconds: f64,
}

impl ImportReport {
    fn new(file: &str, kind: Kind, format: Format) -> Self {
        Self {
            file: file.to_string(),
            kind,
            format,
            rows: 0,
            imported: 0,
            updated: 0,
            duplicates: 0,
            without_account: 0,
            skipped: 0,
            skipped_by_reason: BTreeMap::new(),
            errors: Vec::new(),
            seconds: 0.0,
        }
    }

    fn bad(&mut self, line: u64, reason: String) {
        self.skipped += 1;
        let key = reason.split(':').next().unwrap_or(&reason).to_string();
        *self.skipped_by_reason.entry(key).or_default() += 1;
        if self.errors.len() < LISTED_ERRORS {
            self.errors.push(BadRow { line, reason });
        }
    }
}
