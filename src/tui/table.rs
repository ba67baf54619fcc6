//! The table model every pane shares: cells with their text, sort key and tone, and per pane a
//! grid state (filter, sort column, selection, scroll) that `update` keeps and render reads.

use beton::signals::Tier;

/// How a cell is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Tier(Tier),
    Status,
    Bar,
    Dim,
}

/// A number as data: `19000`, `0.17`, `-0.5` (no separators, no units, shortest exact form).
pub fn raw_number(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// How a column sorts.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub key: Key,
    pub tone: Tone,
    /// What `e` exports when it differs from the text: the raw value (19000, 0.17, the full
    /// signal names, the daily counts), never a display string or glyphs.
    pub raw: Option<String>,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        let text = s.into();
        Self {
            key: Key::Text(text.to_lowercase()),
            text,
            tone: Tone::Plain,
            raw: None,
        }
    }

    /// A cell that sorts by `value` and exports its text (dates, names).
    pub fn num(text: impl Into<String>, value: f64) -> Self {
        Self {
            text: text.into(),
            key: Key::Num(value),
            tone: Tone::Plain,
            raw: None,
        }
    }

    /// A number shown as `text` ("19,000", "17.0 %") that sorts and exports as `value`.
    pub fn value(text: impl Into<String>, value: f64) -> Self {
        Self::num(text, value).raw(raw_number(value))
    }

    /// A number that may be missing: shown as `show(v)` or "–", exported as the number or empty.
    pub fn maybe(v: Option<f64>, show: impl Fn(f64) -> String) -> Self {
        match v {
            Some(v) => Self::value(show(v), v),
            None => Self::num("–", f64::MIN).raw(""),
        }
    }

    pub fn raw(mut self, raw: impl Into<String>) -> Self {
        self.raw = Some(raw.into());
        self
    }

    pub fn tone(mut self, tone: Tone) -> Self {
        self.tone = tone;
        self
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Width in cells; 0 fills what is left.
    pub width: u16,
    /// When the terminal is narrow, columns with the highest `drop` go first; 0 always shows.
    pub drop: u8,
}

pub const fn col(name: &'static str, width: u16) -> Column {
    Column {
        name,
        width,
        drop: 0,
    }
}

pub const fn opt(name: &'static str, width: u16, drop: u8) -> Column {
    Column { name, width, drop }
}

/// The columns that fit in `width` cells, leaving `fill_min` for the widest flexible column.
pub fn fitting(columns: &[Column], width: u16, fill_min: u16) -> Vec<usize> {
    let mut shown: Vec<usize> = (0..columns.len()).collect();
    loop {
        let fixed: u16 = shown.iter().map(|&i| columns[i].width).sum::<u16>() + shown.len() as u16;
        let fills = shown.iter().any(|&i| columns[i].width == 0);
        if fixed + if fills { fill_min } else { 0 } <= width {
            return shown;
        }
        let Some(pos) = shown
            .iter()
            .enumerate()
            .filter(|(_, i)| columns[**i].drop > 0)
            .max_by_key(|(_, i)| columns[**i].drop)
            .map(|(p, _)| p)
        else {
            return shown;
        };
        shown.remove(pos);
    }
}

/// A pane's table. Column 0 holds the row's key (the account key, the lead source, the signal;
/// its raw value when the text shows more).
#[derive(Debug, Clone, Default)]
pub struct TableData {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// Lower-cased text of each row, for the filter (a parent's includes its children's).
    pub haystack: Vec<String>,
    /// A tree (the hot queue's parents and their workspaces): each row's parent row, when it is
    /// a child. Empty for a flat table.
    pub parent: Vec<Option<usize>>,
    /// Each row's children, in table order (empty for a flat table).
    pub children: Vec<Vec<usize>>,
}

impl TableData {
    pub fn new(columns: Vec<Column>, rows: Vec<Vec<Cell>>) -> Self {
        let haystack = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.text.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
            })
            .collect();
        Self {
            columns,
            rows,
            haystack,
            parent: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Makes the table a tree: `parent[i]` is the row row `i` folds under. A parent row is
    /// found by the filter through its children's text too.
    pub fn with_tree(mut self, parent: Vec<Option<usize>>) -> Self {
        let mut children = vec![Vec::new(); self.rows.len()];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        for (p, kids) in children.iter().enumerate() {
            for &k in kids {
                let text = self.haystack[k].clone();
                self.haystack[p].push('\u{1f}');
                self.haystack[p].push_str(&text);
            }
        }
        self.parent = parent;
        self.children = children;
        self
    }

    /// The row's key: column 0's raw value, else its text.
    pub fn key(&self, i: usize) -> &str {
        let c = &self.rows[i][0];
        c.raw.as_deref().unwrap_or(&c.text)
    }

    /// Whether the table is a tree with at least one parent.
    pub fn is_tree(&self) -> bool {
        self.children.iter().any(|c| !c.is_empty())
    }

    /// The rows of `view` as CSV text, with the header. Cells are neutralised as the CLI's CSV
    /// does ([`beton::safe::csv_cell`]): a key starting with `=` cannot run in a spreadsheet.
    pub fn csv(&self, view: &[usize]) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.columns.iter().map(|c| c.name))?;
        for &i in view {
            w.write_record(
                self.rows[i].iter().map(|c| {
                    beton::safe::csv_cell(c.raw.as_deref().unwrap_or(&c.text)).into_owned()
                }),
            )?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// What the user did to a table: the rows shown, in order, and where the cursor is.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub filter: String,
    /// Only rows whose cell in this column reads exactly this (the hot queue's tier filter).
    pub only: Option<(usize, String)>,
    /// Sort column and whether it is reversed; `None` keeps the table's own order.
    pub sort: Option<(usize, bool)>,
    pub selected: usize,
    pub offset: usize,
    /// Indices into `TableData::rows`.
    pub view: Vec<usize>,
    /// The keys of the parents whose children show (a tree table).
    pub open: std::collections::BTreeSet<String>,
}

impl Grid {
    /// Recomputes `view` after the data, filter or sort changed; keeps the selected row if it is
    /// still shown.
    pub fn refresh(&mut self, data: &TableData) {
        let keep = self
            .view
            .get(self.selected)
            .filter(|&&i| i < data.rows.len())
            .map(|&i| {
                (
                    data.key(i).to_string(),
                    data.parent.get(i).copied().flatten(),
                )
            });
        let needle = self.filter.to_lowercase();
        self.view = (0..data.rows.len())
            .filter(|&i| data.parent.get(i).is_none_or(Option::is_none))
            .filter(|&i| needle.is_empty() || data.haystack[i].contains(&needle))
            .filter(|&i| {
                self.only
                    .as_ref()
                    .is_none_or(|(c, v)| data.rows[i].get(*c).is_some_and(|x| x.text == *v))
            })
            .collect();
        if let Some((col, reverse)) = self.sort {
            let cmp = |a: &usize, b: &usize| {
                let (x, y) = (&data.rows[*a][col].key, &data.rows[*b][col].key);
                let o = match (x, y) {
                    (Key::Num(x), Key::Num(y)) => y.total_cmp(x),
                    (Key::Text(x), Key::Text(y)) => x.cmp(y),
                    (Key::Num(_), Key::Text(_)) => std::cmp::Ordering::Less,
                    (Key::Text(_), Key::Num(_)) => std::cmp::Ordering::Greater,
                };
                if reverse { o.reverse() } else { o }
            };
            self.view.sort_by(cmp);
        }
        // An open parent's children follow it, in table order.
        if data.is_tree() {
            let top = std::mem::take(&mut self.view);
            for i in top {
                self.view.push(i);
                if self.open.contains(data.key(i)) {
                    self.view.extend(&data.children[i]);
                }
            }
        }
        self.selected = keep
            .and_then(|(k, under)| {
                self.view.iter().position(|&i| {
                    data.key(i) == k
                        && data.parent.get(i).copied().flatten().is_some() == under.is_some()
                })
            })
            .unwrap_or(0);
        self.offset = self.offset.min(self.selected);
    }

    /// Moves the selection by `delta` rows, keeping it inside the view and on screen.
    pub fn step(&mut self, delta: isize, page: usize) {
        if self.view.is_empty() {
            self.selected = 0;
            return;
        }
        let last = self.view.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.scroll_to(page);
    }

    pub fn select(&mut self, row: usize, page: usize) {
        self.selected = row.min(self.view.len().saturating_sub(1));
        self.scroll_to(page);
    }

    /// Keeps the selection inside the `page` rows that show.
    pub fn scroll_to(&mut self, page: usize) {
        let page = page.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
    }

    /// The row index of the selection in the data, if any row shows.
    pub fn current(&self) -> Option<usize> {
        self.view.get(self.selected).copied()
    }
}
