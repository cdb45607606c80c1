//! The chain-head anchor: the last entry's id and hash (and `keyed_from`) written atomically
//! to `audit.head` beside the log after every append, so deleting the last entries is detected.

use super::error::AuditError;
use super::hex::is_hex64;
use std::path::{Path, PathBuf};

/// File name of the chain-head anchor inside the state directory.
pub(crate) const HEAD_FILE: &str = "audit.head";

/// The chain head as written to [`HEAD_FILE`] after every append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub id: i64,
    pub hash: String,
    /// The log's first keyed entry (version 2 of the file; None in version 1).
    pub keyed_from: Option<i64>,
}

impl Anchor {
    pub(super) fn encode(&self) -> String {
        match self.keyed_from {
            None => format!(
                "noodepd-audit-head v1\nid={}\nhash={}\n",
                self.id, self.hash
            ),
            Some(k) => format!(
                "noodepd-audit-head v2\nid={}\nhash={}\nkeyed_from={k}\n",
                self.id, self.hash
            ),
        }
    }

    /// Parses the anchor file's text strictly (version 1 or 2).
    pub(crate) fn parse(text: &str) -> Option<Anchor> {
        let mut lines = text.lines();
        let v2 = match lines.next()? {
            "noodepd-audit-head v1" => false,
            "noodepd-audit-head v2" => true,
            _ => return None,
        };
        let id: i64 = lines.next()?.strip_prefix("id=")?.parse().ok()?;
        let hash = lines.next()?.strip_prefix("hash=")?;
        let keyed_from = if v2 {
            let k: i64 = lines.next()?.strip_prefix("keyed_from=")?.parse().ok()?;
            (k >= 1).then_some(k)?;
            Some(k)
        } else {
            None
        };
        if lines.next().is_some() || id < 0 || !is_hex64(hash) {
            return None;
        }
        Some(Anchor {
            id,
            hash: hash.to_owned(),
            keyed_from,
        })
    }

    /// Reads the anchor beside a log file (`Ok(None)` when there is none).
    pub(crate) fn read(log_path: &Path) -> Result<Option<Result<Anchor, String>>, AuditError> {
        let path = anchor_path(log_path);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() > 4096 => Ok(Some(Err("anchor file too large".into()))),
            Ok(bytes) => Ok(Some(
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(Anchor::parse)
                    .ok_or_else(|| format!("anchor file {} is malformed", path.display())),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AuditError::Io { path, source }),
        }
    }
}

/// The anchor file beside a log file.
pub(crate) fn anchor_path(log_path: &Path) -> PathBuf {
    log_path.with_file_name(HEAD_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_text_parses_strictly() {
        let a = Anchor {
            id: 7,
            hash: "ab".repeat(32),
            keyed_from: None,
        };
        assert_eq!(Anchor::parse(&a.encode()), Some(a));
        let b = Anchor {
            id: 7,
            hash: "ab".repeat(32),
            keyed_from: Some(3),
        };
        assert!(b.encode().starts_with("noodepd-audit-head v2\n"));
        assert_eq!(Anchor::parse(&b.encode()), Some(b));
        assert!(
            Anchor::parse(&format!(
                "noodepd-audit-head v2\nid=7\nhash={}\nkeyed_from=0\n",
                "ab".repeat(32)
            ))
            .is_none()
        );
        assert!(Anchor::parse("noodepd-audit-head v1\nid=7\nhash=xyz\n").is_none());
        assert!(Anchor::parse("noodepd-audit-head v1\nid=-1\nhash=\n").is_none());
    }
}
