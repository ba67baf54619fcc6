//! The tuning view: every signal's settings, the tiers, the route threshold and the cooldown,
//! edited in the config file itself (toml_edit keeps its comments), checked as typed with
//! `Config::parse`, saved atomically.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use beton::config::{Config, parse_override, set_path};

use super::theme::Theme;

/// One editable setting: its dotted key and its value as TOML.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: String,
    pub value: String,
    /// Differs from the file as it was opened.
    pub changed: bool,
}

#[derive(Debug, Clone)]
pub struct Tuning {
    doc: toml_edit::DocumentMut,
    original: Vec<Field>,
    pub fields: Vec<Field>,
    pub selected: usize,
    pub offset: usize,
    /// The text being typed for the selected field.
    pub editing: Option<String>,
    /// Why the typed value (or the file) is not valid.
    pub error: Option<String>,
    /// The next Esc discards unsaved changes.
    pub confirm_discard: bool,
}

/// Top-level keys and sections the view offers, in order.
const TOP: [&str; 2] = ["route_threshold", "cooldown_days"];
const SECTIONS: [&str; 2] = ["tiers", "score"];

impl Tuning {
    /// Opens the file's text; fails when it does not parse as TOML or as settings.
    pub fn open(text: &str) -> Result<Self, String> {
        let doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| e.to_string())?;
        let cfg = Config::parse(text, "config file").map_err(|e| e.to_string())?;
        let fields = fields_of(&cfg)?;
        Ok(Self {
            doc,
            original: fields.clone(),
            fields,
            selected: 0,
            offset: 0,
            editing: None,
            error: None,
            confirm_discard: false,
        })
    }

    pub fn dirty(&self) -> bool {
        self.fields.iter().any(|f| f.changed)
    }

    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    pub fn step(&mut self, delta: isize, page: usize) {
        if self.editing.is_some() || self.fields.is_empty() {
            return;
        }
        self.selected = self
            .selected
            .saturating_add_signed(delta)
            .min(self.fields.len() - 1);
        let page = page.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
    }

    /// Starts editing the selected field with its current value.
    pub fn begin(&mut self) {
        if let Some(f) = self.fields.get(self.selected) {
            self.editing = Some(f.value.clone());
            self.error = None;
        }
    }

    pub fn type_char(&mut self, c: char) {
        if let Some(b) = &mut self.editing {
            b.push(c);
        }
        self.check();
    }

    pub fn backspace(&mut self) {
        if let Some(b) = &mut self.editing {
            b.pop();
        }
        self.check();
    }

    pub fn cancel_edit(&mut self) {
        self.editing = None;
        self.error = None;
    }

    /// Validates what is typed: the whole file must still parse as settings.
    fn check(&mut self) {
        self.error = self.attempt().err();
    }

    fn attempt(&self) -> Result<(toml_edit::DocumentMut, Config), String> {
        let (Some(buf), Some(f)) = (&self.editing, self.fields.get(self.selected)) else {
            return Err("nothing is being edited".into());
        };
        let (_, value) =
            parse_override(&format!("{}={}", f.key, buf)).map_err(|e| e.to_string())?;
        let mut doc = self.doc.clone();
        set_or_insert(&mut doc, &f.key, value)?;
        let cfg = Config::parse(&doc.to_string(), &f.key).map_err(|e| e.to_string())?;
        Ok((doc, cfg))
    }

    /// Applies the typed value when it is valid; returns whether it was.
    pub fn commit(&mut self) -> bool {
        match self.attempt() {
            Ok((doc, cfg)) => {
                self.doc = doc;
                self.editing = None;
                self.error = None;
                if let Ok(fields) = fields_of(&cfg) {
                    self.fields = fields
                        .into_iter()
                        .map(|mut f| {
                            f.changed = self
                                .original
                                .iter()
                                .any(|o| o.key == f.key && o.value != f.value);
                            f
                        })
                        .collect();
                }
                true
            }
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    /// The settings the file now holds.
    pub fn config(&self) -> Result<Config, String> {
        Config::parse(&self.doc.to_string(), "config file").map_err(|e| e.to_string())
    }

    /// After a save: what is in the file is the new baseline.
    pub fn saved(&mut self) {
        for f in &mut self.fields {
            f.changed = false;
        }
        self.original = self.fields.clone();
        self.confirm_discard = false;
    }
}

/// The editable settings of `cfg`, as TOML values.
fn fields_of(cfg: &Config) -> Result<Vec<Field>, String> {
    let text = toml::to_string(cfg).map_err(|e| e.to_string())?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let mut out = Vec::new();
    let mut push = |key: String, item: &toml_edit::Item| {
        if let Some(v) = item.as_value() {
            out.push(Field {
                key,
                value: v.to_string().trim().to_string(),
                changed: false,
            });
        }
    };
    for k in TOP {
        if let Some(item) = doc.get(k) {
            push(k.to_string(), item);
        }
    }
    for s in SECTIONS {
        if let Some(t) = doc.get(s).and_then(|i| i.as_table()) {
            for (k, item) in t.iter() {
                push(format!("{s}.{k}"), item);
            }
        }
    }
    for name in beton::config::SIGNAL_NAMES {
        if let Some(t) = doc
            .get("signals")
            .and_then(|s| s.get(name))
            .and_then(|i| i.as_table())
        {
            for (k, item) in t.iter() {
                push(format!("signals.{name}.{k}"), item);
            }
        }
    }
    Ok(out)
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

pub fn render(f: &mut Frame, area: Rect, t: &Tuning, theme: &Theme, path: &str) {
    let [list, edit] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
    let page = usize::from(list.height.saturating_sub(3));
    let rows = t
        .fields
        .iter()
        .enumerate()
        .skip(t.offset)
        .take(page)
        .map(|(i, fld)| {
            let style = if i == t.selected {
                theme.selected()
            } else {
                ratatui::style::Style::new()
            };
            let value = match (&t.editing, i == t.selected) {
                (Some(buf), true) => format!("{buf}▏"),
                _ => fld.value.clone(),
            };
            Row::new(vec![
                fld.key.clone(),
                value,
                if fld.changed {
                    "changed".into()
                } else {
                    String::new()
                },
            ])
            .style(style)
        });
    let title = format!(
        " Tune: {path}{} ",
        if t.dirty() { " (unsaved)" } else { "" }
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(44),
            Constraint::Fill(1),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(vec!["setting", "value", ""]).style(theme.header()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(title, theme.title())),
    );
    f.render_widget(table, list);
    let mut lines = vec![];
    match (&t.editing, &t.error) {
        (Some(_), Some(e)) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error()))),
        (Some(_), None) => lines.push(Line::from(Span::styled(
            "✓ valid: Enter keeps it, Esc drops it",
            theme.good(),
        ))),
        (None, Some(e)) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error()))),
        (None, None) if t.confirm_discard => lines.push(Line::from(Span::styled(
            "unsaved changes: w saves, Esc again discards them",
            theme.error(),
        ))),
        (None, None) => lines.push(Line::from(
            "Enter edits the selected value; values are TOML (4, 0.6, true, [\"/pricing\"]).",
        )),
    }
    lines.push(Line::from(Span::styled(
        "↑↓ select · Enter edit/keep · Esc cancel/close · w save (keeps comments) · then r re-runs",
        theme.dim(),
    )));
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP)),
        edit,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_reject_bad_values() {
        let text = "# mine\nroute_threshold = 60 # routing\n";
        let mut t = Tuning::open(text).unwrap();
        t.selected = t
            .fields
            .iter()
            .position(|f| f.key == "route_threshold")
            .unwrap();
        t.begin();
        t.backspace();
        t.backspace();
        for c in "500".chars() {
            t.type_char(c);
        }
        assert!(
            t.error
                .as_deref()
                .is_some_and(|e| e.contains("at most 100")),
            "{:?}",
            t.error
        );
        assert!(!t.commit());
        t.begin();
        t.backspace();
        t.type_char('5');
        assert_eq!(t.error, None);
        assert!(t.commit());
        let out = t.text();
        assert!(
            out.contains("# mine") && out.contains("route_threshold = 65 # routing"),
            "{out}"
        );
        assert!(t.dirty());

        let k = t
            .fields
            .iter()
            .position(|f| f.key == "signals.pricing_intent.min_count")
            .unwrap();
        t.selected = k;
        t.begin();
        t.backspace();
        t.type_char('4');
        assert!(t.commit(), "{:?}", t.error);
        assert_eq!(t.config().unwrap().signals.pricing_intent.min_count, 4);
        assert!(
            t.text().contains("[signals.pricing_intent]"),
            "{}",
            t.text()
        );
    }
}
