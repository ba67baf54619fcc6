//! Reading an input: a file or stdin past its BOM, its format, and its lines or CSV rows.

use std::io::{BufRead, BufReader, Read};

use super::*;

/// An open input: a file or stdin, with its size when known (for progress).
pub struct Input {
    pub name: String,
    pub reader: Box<dyn Read + Send>,
    pub size: Option<u64>,
}

impl Input {
    /// `-` is standard input.
    pub fn open(path: &str) -> Result<Self> {
        if path == "-" {
            return Ok(Self {
                name: "<stdin>".into(),
                reader: Box::new(std::io::stdin()),
                size: None,
            });
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(Path::new(path), e))?;
        let size = file.metadata().ok().map(|m| m.len());
        Ok(Self {
            name: path.to_string(),
            reader: Box::new(file),
            size,
        })
    }
}

/// The UTF-8 byte order mark some tools (Excel, PowerShell) write at the start of a file.
pub(super) const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A reader that drops a leading UTF-8 byte order mark, however the first reads are split
/// (a pipe may hand over one byte at a time).
pub struct SkipBom<R> {
    inner: R,
    head: [u8; 3],
    pos: usize,
    len: usize,
    started: bool,
}

impl<R: Read> SkipBom<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            head: [0; 3],
            pos: 0,
            len: 0,
            started: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.started {
            while self.len < 3 {
                match self.inner.read(&mut self.head[self.len..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.len += n;
                        // Stop early once the bytes cannot be a BOM any more.
                        if self.head[..self.len] != BOM[..self.len] {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.started = true;
            if self.head[..self.len] == BOM {
                self.len = 0;
            }
        }
        if self.pos < self.len {
            let n = buf.len().min(self.len - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// `input`'s bytes past a leading BOM, buffered.
pub(super) fn buffered(
    input: Box<dyn Read + Send>,
    capacity: usize,
) -> BufReader<Box<dyn Read + Send>> {
    BufReader::with_capacity(capacity, Box::new(SkipBom::new(input)))
}

/// What the first byte that is not white space says: `{` is JSON Lines, `[` a JSON array, else
/// CSV. `None` for an empty input.
pub(super) fn looks_like(
    reader: &mut BufReader<Box<dyn Read + Send>>,
    name: &str,
) -> Result<Option<u8>> {
    let buf = reader
        .fill_buf()
        .map_err(|e| Error::io(Path::new(name), e))?;
    Ok(buf.iter().find(|b| !b.is_ascii_whitespace()).copied())
}

/// The format to read `reader` as: the one given (by `--format` or the file name) when the
/// content agrees, else the content's. A file whose content contradicts its declared format is
/// an error that says so, before anything is read.
pub(super) fn check_format(
    reader: &mut BufReader<Box<dyn Read + Send>>,
    name: &str,
    declared: Option<Format>,
) -> Result<Format> {
    let first = looks_like(reader, name)?;
    let content = match first {
        None | Some(b'{') => Format::Jsonl,
        Some(b'[') => {
            return Err(Error::Usage(format!(
                "{name}: this is a JSON array; Beton reads JSON Lines (one object per line) or CSV"
            )));
        }
        Some(_) => Format::Csv,
    };
    match declared {
        Some(d) if first.is_some() && d != content => Err(Error::Usage(format!(
            "{name}: read as {} (from {}), but it looks like {}: {}",
            d.label(),
            if Format::from_path(name) == Some(d) {
                "its name"
            } else {
                "--format"
            },
            content.label(),
            match content {
                Format::Jsonl => "its first line starts with `{`",
                Format::Csv => "its first line is not a JSON object",
            }
        ))),
        Some(d) => Ok(d),
        None => Ok(content),
    }
}

impl Format {
    fn label(self) -> &'static str {
        match self {
            Format::Jsonl => "JSON Lines",
            Format::Csv => "CSV",
        }
    }
}

/// A serde message in the words of the file: "expected struct RawDeal" names a type of this
/// program, not something the user wrote.
pub(super) fn plain(message: String) -> String {
    let mut out = message;
    for kind in ["struct ", "enum "] {
        while let Some(i) = out.find(&format!("expected {kind}")) {
            let start = i + "expected ".len();
            let name_end = out[start + kind.len()..]
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .map_or(out.len(), |j| start + kind.len() + j);
            out.replace_range(start..name_end, "a JSON object");
        }
    }
    out
}

pub(super) fn bad_json(e: serde_json::Error) -> String {
    plain(format!("bad JSON: {e}"))
}

/// Calls `f(line number, line)` for each line that is not blank; a line that is not UTF-8 is
/// handed over as an error, like a bad row. A read error ends the input.
pub(super) fn for_jsonl_lines(
    mut reader: impl BufRead,
    name: &str,
    mut f: impl FnMut(u64, std::result::Result<&str, String>) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(Path::new(name), e))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        match std::str::from_utf8(&buf) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => f(n, Ok(text.trim()))?,
            Err(_) => f(n, Err("not UTF-8 text".to_string()))?,
        }
    }
}

/// What is wrong with a CSV header, if anything: a column named twice, or a required one missing.
pub(super) fn header_problem(headers: &csv::StringRecord, required: &[&str]) -> Option<String> {
    let names: Vec<&str> = headers.iter().collect();
    if let Some((i, twice)) = names
        .iter()
        .enumerate()
        .find(|(i, n)| !n.is_empty() && names[..*i].contains(n))
    {
        return Some(format!(
            "bad CSV header: column `{twice}` appears twice (columns {} and {})",
            names.iter().position(|n| n == twice).unwrap_or(0) + 1,
            i + 1
        ));
    }
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !names.contains(r))
        .map(|r| format!("`{r}`"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "bad CSV header: no {} column{} (the header is {:?}); no row was read",
            missing.join(", "),
            if missing.len() > 1 { "s" } else { "" },
            names.join(",")
        )
    })
}

/// A CSV error in the file's words.
pub(super) fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text (column {})", err.field() + 1),
        csv::ErrorKind::Deserialize { err, .. } => plain(format!("bad CSV row: {err}")),
        _ => plain(format!("bad CSV row: {e}")),
    }
}

/// Reads CSV rows with a header, calling `f(line, row)` until it returns false. A header problem
/// (unreadable, a column twice, a `required` column missing) is reported once, as line 1, and no
/// row is read.
pub(super) fn for_csv_rows<T: serde::de::DeserializeOwned>(
    reader: impl Read,
    required: &[&str],
    mut f: impl FnMut(u64, std::result::Result<T, String>) -> bool,
) {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            f(1, Err(format!("bad CSV header: {}", csv_reason(&e))));
            return;
        }
    };
    if let Some(problem) = header_problem(&headers, required) {
        f(1, Err(problem));
        return;
    }
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut rec) {
            Ok(false) => return,
            Ok(true) => {
                let line = rec.position().map_or(line, |p| p.line());
                let row = rec.deserialize(Some(&headers)).map_err(|e| csv_reason(&e));
                if !f(line, row) {
                    return;
                }
            }
            Err(e) => {
                if !f(line, Err(csv_reason(&e))) {
                    return;
                }
            }
        }
    }
}
