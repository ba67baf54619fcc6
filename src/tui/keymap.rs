//! Keys to commands: the defaults, overridden per action by the config file's `[keys]` section.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for in the normal view (text entry modes read keys directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Quit,
    Help,
    NextPane,
    PrevPane,
    Pane(usize),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Sort,
    Reverse,
    Export,
    Copy,
    Tune,
    Rerun,
    Cancel,
    RunDaily,
    Reload,
    Tier,
    /// The Backtest pane's learn view: learned weights, calibration, proposed bases.
    Learn,
    /// Fold or unfold the selected parent's workspaces (hot queue, parents configured).
    Fold,
    Answer,
}

impl Command {
    /// The command of a `[keys]` action name (`beton::config::KEY_ACTIONS`).
    pub fn of_name(name: &str) -> Option<Self> {
        Some(match name {
            "quit" => Self::Quit,
            "help" => Self::Help,
            "next_pane" => Self::NextPane,
            "prev_pane" => Self::PrevPane,
            "hot_queue" => Self::Pane(0),
            "health" => Self::Pane(1),
            "sources" => Self::Pane(2),
            "backtest" => Self::Pane(3),
            "up" => Self::Up,
            "down" => Self::Down,
            "page_up" => Self::PageUp,
            "page_down" => Self::PageDown,
            "top" => Self::Top,
            "bottom" => Self::Bottom,
            "open" => Self::Open,
            "back" => Self::Back,
            "filter" => Self::Filter,
            "sort" => Self::Sort,
            "reverse" => Self::Reverse,
            "export" => Self::Export,
            "copy" => Self::Copy,
            "tune" => Self::Tune,
            "rerun" => Self::Rerun,
            "cancel" => Self::Cancel,
            "run_daily" => Self::RunDaily,
            "reload" => Self::Reload,
            "tier" => Self::Tier,
            "learn" => Self::Learn,
            "fold" => Self::Fold,
            "answer" => Self::Answer,
            _ => return None,
        })
    }

    /// What the help overlay says the command does.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Quit => "quit (Ctrl-C always quits)",
            Self::Help => "show or hide this help",
            Self::NextPane => "next pane",
            Self::PrevPane => "previous pane",
            Self::Pane(0) => "hot queue",
            Self::Pane(1) => "account health",
            Self::Pane(2) => "sources",
            Self::Pane(_) => "backtest",
            Self::Up => "move up",
            Self::Down => "move down",
            Self::PageUp => "page up",
            Self::PageDown => "page down",
            Self::Top => "first row",
            Self::Bottom => "last row",
            Self::Open => "open the account or signal detail / edit a setting",
            Self::Back => "close a view, clear the filter",
            Self::Filter => "filter the table (type, Enter keeps, Esc clears)",
            Self::Sort => "sort by the next column",
            Self::Reverse => "reverse the sort",
            Self::Export => "export the table as CSV (raw values)",
            Self::Copy => "copy the selected account key",
            Self::Tune => "tune signals, tiers, routing, cooldown",
            Self::Rerun => "what-if: detection and backtest with the draft, nothing sent or saved",
            Self::Cancel => "cancel the running job",
            Self::RunDaily => "run the real daily pipeline (asks first: it records and sends)",
            Self::Reload => "load the latest run (after cron made one) and drop a what-if",
            Self::Tier => "hot queue: all tiers, hot only, warm only, cool only",
            Self::Learn => {
                "backtest: the learn view (learned weights, calibration, proposed bases) or back"
            }
            Self::Fold => "hot queue with parents: fold or unfold a parent's workspaces (also ← →)",
            Self::Answer => {
                "account detail: record a rep's answer (legit / not ready / already working, a note)"
            }
        }
    }
}

/// The default bindings, by action name.
pub const DEFAULTS: [(&str, &[&str]); 30] = [
    ("quit", &["q"]),
    ("help", &["?", "f1"]),
    ("next_pane", &["tab", "l", "right"]),
    ("prev_pane", &["backtab", "h", "left"]),
    ("hot_queue", &["1"]),
    ("health", &["2"]),
    ("sources", &["3"]),
    ("backtest", &["4"]),
    ("up", &["k", "up"]),
    ("down", &["j", "down"]),
    ("page_up", &["pgup", "ctrl-u"]),
    ("page_down", &["pgdn", "ctrl-d"]),
    ("top", &["g", "home"]),
    ("bottom", &["G", "end"]),
    ("open", &["enter"]),
    ("back", &["esc"]),
    ("filter", &["/"]),
    ("sort", &["s"]),
    ("reverse", &["S"]),
    ("export", &["e"]),
    ("copy", &["y"]),
    ("tune", &["t"]),
    ("rerun", &["r"]),
    ("cancel", &["c"]),
    ("run_daily", &["D"]),
    ("reload", &["R"]),
    ("tier", &["f"]),
    ("learn", &["L"]),
    ("fold", &["space"]),
    ("answer", &["a"]),
];

/// A key as the map stores it: code and the modifiers that matter.
pub type Key = (KeyCode, KeyModifiers);

#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<Key, Command>,
    /// Per command, the keys as written (for the help overlay), in action order.
    pub listing: Vec<(Command, Vec<String>)>,
}

impl Keymap {
    /// The defaults with the config's `[keys]` overrides. Unparsable keys are reported, not fatal.
    pub fn new(overrides: &std::collections::BTreeMap<String, Vec<String>>) -> (Self, Vec<String>) {
        let mut map = HashMap::new();
        let mut listing = Vec::new();
        let mut errors = Vec::new();
        for (name, defaults) in DEFAULTS {
            let Some(command) = Command::of_name(name) else {
                continue;
            };
            let keys: Vec<String> = match overrides.get(name) {
                Some(keys) => keys.clone(),
                None => defaults.iter().map(|k| k.to_string()).collect(),
            };
            let mut shown = Vec::new();
            for k in keys {
                match parse_key(&k) {
                    Some(key) => {
                        map.insert(key, command);
                        shown.push(k);
                    }
                    None => errors.push(format!("[keys] {name}: cannot read key {k:?}")),
                }
            }
            listing.push((command, shown));
        }
        (Self { map, listing }, errors)
    }

    pub fn command(&self, ev: &KeyEvent) -> Option<Command> {
        self.map.get(&normalize(ev)).copied()
    }

    /// The first key bound to a command, for hints.
    pub fn hint(&self, c: Command) -> String {
        self.listing
            .iter()
            .find(|(cmd, _)| *cmd == c)
            .and_then(|(_, k)| k.first().cloned())
            .unwrap_or_else(|| "-".into())
    }
}

/// Drops SHIFT from characters (the character says it) and turns Shift-Tab into BackTab.
fn normalize(ev: &KeyEvent) -> Key {
    let mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
    match ev.code {
        KeyCode::Char(c) => (KeyCode::Char(c), mods - KeyModifiers::SHIFT),
        KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
            (KeyCode::BackTab, mods - KeyModifiers::SHIFT)
        }
        KeyCode::BackTab => (KeyCode::BackTab, mods - KeyModifiers::SHIFT),
        code => (code, mods),
    }
}

/// Reads `q`, `G`, `enter`, `ctrl-d`, `alt-x`, `shift-tab`, `f5`.
pub fn parse_key(s: &str) -> Option<Key> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = s.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        let (m, len) = if lower.starts_with("ctrl-") {
            (KeyModifiers::CONTROL, 5)
        } else if lower.starts_with("alt-") {
            (KeyModifiers::ALT, 4)
        } else if lower.starts_with("shift-") {
            (KeyModifiers::SHIFT, 6)
        } else {
            break;
        };
        if rest.len() == len {
            break;
        }
        mods |= m;
        rest = &rest[len..];
    }
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
            c.to_ascii_lowercase()
        } else {
            c
        }),
        _ => match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.starts_with('f') => {
                KeyCode::F(f[1..].parse().ok().filter(|n| (1..=12).contains(n))?)
            }
            _ => return None,
        },
    };
    Some(normalize(&KeyEvent::new(code, mods)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_modifiers_and_characters() {
        assert_eq!(
            parse_key("q"),
            Some((KeyCode::Char('q'), KeyModifiers::NONE))
        );
        assert_eq!(
            parse_key("G"),
            Some((KeyCode::Char('G'), KeyModifiers::NONE))
        );
        assert_eq!(
            parse_key("ctrl-D"),
            Some((KeyCode::Char('d'), KeyModifiers::CONTROL))
        );
        assert_eq!(
            parse_key("shift-tab"),
            Some((KeyCode::BackTab, KeyModifiers::NONE))
        );
        assert_eq!(parse_key("f5"), Some((KeyCode::F(5), KeyModifiers::NONE)));
        assert_eq!(
            parse_key("-"),
            Some((KeyCode::Char('-'), KeyModifiers::NONE))
        );
        assert_eq!(parse_key("ctrl-"), None);
        assert_eq!(parse_key("f13"), None);
        assert_eq!(parse_key("hyper"), None);
    }

    #[test]
    fn overrides_replace_an_actions_defaults() {
        let mut o = std::collections::BTreeMap::new();
        o.insert(
            "quit".to_string(),
            vec!["x".to_string(), "nonsense-key".to_string()],
        );
        let (km, errors) = Keymap::new(&o);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(km.command(&key('x')), Some(Command::Quit));
        assert_eq!(km.command(&key('q')), None);
        assert_eq!(
            km.command(&KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Command::Bottom)
        );
    }
}
