//! Keeping secrets secret: a server's text is redacted before it reaches an error, the log or
//! the stored run report (a misbehaving server may echo the request, bearer header included),
//! files that hold workspace data or secrets are created readable by the owner only, and a
//! credentials file that others can read is reported.

use std::borrow::Cow;
use std::path::Path;

/// What stands in for a secret.
pub const REDACTED: &str = "<redacted>";

/// The shortest piece of a secret that is redacted when a text ends in it (a server's text cut
/// to length can end part-way through an echoed key).
const MIN_PIECE: usize = 8;

/// `text` with every occurrence of `secret` replaced by [`REDACTED`], and a trailing piece of
/// it (the text was cut short) too. Secrets shorter than 8 characters are still redacted where
/// they occur whole.
pub fn redact<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if secret.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = if text.contains(secret) {
        Cow::Owned(text.replace(secret, REDACTED))
    } else {
        Cow::Borrowed(text)
    };
    // A cut: the text (maybe with an ellipsis after it) ends in the start of the secret.
    let body = out.trim_end_matches('…');
    let cut = (MIN_PIECE..secret.len())
        .rev()
        .filter(|&n| secret.is_char_boundary(n))
        .find(|&n| body.ends_with(&secret[..n]));
    if let Some(n) = cut {
        let keep = body.len() - n;
        let rest = out[body.len()..].to_string();
        out = Cow::Owned(format!("{}{REDACTED}{rest}", &out[..keep]));
    }
    out
}

/// Opens `path` for appending, creating it readable and writable by the owner only (0600).
/// An existing file keeps its mode.
pub fn open_private_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    private(&mut opts);
    opts.open(path)
}

/// Creates `path` empty with mode 0600 when it does not exist yet (SQLite then keeps the mode
/// for its `-wal` and `-shm` files).
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    private(&mut opts);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn private(opts: &mut std::fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    opts.mode(0o600);
}

#[cfg(not(unix))]
fn private(_: &mut std::fs::OpenOptions) {}

/// Reads a file of secrets. When others than its owner can read or write it, a warning says so
/// (to stderr in headless runs, and to the log) with the command that fixes it.
pub fn read_credentials(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    if let Some(mode) = loose_mode(path) {
        tracing::warn!(
            "{} holds secrets but others can access it (mode {mode:03o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(text)
}

/// The permission bits of `path` when group or others have any access to it.
pub fn loose_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// True for a plain `http://` URL whose host is not this machine (`localhost`, `127.0.0.0/8`,
/// `[::1]`): a key sent there travels unencrypted.
pub fn plain_http_to_remote(url: &str) -> bool {
    let Some(rest) = url
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    !local
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_redacted_whole_and_where_a_cut_left_part_of_it() {
        let key = "phx_canary_0123456789abcdef";
        assert_eq!(
            redact(&format!("echo: Bearer {key}; again {key}"), key),
            "echo: Bearer <redacted>; again <redacted>"
        );
        assert_eq!(
            redact("echo: Bearer phx_canary_012…", key),
            "echo: Bearer <redacted>…"
        );
        assert_eq!(
            redact("ends in phx_", key),
            "ends in phx_",
            "too short a piece to tell"
        );
        assert!(matches!(redact("nothing here", key), Cow::Borrowed(_)));
        assert_eq!(redact("x", ""), "x");
    }

    #[test]
    fn plain_http_is_for_this_machine_only() {
        for remote in [
            "http://us.posthog.com",
            "HTTP://ph.example.com:8000/x",
            "http://10.0.0.5",
            "http://localhost.evil.com",
            "http://127.0.0.1.nip.io",
            "http://user@ph.example.com",
        ] {
            assert!(plain_http_to_remote(remote), "{remote}");
        }
        for fine in [
            "https://us.posthog.com",
            "http://localhost:8000",
            "http://127.0.0.1:39211/",
            "http://127.8.0.1",
            "http://[::1]:8000",
        ] {
            assert!(!plain_http_to_remote(fine), "{fine}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_and_loose_ones_are_seen() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("beton.log");
        drop(open_private_append(&log).unwrap());
        let db = dir.path().join("w.sqlite");
        create_private(&db).unwrap();
        for p in [&log, &db] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
            assert_eq!(loose_mode(p), None);
        }
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose_mode(&db), Some(0o644));
    }
}
