//! Colours, or none at all when `NO_COLOR` is set (https://no-color.org): then only bold,
//! reverse and underline tell things apart.

use ratatui::style::{Color, Modifier, Style};

use beton::signals::Tier;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn tier(&self, t: Tier) -> Style {
        match t {
            Tier::Hot => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Tier::Warm => self.fg(Color::Yellow),
            Tier::Cool => self.fg(Color::Cyan),
        }
    }

    pub fn status_word(&self, s: &str) -> Style {
        match s {
            "at_risk" => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            "growing" => self.fg(Color::Green),
            "inactive" => self.fg(Color::DarkGray),
            _ => Style::new(),
        }
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn header(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::BOLD)
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn tab_active(&self) -> Style {
        self.fg(Color::Yellow)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn bar(&self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn demo(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
}
