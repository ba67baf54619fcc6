//! The tuning view: every signal's settings, the tiers, the route threshold and the cooldown,
//! edited in the config file itself (toml_edit keeps its comments), checked as typed with
//! `Config::parse`, saved atomically.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};

use beton::config::{Config, parse_override, set_or_insert};

use super::theme::Theme;

/// One editable setting: its dotted key and its value as TOML.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: String,
    pub value: String,
    /// Differs from the file as it was opened.
    pub changed: bool,
    /// The group it is listed under: "general", "tiers", "score" or a signal's name.
    pub group: String,
    /// What the setting does (the template's comment, or a plain description).
    pub comment: String,
}

#[derive(Debug, Clone)]
pub struct Tuning {
    doc: toml_edit::DocumentMut,
    /// The file's text as opened (or last saved): `x` goes back to it.
    file: String,
    original: Vec<Field>,
    pub fields: Vec<Field>,
    /// The position in `visible()` of the selected field.
    pub selected: usize,
    /// The text being typed for the selected field.
    pub editing: Option<String>,
    /// The `/` search: what is typed; `searching` while keys go to it.
    pub search: String,
    pub searching: bool,
    /// Why the typed value (or the file) is not valid.
    pub error: Option<String>,
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
            file: text.to_string(),
            original: fields.clone(),
            fields,
            selected: 0,
            editing: None,
            search: String::new(),
            searching: false,
            error: None,
        })
    }

    /// The draft differs from the file.
    pub fn dirty(&self) -> bool {
        self.fields.iter().any(|f| f.changed)
    }

    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Indices into `fields` of the settings the search leaves, in order.
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.search.to_lowercase();
        (0..self.fields.len())
            .filter(|&i| {
                let f = &self.fields[i];
                needle.is_empty()
                    || f.key.to_lowercase().contains(&needle)
                    || f.comment.to_lowercase().contains(&needle)
            })
            .collect()
    }

    /// The selected field's index into `fields`.
    pub fn current(&self) -> Option<usize> {
        self.visible().get(self.selected).copied()
    }

    pub fn step(&mut self, delta: isize, _page: usize) {
        let n = self.visible().len();
        if self.editing.is_some() || n == 0 {
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
    }

    /// Selects the field with `key` (clearing a search that hides it).
    pub fn select_key(&mut self, key: &str) {
        if !self.visible().iter().any(|&i| self.fields[i].key == key) {
            self.search.clear();
        }
        if let Some(p) = self
            .visible()
            .iter()
            .position(|&i| self.fields[i].key == key)
        {
            self.selected = p;
        }
    }

    pub fn search_char(&mut self, c: char) {
        self.search.push(c);
        self.selected = 0;
    }

    pub fn search_backspace(&mut self) {
        self.search.pop();
        self.selected = 0;
    }

    /// Starts editing the selected field with its current value.
    pub fn begin(&mut self) {
        if let Some(f) = self.current().map(|i| &self.fields[i]) {
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

    /// Validates what is typed: first a plain range check, then the whole file must still
    /// parse as settings.
    fn check(&mut self) {
        self.error = self.attempt().err();
    }

    fn attempt(&self) -> Result<(toml_edit::DocumentMut, Config), String> {
        let (Some(buf), Some(f)) = (&self.editing, self.current().map(|i| &self.fields[i])) else {
            return Err("nothing is being edited".into());
        };
        self.attempt_value(&f.key, buf)
    }

    fn attempt_value(
        &self,
        key: &str,
        buf: &str,
    ) -> Result<(toml_edit::DocumentMut, Config), String> {
        if let Some(f) = self.fields.iter().find(|f| f.key == key)
            && let Some(why) = plain_check(&f.key, &f.value, buf)
        {
            return Err(format!("{key} {why}"));
        }
        let (_, value) = parse_override(&format!("{key}={buf}")).map_err(|e| e.to_string())?;
        let mut doc = self.doc.clone();
        set_or_insert(&mut doc, key, value)?;
        let cfg = Config::parse(&doc.to_string(), key).map_err(|e| e.to_string())?;
        Ok((doc, cfg))
    }

    /// Applies the typed value when it is valid; returns whether it was.
    pub fn commit(&mut self) -> bool {
        match self.attempt() {
            Ok((doc, cfg)) => {
                self.accept(doc, &cfg);
                true
            }
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    /// Sets `key` to `value` in the draft (the signal view's suggestion) and selects it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let (doc, cfg) = self.attempt_value(key, value)?;
        self.accept(doc, &cfg);
        self.select_key(key);
        Ok(())
    }

    fn accept(&mut self, doc: toml_edit::DocumentMut, cfg: &Config) {
        self.doc = doc;
        self.editing = None;
        self.error = None;
        if let Ok(fields) = fields_of(cfg) {
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
    }

    /// The settings the draft holds.
    pub fn config(&self) -> Result<Config, String> {
        Config::parse(&self.doc.to_string(), "config file").map_err(|e| e.to_string())
    }

    /// `x`: drops the draft, back to the file as opened.
    pub fn drop_draft(&mut self) {
        if let Ok(t) = Self::open(&self.file) {
            let (search, selected) = (std::mem::take(&mut self.search), self.selected);
            *self = t;
            self.search = search;
            self.selected = selected.min(self.visible().len().saturating_sub(1));
        }
    }
}

/// A plain-words range check of `typed` for `key`, whose current value is `current`; `None` when
/// it passes (the TOML and settings checks still follow).
pub fn plain_check(key: &str, current: &str, typed: &str) -> Option<String> {
    let typed = typed.trim();
    let leaf = key.rsplit('.').next().unwrap_or(key);
    if current == "true" || current == "false" {
        return (typed != "true" && typed != "false").then(|| "must be true or false".into());
    }
    let is_int = current.parse::<i64>().is_ok();
    let is_float = !is_int && current.parse::<f64>().is_ok();
    let (lo, hi, what): (i64, i64, &str) = match leaf {
        "window_days" | "days_ahead" => (1, 3650, "days"),
        "lookback_days" => (0, 3650, "days"),
        "base" | "route_threshold" | "hot" | "warm" | "cap" | "bonus_per_type" | "bonus_cap" => {
            (0, 100, "points")
        }
        "cooldown_days" => (0, 3650, "days"),
        l if l.starts_with("min_") => (1, i64::MAX, ""),
        _ => (0, i64::MAX, ""),
    };
    let range = |what: &str| match (lo, hi) {
        (lo, i64::MAX) => format!("must be a whole number ≥ {lo}"),
        (lo, hi) if what.is_empty() => format!("must be a whole number from {lo} to {hi}"),
        (lo, hi) => format!("must be a whole number of {what} from {lo} to {hi}"),
    };
    if is_int {
        return match typed.parse::<i64>() {
            Ok(v) if v >= lo && v <= hi => None,
            _ => Some(range(what)),
        };
    }
    if is_float {
        let lower = match leaf {
            "min_ratio" => "a number > 0 (0.8 = 80 % of the limit)",
            "min_growth" => "a number ≥ 0 (0.5 = 50 % more than the window before)",
            _ => "a number ≥ 0",
        };
        return match typed.parse::<f64>() {
            Ok(v) if v.is_finite() && (v > 0.0 || (v == 0.0 && leaf != "min_ratio")) => None,
            _ => Some(format!("must be {lower}")),
        };
    }
    None
}

/// The editable settings of `cfg`, as TOML values.
fn fields_of(cfg: &Config) -> Result<Vec<Field>, String> {
    let text = toml::to_string(cfg).map_err(|e| e.to_string())?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let mut out = Vec::new();
    let mut push = |key: String, group: &str, item: &toml_edit::Item| {
        if let Some(v) = item.as_value() {
            out.push(Field {
                comment: comment_of(&key),
                key,
                value: v.to_string().trim().to_string(),
                changed: false,
                group: group.to_string(),
            });
        }
    };
    for k in TOP {
        if let Some(item) = doc.get(k) {
            push(k.to_string(), "general", item);
        }
    }
    for s in SECTIONS {
        if let Some(t) = doc.get(s).and_then(|i| i.as_table()) {
            for (k, item) in t.iter() {
                push(format!("{s}.{k}"), s, item);
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
                push(format!("signals.{name}.{k}"), name, item);
            }
        }
    }
    Ok(out)
}

/// The comment the template gives `key` (the lines just above it, or after it on its line),
/// else a plain description of its leaf name.
pub fn comment_of(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    let from_template = template().and_then(|doc| {
        let (leaf, parents) = parts.split_last()?;
        let mut table = doc.as_table();
        for p in parents {
            table = table.get(p)?.as_table()?;
        }
        // A signal's first key carries the comment of the whole signal (its group's).
        if parts[0] == "signals" && table.iter().next().is_some_and(|(k, _)| k == *leaf) {
            return None;
        }
        let k = table.key(leaf)?;
        let text = k
            .leaf_decor()
            .prefix()
            .and_then(|p| p.as_str())
            .map(comment_text)
            .filter(|c| !c.is_empty())
            .or_else(|| {
                let v = table.get(leaf)?.as_value()?;
                v.decor()
                    .suffix()
                    .and_then(|s| s.as_str())
                    .map(comment_text)
            })?;
        (!text.is_empty()).then_some(text)
    });
    from_template.unwrap_or_else(|| {
        match parts.last().copied().unwrap_or("") {
            "enabled" => "true or false: a disabled signal never fires and scores nothing",
            "base" => "points the signal adds to the score when it fires",
            "window_days" => "the days before T whose events the signal counts",
            "lookback_days" => "the days before the window that count as \"before\"",
            "min_count" => "events in the window needed to fire",
            "min_baseline" => "events needed in the window before, so a spike is not from nothing",
            "min_growth" => "growth over the window before needed to fire (0.5 = +50 %)",
            "url_patterns" => "parts of $current_url that make a pageview a pricing view",
            "min_new_features" => "features new to the account needed in the window",
            "min_ratio" => "used / limit above which it fires (0.8 = 80 %)",
            "pairs" => "account property pairs [used, limit]",
            "days_ahead" => "days after T within which the trial end must fall",
            "min_activity" => "activity events in the window the account must have",
            "property" => "the account property holding the trial's end",
            "min_new_users" => "users new to the account needed in the window",
            "events" => "event names that count (a trailing * matches a prefix)",
            _ => "",
        }
        .to_string()
    })
}

/// The text of a run of `#` comment lines, joined; blank lines and other text dropped.
fn comment_text(raw: &str) -> String {
    raw.lines()
        .filter_map(|l| l.trim().strip_prefix('#'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn template() -> Option<&'static toml_edit::DocumentMut> {
    use std::sync::OnceLock;
    static DOC: OnceLock<Option<toml_edit::DocumentMut>> = OnceLock::new();
    DOC.get_or_init(|| beton::config::TEMPLATE.parse().ok())
        .as_ref()
}

/// What a group of settings is: a signal's rule (the comment the template puts at the head of
/// its table), the score formula, or a plain description.
pub fn group_comment(group: &str) -> String {
    let head = |t: &toml_edit::Table| {
        let first = t.iter().next()?.0.to_string();
        let text = t
            .key(&first)?
            .leaf_decor()
            .prefix()
            .and_then(|p| p.as_str())
            .map(comment_text)?;
        (!text.is_empty()).then_some(text)
    };
    let from_template = template().and_then(|d| match group {
        "general" | "tiers" => None,
        "score" => head(d.get("score")?.as_table()?),
        s => head(d.get("signals")?.get(s)?.as_table()?),
    });
    match group {
        "general" => "routing and the cooldown of emitted signals".into(),
        "tiers" => "the scores where Hot and Warm begin".into(),
        _ => from_template.unwrap_or_else(|| format!("the {group} signal")),
    }
}

/// The lines of the list: a header per group, then its settings; `Some(i)` marks the line of
/// `visible()[i]`.
fn lines_of(t: &Tuning) -> Vec<(Option<usize>, String)> {
    let mut out = Vec::new();
    let mut group = "";
    for (pos, &i) in t.visible().iter().enumerate() {
        let f = &t.fields[i];
        if f.group != group {
            group = &f.group;
            out.push((None, f.group.clone()));
        }
        out.push((Some(pos), f.key.clone()));
    }
    out
}

pub fn render(f: &mut Frame, area: Rect, t: &Tuning, theme: &Theme, path: &str) {
    let [list, edit] = Layout::vertical([Constraint::Min(3), Constraint::Length(5)]).areas(area);
    let page = usize::from(list.height.saturating_sub(3)).max(1);
    let lines = lines_of(t);
    let at = lines
        .iter()
        .position(|(p, _)| *p == Some(t.selected))
        .unwrap_or(0);
    // Keep the selection on screen, with its group header when it fits.
    let start = if at < page { 0 } else { at + 1 - page };
    let visible = t.visible();
    let key_w = if area.width >= 120 { 44 } else { 36 };
    let rows = lines.iter().skip(start).take(page).map(|(pos, text)| {
        let Some(pos) = pos else {
            return Row::new(vec![
                format!("▸ {text}"),
                group_comment(text),
                String::new(),
            ])
            .style(theme.header());
        };
        let fld = &t.fields[visible[*pos]];
        let style = if *pos == t.selected {
            theme.selected()
        } else {
            ratatui::style::Style::new()
        };
        let value = match (&t.editing, *pos == t.selected) {
            (Some(buf), true) => format!("{buf}▏"),
            _ => fld.value.clone(),
        };
        let value = super::ui::safe(&value);
        let name = fld
            .key
            .strip_prefix(&format!("signals.{}.", fld.group))
            .or_else(|| fld.key.strip_prefix(&format!("{}.", fld.group)))
            .unwrap_or(&fld.key);
        Row::new(vec![
            format!("  {name}"),
            value,
            if fld.changed {
                "draft".into()
            } else {
                String::new()
            },
        ])
        .style(style)
    });
    let search = if t.searching || !t.search.is_empty() {
        format!(
            " · /{}{} · {} of {}",
            t.search,
            if t.searching { "▏" } else { "" },
            visible.len(),
            t.fields.len()
        )
    } else {
        String::new()
    };
    let title = format!(
        " Tune: {path}{}{search} ",
        if t.dirty() {
            " · draft (not applied)"
        } else {
            ""
        }
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(key_w),
            Constraint::Fill(1),
            Constraint::Length(6),
        ],
    )
    .header(Row::new(vec!["setting", "value", ""]).style(theme.header()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(super::ui::safe(&title), theme.title())),
    );
    f.render_widget(table, list);
    let mut lines = vec![];
    if let Some(fld) = t.current().map(|i| &t.fields[i]) {
        lines.push(Line::from(vec![
            Span::styled(format!("{}: ", fld.key), theme.header()),
            Span::raw(if fld.comment.is_empty() {
                "(no description)".to_string()
            } else {
                fld.comment.clone()
            }),
        ]));
    } else {
        lines.push(Line::from("no setting matches the search"));
    }
    match (&t.editing, &t.error) {
        (Some(_), Some(e)) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error()))),
        (Some(_), None) => lines.push(Line::from(Span::styled(
            "✓ valid: Enter keeps it in the draft, Esc drops it",
            theme.good(),
        ))),
        (None, Some(e)) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error()))),
        (None, None) if t.searching => lines.push(Line::from(
            "search: type to narrow the settings, Enter keeps the search, Esc clears it",
        )),
        (None, None) => lines.push(Line::from(
            "Enter edits the selected value; values are TOML (4, 0.6, true, [\"/pricing\"]).",
        )),
    }
    lines.push(Line::from(Span::styled(
        "↑↓ select · / search · Enter edit · r try the draft (what-if) · w apply to the file · x drop the draft · Esc close",
        theme.dim(),
    )));
    f.render_widget(
        Paragraph::new(super::ui::safe_lines(lines))
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::TOP)),
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
        t.select_key("route_threshold");
        t.begin();
        t.backspace();
        t.backspace();
        for c in "500".chars() {
            t.type_char(c);
        }
        assert!(
            t.error.as_deref().is_some_and(
                |e| e == "route_threshold must be a whole number of points from 0 to 100"
            ),
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

        t.select_key("signals.pricing_intent.min_count");
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

    #[test]
    fn plain_checks_come_before_the_toml_error() {
        let check = |key, cur, typed| plain_check(key, cur, typed);
        assert_eq!(
            check("signals.pricing_intent.min_count", "2", "0").as_deref(),
            Some("must be a whole number ≥ 1")
        );
        assert_eq!(
            check("signals.pricing_intent.min_count", "2", "-3").as_deref(),
            Some("must be a whole number ≥ 1")
        );
        assert_eq!(check("signals.pricing_intent.min_count", "2", "4"), None);
        assert_eq!(
            check("signals.usage_spike.window_days", "7", "0").as_deref(),
            Some("must be a whole number of days from 1 to 3650")
        );
        assert_eq!(
            check("signals.usage_spike.enabled", "true", "yes").as_deref(),
            Some("must be true or false")
        );
        assert!(
            check("signals.limit_approaching.min_ratio", "0.8", "0")
                .is_some_and(|e| e.starts_with("must be a number > 0"))
        );
        assert_eq!(check("signals.usage_spike.min_growth", "0.5", "1.5"), None);
        let mut t = Tuning::open(beton::config::TEMPLATE).unwrap();
        t.select_key("signals.team_growth.min_new_users");
        t.begin();
        t.backspace();
        t.type_char('x');
        assert_eq!(
            t.error.as_deref(),
            Some("signals.team_growth.min_new_users must be a whole number ≥ 1"),
            "the plain message, not serde's"
        );
    }

    #[test]
    fn search_groups_and_comments() {
        let mut t = Tuning::open(beton::config::TEMPLATE).unwrap();
        let all = t.visible().len();
        for c in "pricing".chars() {
            t.search_char(c);
        }
        let keys: Vec<&str> = t
            .visible()
            .iter()
            .map(|&i| t.fields[i].key.as_str())
            .collect();
        assert!(keys.len() < all && !keys.is_empty(), "{keys:?}");
        assert!(
            keys.iter()
                .all(|k| k.starts_with("signals.pricing_intent.")),
            "{keys:?}"
        );
        let f = &t.fields[t.current().unwrap()];
        assert_eq!(f.group, "pricing_intent");
        assert!(
            group_comment("pricing_intent").starts_with("Pricing page views"),
            "{}",
            group_comment("pricing_intent")
        );
        assert_eq!(
            comment_of("route_threshold"),
            "Score at or above which an account becomes a CRM candidate."
        );
        assert_eq!(
            comment_of("signals.pricing_intent.enabled"),
            "true or false: a disabled signal never fires and scores nothing",
            "a signal's head comment belongs to the group"
        );
        // The search finds comments too: "CRM" is only in route_threshold's comment.
        t.search.clear();
        for c in "crm candidate".chars() {
            t.search_char(c);
        }
        assert_eq!(t.visible().len(), 1);
        assert!(t.set("route_threshold", "45").is_ok());
        assert!(t.dirty());
        t.drop_draft();
        assert!(!t.dirty(), "x goes back to the file");
    }
}
