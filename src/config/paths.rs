//! Where things live (config file, data dir, database, log) and atomic writes.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `text` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Where things live: resolved once from CLI flags, environment and platform defaults.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// CLI value, else environment variable, else the platform directory from `directories`.
    pub fn resolve(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("dev", "beton", "beton");
        let pick = |cli: Option<PathBuf>, env: &str, fallback: Option<PathBuf>| {
            cli.or_else(|| {
                std::env::var_os(env)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or(fallback)
        };
        let config_file = pick(
            config,
            "BETON_CONFIG",
            dirs.as_ref().map(|d| d.config_dir().join("config.toml")),
        );
        let data_dir = pick(
            data_dir,
            "BETON_DATA",
            dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
        );
        match (config_file, data_dir) {
            (Some(config_file), Some(data_dir)) => Ok(Self { config_file, data_dir }),
            _ => Err(Error::Usage(
                "no home directory found: pass --config and --data-dir (or BETON_CONFIG and BETON_DATA)".into(),
            )),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("workspace.sqlite")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("beton.log")
    }
}
