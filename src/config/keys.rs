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
