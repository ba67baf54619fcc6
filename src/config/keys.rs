//! Dotted keys in the TOML text: `--set KEY=VALUE` overrides and where a key is set.

use crate::error::{Error, Result};

use super::SIGNAL_NAMES;

/// Splits `key=value` into a full key path and a TOML value.
pub fn parse_override(set: &str) -> Result<(String, toml_edit::Value)> {
    let bad = |message: String| Error::Config {
        origin: format!("--set {set}"),
        message,
    };
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, e.g. pricing_intent.min_count=4".into()))?;
    let key = key.trim();
    let key = if SIGNAL_NAMES
        .iter()
        .any(|n| key.split('.').next() == Some(n))
    {
        format!("signals.{key}")
    } else {
        key.to_string()
    };
    let raw = raw.trim();
    let value = raw
        .parse::<toml_edit::Value>()
        .unwrap_or_else(|_| toml_edit::Value::from(raw));
    Ok((key, value))
}

/// Sets a dotted key in a document, refusing keys that do not exist already.
pub fn set_path(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    value: toml_edit::Value,
) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or("empty key")?;
    let mut item = doc.as_item_mut();
    for p in parents {
        item = item
            .get_mut(p)
            .filter(|i| i.is_table_like())
            .ok_or_else(|| format!("unknown setting `{key}`"))?;
    }
    let table = item
        .as_table_like_mut()
        .ok_or_else(|| format!("unknown setting `{key}`"))?;
    match table.get_mut(last) {
        Some(slot) if slot.is_value() => {
            let decor = slot.as_value().map(|v| v.decor().clone());
            let mut value = value;
            if let Some(decor) = decor {
                *value.decor_mut() = decor;
            }
            *slot = toml_edit::Item::Value(value);
            Ok(())
        }
        _ => Err(format!("unknown setting `{key}`")),
    }
}

/// The 1-based line where a dotted key is set in `text`, if it is.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let span = item.span()?;
    Some(text[..span.start].matches('\n').count() + 1)
}

/// Sets a dotted key, adding it (and its tables) when the file does not have it yet.
pub fn set_or_insert(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    value: toml_edit::Value,
) -> Result<(), String> {
    if set_path(doc, key, value.clone()).is_ok() {
        return Ok(());
    }
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or("empty key")?;
    let mut item = doc.as_item_mut();
    for p in parents {
        let table = item
            .as_table_like_mut()
            .ok_or_else(|| format!("`{key}`: `{p}` is not under a table"))?;
        if table.get(p).is_none() {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            table.insert(p, toml_edit::Item::Table(t));
        }
        item = table
            .get_mut(p)
            .ok_or_else(|| format!("`{key}`: cannot add `{p}`"))?;
    }
    let table = item
        .as_table_like_mut()
        .ok_or_else(|| format!("`{key}` is not under a table in the file"))?;
    table.insert(last, toml_edit::Item::Value(value));
    Ok(())
}

/// Applies `sets` (`KEY=VALUE`, as `--set` takes them) to the settings file at `path`, keeping
/// its comments and layout, and writes it atomically; the result must still parse as settings,
/// or nothing is written. A missing file starts empty. Returns the new settings.
pub fn write_overrides(path: &std::path::Path, sets: &[String]) -> Result<super::Config> {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Config {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
    for set in sets {
        let (key, value) = parse_override(set)?;
        set_or_insert(&mut doc, &key, value).map_err(|message| Error::Config {
            origin: format!("{origin}: {set}"),
            message,
        })?;
    }
    let out = doc.to_string();
    let cfg = super::Config::parse(&out, &origin)?;
    super::write_atomic(path, &out)?;
    Ok(cfg)
}
