//! The replay cache: a replay is a pure function of the workspace's data, the detection settings,
//! the replay dates and this build's detection code, so the workspace keeps the last few under a
//! key of exactly those, and a backtest or `learn` over the same dates reads the matrix back
//! instead of scanning the events again. The data state is checked on every read
//! (`Store::cached_replay`): after an import, every entry is stale and is never read.
//!
//! Only local replays are kept (detection at PostHog reads data the workspace cannot see change).
//! `BETON_REPLAY_CACHE=off` turns the cache off (a benchmark of the replay itself needs that).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::replay::{Replay, Seen};
use crate::config::Config;
use crate::store::Store;

/// Bumped whenever the blob layout below changes.
const FORMAT: &[u8; 4] = b"BRC1";

/// Whether replays are read from and kept in the cache (`BETON_REPLAY_CACHE=off` says no).
pub fn enabled() -> bool {
    !std::env::var("BETON_REPLAY_CACHE").is_ok_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "off" | "0" | "no" | "false"
        )
    })
}

/// This build of the detection code: the crate's version and the running executable's size and
/// modification time, so a rebuilt binary never reads what another build computed. `None` when
/// the executable cannot be read: then nothing is cached.
fn build() -> Option<&'static str> {
    static BUILD: OnceLock<Option<String>> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let m = std::env::current_exe().ok()?.metadata().ok()?;
            let modified = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(format!(
                "{}:{}:{}",
                env!("CARGO_PKG_VERSION"),
                m.len(),
                modified.as_nanos()
            ))
        })
        .as_deref()
}

/// The key of `cfg`'s replay at `dates`: every setting detection reads (the facts it needs, the
/// event classes and the signal settings, whole but for the base points), the dates, and the
/// build. The scoring settings (bases, cap, bonus) are left out: they change no fired type, so a
/// replay read back is scored under the settings asked for ([`load`]). `None` when the cache is
/// off or the build is unknown.
pub fn key(cfg: &Config, dates: &[i64]) -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut signals = serde_json::to_value(&cfg.signals).ok()?;
    if let Some(types) = signals.as_object_mut() {
        for t in types.values_mut() {
            if let Some(t) = t.as_object_mut() {
                t.remove("base");
            }
        }
    }
    let settings = serde_json::json!({
        "facts": super::replay::fingerprint(cfg),
        "group_type": cfg.group_type,
        "activity_exclude": cfg.activity_exclude,
        "signals": signals,
        "accounts": cfg.accounts,
    });
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(build()?.as_bytes());
    h.update([0]);
    h.update(settings.to_string().as_bytes());
    h.update([0]);
    for d in dates {
        h.update(d.to_le_bytes());
    }
    Some(
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

/// The replay kept under `key`, if it was computed on the current data, scored under `cfg`. A
/// damaged entry is logged and read as a miss.
pub fn load(store: &Store, key: &str, cfg: &Config, dates: &[i64]) -> Option<Replay> {
    let blob = match store.cached_replay(key) {
        Ok(b) => b?,
        Err(e) => {
            tracing::warn!("replay cache: not read: {e}");
            return None;
        }
    };
    let r = decode(&blob, cfg);
    if r.as_ref().is_none_or(|r| r.dates != dates) {
        tracing::warn!("replay cache: a damaged entry was ignored");
        return None;
    }
    r
}

/// Keeps `r` under `key` when the data is still at `state`. A failure only costs the next run
/// its replay: it is logged, not returned.
pub fn save(store: &Store, key: &str, state: &str, r: &Replay) {
    let started = std::time::Instant::now();
    let Some(blob) = encode(r) else { return };
    match store.cache_replay(key, state, &blob) {
        Ok(true) => tracing::info!(
            "replay cache: kept {} bytes in {:.3} s",
            blob.len(),
            started.elapsed().as_secs_f64()
        ),
        Ok(false) => tracing::debug!("replay cache: not kept (the data changed or is busy)"),
        Err(e) => tracing::warn!("replay cache: not kept: {e}"),
    }
}

/// `FORMAT`, the date and account counts (u32), the dates (i64), each account key (u32 length,
/// bytes), then date-major two bytes per account: the fired types and whether it was active. The
/// score is not kept: it follows from the fired types ([`decode`]).
pub fn encode(r: &Replay) -> Option<Vec<u8>> {
    let n = r.accounts.len();
    let mut out = Vec::with_capacity(12 + r.dates.len() * (8 + 2 * n) + n * 16);
    out.extend_from_slice(FORMAT);
    out.extend_from_slice(&u32::try_from(r.dates.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    for d in &r.dates {
        out.extend_from_slice(&d.to_le_bytes());
    }
    for a in &r.accounts {
        out.extend_from_slice(&u32::try_from(a.len()).ok()?.to_le_bytes());
        out.extend_from_slice(a.as_bytes());
    }
    if r.seen.len() != r.dates.len() {
        return None;
    }
    for row in &r.seen {
        if row.len() != n {
            return None;
        }
        for s in row {
            out.push(s.signals);
            out.push(u8::from(s.active));
        }
    }
    Some(out)
}

/// The inverse of [`encode`], every score that of its fired types under `cfg`; `None` for
/// anything that is not exactly one of its blobs.
pub fn decode(mut b: &[u8], cfg: &Config) -> Option<Replay> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = b.split_at_checked(n)?;
        *b = tail;
        Some(head)
    }
    fn u32_of(b: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize)
    }
    if take(&mut b, 4)? != FORMAT {
        return None;
    }
    let (k, n) = (u32_of(&mut b)?, u32_of(&mut b)?);
    let mut dates = Vec::with_capacity(k.min(b.len() / 8));
    for _ in 0..k {
        dates.push(i64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?));
    }
    let mut accounts = Vec::with_capacity(n.min(b.len() / 4));
    for _ in 0..n {
        let len = u32_of(&mut b)?;
        accounts.push(String::from_utf8(take(&mut b, len)?.to_vec()).ok()?);
    }
    if b.len() != k.checked_mul(n)?.checked_mul(2)? || b.chunks_exact(2).any(|c| c[1] > 1) {
        return None;
    }
    let score = super::replay::scores(cfg);
    let mut seen = Vec::with_capacity(k);
    for row in 0..k {
        let row = &b[row * 2 * n..(row + 1) * 2 * n];
        seen.push(
            row.chunks_exact(2)
                .map(|c| Seen {
                    score: score[usize::from(c[0])],
                    signals: c[0],
                    active: c[1] == 1,
                })
                .collect(),
        );
    }
    Some(Replay {
        dates,
        accounts,
        seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::score_of;

    /// A replay whose scores are those of its fired types under `cfg`, as every replay's are.
    fn sample(cfg: &Config) -> Replay {
        let seen = |signals: u8, active: bool| Seen {
            score: score_of(signals, cfg),
            signals,
            active,
        };
        Replay {
            dates: vec![-86_400, 0, 1_700_000_000],
            accounts: vec!["acme.com".into(), "béta.io".into()],
            seen: vec![
                vec![seen(0, false), seen(0b1000_0001, true)],
                vec![seen(0, true), seen(0xff, false)],
                vec![seen(0b10, true), seen(0, false)],
            ],
        }
    }

    #[test]
    fn a_replay_comes_back_exactly_as_it_was_kept() {
        let cfg = Config::default();
        let r = sample(&cfg);
        assert!(r.seen[1][1].score > 0);
        assert_eq!(decode(&encode(&r).expect("encodable"), &cfg), Some(r));
        let empty = Replay {
            dates: vec![5, 6],
            accounts: Vec::new(),
            seen: vec![Vec::new(), Vec::new()],
        };
        assert_eq!(
            decode(&encode(&empty).expect("encodable"), &cfg),
            Some(empty)
        );
    }

    #[test]
    fn a_replay_read_back_is_scored_under_the_bases_asked_for() {
        let cfg = Config::default();
        let other = cfg
            .with_overrides(&[
                "billing_intent.base=3".to_string(),
                "score.bonus_per_type=0".to_string(),
            ])
            .expect("settings");
        let blob = encode(&sample(&cfg)).expect("encodable");
        let read = decode(&blob, &other).expect("a replay");
        assert_eq!(read, sample(&other));
        assert_ne!(read, sample(&cfg));
    }

    #[test]
    fn a_cut_or_foreign_blob_is_not_a_replay() {
        let cfg = Config::default();
        let blob = encode(&sample(&cfg)).expect("encodable");
        for cut in [0, 3, 4, 12, blob.len() - 1] {
            assert_eq!(decode(&blob[..cut], &cfg), None, "cut at {cut}");
        }
        let mut longer = blob.clone();
        longer.extend([0, 0]);
        assert_eq!(decode(&longer, &cfg), None);
        let mut flag = blob.clone();
        *flag.last_mut().expect("a byte") = 2;
        assert_eq!(decode(&flag, &cfg), None);
        let mut other = blob;
        other[..4].copy_from_slice(b"XXXX");
        assert_eq!(decode(&other, &cfg), None);
    }

    #[test]
    fn the_key_follows_every_setting_detection_reads_and_the_dates() {
        let cfg = Config::default();
        let base = key(&cfg, &[1, 2]).expect("a key");
        assert_eq!(key(&cfg, &[1, 2]).as_deref(), Some(base.as_str()));
        assert_ne!(key(&cfg, &[1, 3]).expect("a key"), base);
        for set in [
            "pricing_intent.min_count=9",
            "usage_spike.window_days=14",
            "billing_intent.enabled=false",
            "activity_exclude=[\"x\"]",
        ] {
            let other = cfg.with_overrides(&[set.to_string()]).expect(set);
            assert_ne!(key(&other, &[1, 2]).expect("a key"), base, "{set}");
        }
        let mut parents = cfg.clone();
        parents.accounts.parent_property = Some("parent_domain".into());
        assert_ne!(key(&parents, &[1, 2]).expect("a key"), base);
        // Settings that change no fired type share the replay: scoring, tiers, routing, alerts.
        for set in [
            "pricing_intent.base=40",
            "score.bonus_cap=3",
            "route_threshold=71",
            "tiers.hot=90",
            "cooldown_days=30",
        ] {
            let other = cfg.with_overrides(&[set.to_string()]).expect(set);
            assert_eq!(
                key(&other, &[1, 2]).as_deref(),
                Some(base.as_str()),
                "{set}"
            );
        }
    }
}
