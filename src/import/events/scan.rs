//! The fast path of an event line: picks the fields Beton reads straight out of the text and
//! skips everything else (the rest of `properties` included) without building it. It answers
//! only for the plain, common shape; anything else (an escape in a field it keeps, a number
//! that is not a plain integer, `$group_set`, a duplicate key, bad JSON) gives `None`, and the
//! line goes through serde_json, which gives exactly the old result or the old error. So a line
//! reads the same whichever path took it (`fast_path_agrees_with_serde` checks this).

use std::borrow::Cow;

use super::{Groups, RawEvent, RawProps, Scalar};

/// Nesting deeper than this goes to serde_json (which has its own limit and message).
const MAX_DEPTH: u32 = 64;

/// The fields of `line` (already trimmed), or `None` for the slow path.
pub(super) fn fast_event(line: &str) -> Option<RawEvent<'_>> {
    // No control byte anywhere: then none is inside a string (an error serde_json reports) and
    // white space between tokens is plain spaces (tabs and new lines go the slow way).
    if line.bytes().fold(false, |acc, b| acc | (b < 0x20)) {
        return None;
    }
    let mut s = Scan { text: line, pos: 0 };
    let mut ev = RawEvent {
        uuid: None,
        event: None,
        distinct_id: None,
        timestamp: None,
        properties: None,
    };
    let mut seen = 0u8;
    s.object(|s, key| {
        let bit = match key {
            "uuid" => 1,
            "event" => 2,
            "distinct_id" => 4,
            "timestamp" => 8,
            "properties" => 16,
            _ => return s.skip(0),
        };
        if seen & bit != 0 {
            return None; // serde_json reports the duplicate field
        }
        seen |= bit;
        match bit {
            1 => ev.uuid = s.opt_str()?,
            2 => ev.event = s.opt_str()?,
            4 => ev.distinct_id = s.opt_scalar()?,
            8 => ev.timestamp = s.opt_str()?,
            _ => ev.properties = s.props()?,
        }
        Some(())
    })?;
    s.spaces();
    (s.pos == line.len()).then_some(ev)
}

struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// The next byte after spaces, consumed.
    fn next(&mut self) -> Option<u8> {
        self.spaces();
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn literal(&mut self, rest: &str) -> Option<()> {
        let end = self.pos + rest.len();
        (self.text.as_bytes().get(self.pos..end)? == rest.as_bytes()).then(|| self.pos = end)
    }

    /// An object (its `{` not yet read), calling `field` at each key with the position at its
    /// value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if self.next()? != b'{' {
            return None;
        }
        self.spaces();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            if self.next()? != b'"' {
                return None;
            }
            let key = self.plain_str()?;
            if self.next()? != b':' {
                return None;
            }
            field(self, key)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The rest of a string (its `"` read) when it has no escape; `None` when it has one.
    fn plain_str(&mut self) -> Option<&'a str> {
        let rest = &self.text.as_bytes()[self.pos..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' {
            return None;
        }
        let out = &self.text[self.pos..self.pos + end];
        self.pos += end + 1;
        Some(out)
    }

    /// The rest of a string (its `"` read), escapes checked and skipped.
    fn skip_str(&mut self) -> Option<()> {
        loop {
            let rest = &self.text.as_bytes()[self.pos..];
            let at = memchr::memchr2(b'"', b'\\', rest)?;
            self.pos += at + 1;
            if rest[at] == b'"' {
                return Some(());
            }
            match self.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                b'u' => {
                    let hex = self.text.as_bytes().get(self.pos + 1..self.pos + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.pos += 5;
                }
                _ => return None,
            }
        }
    }

    /// A number whose first byte is at `pos`: its text when it is a plain integer (no sign
    /// but `-`, no fraction, no exponent, at most 18 digits), else `None`.
    fn integer(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        let start = self.pos;
        let mut i = start + usize::from(b[start] == b'-');
        let digits = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - digits;
        let leading_zero = n > 1 && b[digits] == b'0';
        let negative_zero = digits > start && n == 1 && b[digits] == b'0';
        if n == 0 || n > 18 || leading_zero || negative_zero {
            return None;
        }
        if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.pos = i;
        Some(&self.text[start..i])
    }

    /// A number to skip: checked against JSON's grammar; exponents go to serde_json (which
    /// refuses numbers out of range).
    fn skip_number(&mut self) -> Option<()> {
        let b = self.text.as_bytes();
        let mut i = self.pos + usize::from(b[self.pos] == b'-');
        let digits = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - digits;
        if n == 0 || n > 300 || (n > 1 && b[digits] == b'0') {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let frac = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == frac {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            return None;
        }
        self.pos = i;
        Some(())
    }

    /// Skips one value of any shape, checking it.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.spaces();
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                self.skip_str()
            }
            b'{' => self.object(|s, _| s.skip(depth + 1)),
            b'[' => {
                self.pos += 1;
                self.spaces();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// `Option<Cow<str>>` as serde reads it: a string, or null for none.
    fn opt_str(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.next()? {
            b'"' => Some(Some(Cow::Borrowed(self.plain_str()?))),
            b'n' => self.literal("ull").map(|_| None),
            _ => None,
        }
    }

    /// `Option<Scalar>`: null is none.
    fn opt_scalar(&mut self) -> Option<Option<Scalar<'a>>> {
        self.spaces();
        if self.peek()? == b'n' {
            self.pos += 1;
            return self.literal("ull").map(|_| None);
        }
        self.scalar().map(Some)
    }

    /// A [`Scalar`]: null (and any array or object) is `Other`.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        self.spaces();
        Some(match self.peek()? {
            b'"' => {
                self.pos += 1;
                Scalar::Str(Cow::Borrowed(self.plain_str()?))
            }
            b'-' => Scalar::Num(self.integer()?.parse::<i64>().ok()?.into()),
            b'0'..=b'9' => Scalar::Num(self.integer()?.parse::<u64>().ok()?.into()),
            b't' => {
                self.literal("true")?;
                Scalar::Bool(true)
            }
            b'f' => {
                self.literal("false")?;
                Scalar::Bool(false)
            }
            b'n' => {
                self.literal("null")?;
                Scalar::Other
            }
            b'{' | b'[' => {
                self.skip(1)?;
                Scalar::Other
            }
            _ => return None,
        })
    }

    /// `properties`: null, or an object of which only Beton's keys are kept.
    fn props(&mut self) -> Option<Option<RawProps<'a>>> {
        self.spaces();
        match self.peek()? {
            b'n' => {
                self.pos += 1;
                return self.literal("ull").map(|_| None);
            }
            b'{' => {}
            _ => return None,
        }
        let mut p = RawProps::default();
        let mut seen = 0u8;
        self.object(|s, key| {
            let bit = match key {
                "$current_url" => 1,
                "$groups" => 2,
                "feature" => 4,
                "$group_type" => 8,
                "$group_key" => 16,
                "$group_set" => 32,
                _ => return s.skip(1),
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match bit {
                1 => p.current_url = s.opt_str()?,
                2 => p.groups = s.groups()?,
                4 => p.feature = s.opt_scalar()?,
                8 => p.group_type = s.opt_str()?,
                16 => p.group_key = s.opt_scalar()?,
                // A `$group_set` is built as a JSON map: serde_json does that.
                _ => s.literal_null()?,
            }
            Some(())
        })?;
        Some(Some(p))
    }

    /// Null (spaces first), else `None`.
    fn literal_null(&mut self) -> Option<()> {
        self.spaces();
        self.literal("null")
    }

    /// `$groups`: null, or an object of group type → scalar key (the last of a repeated type
    /// wins, as in [`Groups::take`]).
    fn groups(&mut self) -> Option<Option<Groups<'a>>> {
        self.spaces();
        match self.peek()? {
            b'n' => {
                self.pos += 1;
                return self.literal("ull").map(|_| None);
            }
            b'{' => {}
            _ => return None,
        }
        let mut out = Vec::new();
        self.object(|s, key| {
            out.push((Cow::Borrowed(key), s.scalar()?));
            Some(())
        })?;
        Some(Some(Groups(out)))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (1 to 9 fraction digits) as microseconds since the epoch,
/// exactly as [`crate::time::parse_ts`] reads it; `None` for any other shape (which then goes
/// to `parse_ts`).
pub(super) fn fast_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &b[19..b.len() - 1];
    let micros = match frac {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut n = 0i64;
            for (i, d) in digits.iter().enumerate() {
                if !d.is_ascii_digit() {
                    return None;
                }
                if i < 6 {
                    n = n * 10 + i64::from(d - b'0');
                }
            }
            n * 10i64.pow(6u32.saturating_sub(digits.len() as u32))
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3_600 + min * 60 + sec) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_ts;

    #[test]
    fn fast_ts_reads_like_parse_ts() {
        let cases = [
            "2026-05-01T12:00:00Z",
            "2026-05-01T12:00:00.5Z",
            "2026-05-01T12:00:00.123456Z",
            "2026-05-01T12:00:00.123456789Z",
            "2026-05-01T23:59:59.999999Z",
            "2024-02-29T00:00:00Z",
            "2000-02-29T01:02:03.04Z",
            "1900-03-01T00:00:00Z",
            "1969-12-31T23:59:59.9Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
        ];
        for c in cases {
            assert_eq!(fast_ts(c), parse_ts(c), "{c}");
            assert!(fast_ts(c).is_some(), "{c}");
        }
        // Shapes it leaves to parse_ts, or that are no time at all.
        for c in [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T12:60:00Z",
            "2026-05-01T23:59:60Z",
            "2026-05-01T12:00:00.Z",
            "2026-05-01T12:00:00.1234567890Z",
            "2026-05-01T12:00:00+02:00",
            "2026-05-01 12:00:00Z",
            "2026-05-01t12:00:00z",
            "2026-05-01",
            "2026-5-01T12:00:00Z",
            "+2026-05-01T12:00:00Z",
            " 2026-05-01T12:00:00Z",
        ] {
            assert_eq!(fast_ts(c), None, "{c}");
        }
        // A sweep of days and fractions against chrono.
        let mut t = parse_ts("1999-12-25T00:00:00Z").unwrap();
        for i in 0..3000 {
            let s = crate::time::fmt_ts(t);
            assert_eq!(fast_ts(&s), parse_ts(&s), "{s}");
            t += 86_400_000_000 / 7 * 3 + i * 1_234_567;
        }
    }

    /// Every line the fast path answers for reads exactly as through serde_json, and every line
    /// serde_json refuses is left to it (so its error message is the one reported).
    #[test]
    fn fast_path_agrees_with_serde() {
        let lines = [
            r#"{"uuid":"019ae74d-6380-7853-b5c5-038b601b35b6","event":"$pageview","distinct_id":"u1","timestamp":"2026-05-01T12:00:00.25Z","properties":{"$current_url":"https://x/pricing","$groups":{"company":"acme.com"}}}"#,
            r#"{ "event" : "feature_used" , "distinct_id" : 17 , "timestamp" : "2026-05-01T12:00:00Z" , "properties" : { "feature" : "sso" , "$groups" : { "project" : "p" , "company" : "a" , "company" : "b" } , "other" : [ 1 , -2.5 , { "x" : [ ] } , "q\"\\\u00e9\n" , true , false , null ] } }"#,
            r#"{"event":"x","distinct_id":-42,"timestamp":"2026-05-01T12:00:00Z","properties":{"$groups":{"company":7},"feature":true}}"#,
            r#"{"event":"x","distinct_id":"é ü","timestamp":"2026-05-01T12:00:00Z","properties":null}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","properties":{"$groups":null,"$group_set":null}}"#,
            r#"{"event":"$groupidentify","distinct_id":"u","timestamp":"2026-05-01T00:00:00Z","properties":{"$group_type":"company","$group_key":"acme.com"}}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","uuid":null,"extra":{"deep":[[[[{"a":15.5}]]]]}}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","properties":{"$groups":{"company":["a"]}}}"#,
            r#"{"event":"x","distinct_id":0,"timestamp":"2026-05-01T12:00:00Z","properties":{"$groups":{"company":{"k":"v"}}}}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01 12:00:00","properties":{"$groups":{"company":"a"}}}"#,
            r#"{}"#,
            // Left to serde_json: escapes in kept fields, floats, exponents, `$group_set`, odd
            // shapes and bad JSON.
            r#"{"event":"x\u0041","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":1.5,"timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":-0,"timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":12345678901234567890,"timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","n":1e999}"#,
            r#"{"event":"$groupidentify","distinct_id":"u","timestamp":"2026-05-01T00:00:00Z","properties":{"$group_type":"company","$group_key":"a","$group_set":{"plan":"team"}}}"#,
            r#"{"event":"x","event":"y","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","properties":[]}"#,
            r#"["x","a"]"#,
            r#"{"ev\u0065nt":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z",}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z"} x"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","n":01}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","n":1.}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","s":"\q"}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","s":"\u12g4"}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","t":tru}"#,
            r#"{"event":5,"distinct_id":"a","timestamp":"2026-05-01T12:00:00Z"}"#,
            r#"{"event":"x","distinct_id":"a","timestamp":"2026-05-01T12:00:00Z","properties":{"$current_url":5}}"#,
            "{\"event\":\"x\",\t\"distinct_id\":\"a\",\"timestamp\":\"2026-05-01T12:00:00Z\"}",
            r#"{"event":"x","distinct_id":"a""#,
            r#"{"event""#,
            "{",
        ];
        let mut fast = 0;
        for line in lines {
            let slow = super::super::parse_json_event(line, "company");
            // A line the fast path leaves is serde_json's to decide.
            if let Some(raw) = fast_event(line) {
                fast += 1;
                let got = super::super::check_event(raw, "company");
                assert_eq!(got, slow, "{line}");
                assert!(
                    serde_json::from_str::<RawEvent>(line).is_ok(),
                    "serde_json refuses {line}"
                );
            }
        }
        assert_eq!(fast, 11, "the plain lines take the fast path");
        // Each of the left-to-serde lines really is left to it.
        for line in &lines[11..] {
            assert!(fast_event(line).is_none(), "{line}");
        }
    }
}
