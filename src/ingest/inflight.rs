//! The file being ingested, marked on disk (`STATE/ingest.inflight`) before its processing
//! starts and cleared when it ends, however it ends. A marker found at start-up names a file
//! the daemon died on (out of memory, a crash, a kill, a power cut). It is tried once more
//! (a power cut or an operator's kill must not cost a good snapshot); if the daemon dies on
//! it again, the next start quarantines it (code `ingest_crashed`) before anything else, so
//! one file can never crash-loop the box.
//!
//! Format (written atomically): `noodepd-ingest-inflight v1`, `attempts=N`, `path=...` (the
//! path as bytes in hex, so any file name round-trips).

use crate::fsutil::write_atomic;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// File name of the marker in the state directory.
pub const MARKER_FILE: &str = "ingest.inflight";
/// Deaths on one file after which it is quarantined at the next start.
pub const MAX_ATTEMPTS: u32 = 2;

/// What a marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inflight {
    pub path: PathBuf,
    /// How many processing attempts of this file were started (and, found at start-up,
    /// never finished).
    pub attempts: u32,
}

fn encode(m: &Inflight) -> String {
    format!(
        "noodepd-ingest-inflight v1\nattempts={}\npath={}\n",
        m.attempts,
        crate::audit::hex(m.path.as_os_str().as_bytes())
    )
}

fn decode(text: &str) -> Option<Inflight> {
    let mut lines = text.lines();
    if lines.next()? != "noodepd-ingest-inflight v1" {
        return None;
    }
    let attempts: u32 = lines.next()?.strip_prefix("attempts=")?.parse().ok()?;
    let hex = lines.next()?.strip_prefix("path=")?;
    if hex.len() % 2 != 0 || hex.len() > 8192 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    Some(Inflight {
        path: PathBuf::from(OsString::from_vec(bytes?)),
        attempts,
    })
}

/// The marker left by a run that died while processing, if any. A marker that cannot be
/// read is removed (it names nothing usable).
pub(super) fn take_left_over(state: &Path) -> Option<Inflight> {
    let p = state.join(MARKER_FILE);
    let text = std::fs::read(&p).ok()?;
    let m = std::str::from_utf8(&text).ok().and_then(decode);
    if m.is_none() {
        let _ = std::fs::remove_file(&p);
    }
    m
}

/// Marks `path` as being processed, for attempt `attempts`.
pub(super) fn mark(state: &Path, path: &Path, attempts: u32) -> std::io::Result<()> {
    write_atomic(
        &state.join(MARKER_FILE),
        encode(&Inflight {
            path: path.to_owned(),
            attempts,
        })
        .as_bytes(),
    )
}

/// Clears the marker (processing ended, whatever the outcome).
pub(super) fn clear(state: &Path) {
    match std::fs::remove_file(state.join(MARKER_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot clear the ingest marker in {}: {e}", state.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_any_file_name_and_garbage_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let odd = PathBuf::from(OsString::from_vec(b"/in/box/a\nb\xff.snap".to_vec()));
        mark(d.path(), &odd, 2).unwrap();
        assert_eq!(
            take_left_over(d.path()),
            Some(Inflight {
                path: odd,
                attempts: 2
            })
        );
        clear(d.path());
        assert_eq!(take_left_over(d.path()), None);
        std::fs::write(d.path().join(MARKER_FILE), "garbage").unwrap();
        assert_eq!(take_left_over(d.path()), None);
        assert!(!d.path().join(MARKER_FILE).exists());
    }
}
