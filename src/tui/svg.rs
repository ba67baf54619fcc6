//! A rendered frame as an SVG picture, for the README's images of each pane: the test that
//! writes them draws the real app into a `TestBackend`, so the pictures show what the app shows.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const CELL_W: f64 = 8.4;
const CELL_H: f64 = 17.0;
const FONT: f64 = 14.0;
const BG: &str = "#1e1f29";
const FG: &str = "#e6e6e6";

fn hex(c: Color, default: &str) -> String {
    match c {
        Color::Reset => default.to_string(),
        Color::Black => "#1e1f29".into(),
        Color::Red => "#ff6b6b".into(),
        Color::Green => "#69d36e".into(),
        Color::Yellow => "#f4d35e".into(),
        Color::Blue => "#6aa9ff".into(),
        Color::Magenta => "#d68cf0".into(),
        Color::Cyan => "#5fd7d7".into(),
        Color::Gray => "#c0c0c0".into(),
        Color::DarkGray => "#6c7086".into(),
        Color::LightRed => "#ff8f8f".into(),
        Color::LightGreen => "#8ff095".into(),
        Color::LightYellow => "#fff099".into(),
        Color::LightBlue => "#99c4ff".into(),
        Color::LightMagenta => "#eab0ff".into(),
        Color::LightCyan => "#99eeee".into(),
        Color::White => "#ffffff".into(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(_) => default.to_string(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The buffer as an SVG document: one background rectangle per coloured run, one text element
/// per run of cells with the same style (placed by column, so box drawing lines up).
pub fn of(buf: &Buffer) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\" viewBox=\"0 0 {:.1} {:.1}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"{FONT}\">\n<rect width=\"100%\" height=\"100%\" fill=\"{BG}\"/>\n",
        f64::from(w) * CELL_W,
        f64::from(h) * CELL_H,
        f64::from(w) * CELL_W,
        f64::from(h) * CELL_H
    );
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let c = &buf[(x, y)];
            let reversed = c.modifier.contains(Modifier::REVERSED);
            let (fg, bg) = if reversed {
                (hex(c.bg, BG), hex(c.fg, FG))
            } else {
                (hex(c.fg, FG), hex(c.bg, BG))
            };
            let bold = c.modifier.contains(Modifier::BOLD);
            let under = c.modifier.contains(Modifier::UNDERLINED);
            let start = x;
            let mut text = String::new();
            while x < w {
                let d = &buf[(x, y)];
                if d.fg != c.fg || d.bg != c.bg || d.modifier != c.modifier {
                    break;
                }
                text.push_str(d.symbol());
                x += 1;
            }
            let (px, py) = (f64::from(start) * CELL_W, f64::from(y) * CELL_H);
            let len = f64::from(x - start) * CELL_W;
            if bg != BG {
                out.push_str(&format!(
                    "<rect x=\"{px:.1}\" y=\"{py:.1}\" width=\"{len:.1}\" height=\"{CELL_H}\" fill=\"{bg}\"/>\n"
                ));
            }
            if text.trim().is_empty() {
                continue;
            }
            out.push_str(&format!(
                "<text x=\"{px:.1}\" y=\"{:.1}\" fill=\"{fg}\" textLength=\"{len:.1}\" lengthAdjust=\"spacingAndGlyphs\" xml:space=\"preserve\"{}{}>{}</text>\n",
                py + CELL_H * 0.78,
                if bold { " font-weight=\"bold\"" } else { "" },
                if under { " text-decoration=\"underline\"" } else { "" },
                escape(&text)
            ));
        }
    }
    out.push_str("</svg>\n");
    out
}
