//! Raw events, packed: each row of `event_blocks` holds up to [`BLOCK`] events of one UTC day as
//! one BLOB. Writing a block is one SQLite row instead of thousands, which is what makes a big
//! import fast; reading a day back decodes a few blocks. See docs/WORKSPACE.md.
//!
//! Format: per event, LEB128 varints (`z` = zigzag-encoded signed):
//! `z(ts − previous ts)` (the first against the day's start), `z(seq − previous seq)`, account,
//! user, name, feature + 1 (0: none), URL length + 1 (0: none) then its bytes, and the uuid: 0
//! (none), 1 then 16 bytes, or its text length + 2 then its bytes.

use super::varint::{Reader, put, unzig, zig};
use crate::time::DAY;

/// Events per block. A block is about 150 KB; a day of a 10 M-event workspace is ~15 blocks.
pub const BLOCK: usize = 4096;

/// A uuid as stored: its 16 bytes, or any other text as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidRef<'a> {
    Bytes([u8; 16]),
    Text(&'a str),
}

/// One decoded event; text borrows from the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed<'a> {
    pub ts: i64,
    pub seq: i64,
    pub uuid: Option<UuidRef<'a>>,
    pub account: i64,
    pub user: i64,
    pub name: i64,
    pub url: Option<&'a str>,
    pub feature: Option<i64>,
}

/// A block being filled.
#[derive(Debug, Clone)]
pub struct Builder {
    pub day: i64,
    pub data: Vec<u8>,
    pub n: usize,
    pub min_ts: i64,
    pub max_ts: i64,
    prev_ts: i64,
    prev_seq: i64,
}

impl Builder {
    pub fn new(day: i64) -> Self {
        Self {
            day,
            data: Vec::with_capacity(BLOCK * 40),
            n: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            prev_ts: day * DAY,
            prev_seq: 0,
        }
    }

    /// Appends one event of this block's day.
    pub fn push(&mut self, e: &Packed<'_>) {
        debug_assert_eq!(e.ts.div_euclid(DAY), self.day);
        let out = &mut self.data;
        put(out, zig(e.ts - self.prev_ts));
        put(out, zig(e.seq - self.prev_seq));
        put(out, e.account as u64);
        put(out, e.user as u64);
        put(out, e.name as u64);
        put(out, e.feature.map_or(0, |f| f as u64 + 1));
        match e.url {
            None => put(out, 0),
            Some(u) => {
                put(out, u.len() as u64 + 1);
                out.extend_from_slice(u.as_bytes());
            }
        }
        match e.uuid {
            None => put(out, 0),
            Some(UuidRef::Bytes(b)) => {
                put(out, 1);
                out.extend_from_slice(&b);
            }
            Some(UuidRef::Text(t)) => {
                put(out, t.len() as u64 + 2);
                out.extend_from_slice(t.as_bytes());
            }
        }
        self.prev_ts = e.ts;
        self.prev_seq = e.seq;
        self.min_ts = self.min_ts.min(e.ts);
        self.max_ts = self.max_ts.max(e.ts);
        self.n += 1;
    }

    pub fn is_full(&self) -> bool {
        self.n >= BLOCK
    }

    /// Stores the block as one `event_blocks` row (nothing when it is empty).
    pub fn write(&self, conn: &rusqlite::Connection) -> crate::error::Result<()> {
        if self.n > 0 {
            conn.prepare_cached(
                "INSERT INTO event_blocks(day, n, min_ts, max_ts, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![
                self.day,
                self.n as i64,
                self.min_ts,
                self.max_ts,
                self.data
            ])?;
        }
        Ok(())
    }
}

/// Calls `f` for each event of a block, in the order written. A damaged block is an error.
pub fn decode<'a>(day: i64, data: &'a [u8], mut f: impl FnMut(Packed<'a>)) -> Result<(), Damaged> {
    let mut r = Checked(Reader::new(data));
    let (mut ts, mut seq) = (day * DAY, 0i64);
    while r.0.pos < data.len() {
        ts += unzig(r.varint()?);
        seq += unzig(r.varint()?);
        let account = r.varint()? as i64;
        let user = r.varint()? as i64;
        let name = r.varint()? as i64;
        let feature = r.varint()?.checked_sub(1).map(|f| f as i64);
        let url = match r.varint()? {
            0 => None,
            n => Some(r.text(n as usize - 1)?),
        };
        let uuid = match r.varint()? {
            0 => None,
            1 => Some(UuidRef::Bytes(
                r.bytes(16)?.try_into().map_err(|_| Damaged)?,
            )),
            n => Some(UuidRef::Text(r.text(n as usize - 2)?)),
        };
        f(Packed {
            ts,
            seq,
            uuid,
            account,
            user,
            name,
            url,
            feature,
        });
    }
    Ok(())
}

/// A block that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stored event block is damaged")
    }
}

/// [`Reader`] with a damaged block as the error.
struct Checked<'a>(Reader<'a>);

impl<'a> Checked<'a> {
    fn varint(&mut self) -> Result<u64, Damaged> {
        self.0.next().ok_or(Damaged)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Damaged> {
        self.0.bytes(n).ok_or(Damaged)
    }

    fn text(&mut self, n: usize) -> Result<&'a str, Damaged> {
        std::str::from_utf8(self.bytes(n)?).map_err(|_| Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field_shape() {
        let day = -2; // before 1970: negative days and deltas
        let events = [
            Packed {
                ts: day * DAY + 5,
                seq: 900,
                uuid: Some(UuidRef::Bytes([7; 16])),
                account: 1,
                user: 1 << 40,
                name: 3,
                url: Some("https://app.example.com/pricing?ü=1"),
                feature: Some(0),
            },
            Packed {
                ts: day * DAY + 2, // out of order within the day
                seq: 12,
                uuid: Some(UuidRef::Text("not-a-uuid")),
                account: 70_000,
                user: 2,
                name: 1,
                url: None,
                feature: None,
            },
            Packed {
                ts: day * DAY + DAY - 1,
                seq: 901,
                uuid: None,
                account: 1,
                user: 2,
                name: 2,
                url: Some(""),
                feature: Some(9),
            },
        ];
        let mut b = Builder::new(day);
        for e in &events {
            b.push(e);
        }
        assert_eq!(
            (b.n, b.min_ts, b.max_ts),
            (3, day * DAY + 2, day * DAY + DAY - 1)
        );
        let mut back = Vec::new();
        decode(day, &b.data, |e| back.push(e)).unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn a_truncated_block_is_damaged_not_misread() {
        let mut b = Builder::new(0);
        b.push(&Packed {
            ts: 10,
            seq: 1,
            uuid: Some(UuidRef::Bytes([1; 16])),
            account: 1,
            user: 1,
            name: 1,
            url: Some("/x"),
            feature: None,
        });
        for cut in 1..b.data.len() {
            assert_eq!(
                decode(0, &b.data[..cut], |_| {}),
                Err(Damaged),
                "cut at {cut}"
            );
        }
    }
}
