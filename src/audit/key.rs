//! The access log's chain key: 32 random bytes in their own file (`STATE/audit.key` by
//! default, `keys.audit_key`), mode 0600, never logged. Entries from the log's `keyed_from`
//! id on are chained with HMAC-SHA256 under this key instead of plain SHA-256, so whoever
//! can write the database but not read this file cannot append an entry, rewrite one, or
//! hide a deletion behind a forged retention entry without `verify` noticing (docs/AUDIT.md).
//!
//! File format: one line `noodepd-audit-key-v1 <64 lower-case hex digits>`.

use super::error::AuditError;
use super::hex::hex;
use hkdf::hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

const TAG: &str = "noodepd-audit-key-v1";

/// The chain key (wiped from memory when dropped).
pub struct AuditKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl Clone for AuditKey {
    fn clone(&self) -> Self {
        AuditKey {
            bytes: Zeroizing::new(*self.bytes),
        }
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> AuditError {
    AuditError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl AuditKey {
    /// HMAC-SHA256 under this key of `parts`, concatenated.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(self.bytes.as_ref()) {
            Ok(m) => m,
            // HMAC takes keys of any length: unreachable. An all-zero MAC never verifies.
            Err(_) => return [0; 32],
        };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Reads the key file strictly; refuses one that other users can read.
    pub(crate) fn read(path: &Path) -> Result<AuditKey, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(io)?;
        let mode = f.metadata().map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(invalid(
                path,
                format!(
                    "the access log key is mode {mode:04o}: readable by other users — fix: \
                     chmod 600 {}",
                    path.display()
                ),
            ));
        }
        let mut text = Zeroizing::new(String::new());
        f.take(256).read_to_string(&mut text).map_err(io)?;
        let hex = text
            .trim_end()
            .strip_prefix(TAG)
            .and_then(|r| r.strip_prefix(' '))
            .filter(|h| h.len() == 64)
            .ok_or_else(|| invalid(path, "not a noodepd access log key file"))?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        for (i, b) in bytes.iter_mut().enumerate() {
            let pair = hex
                .get(2 * i..2 * i + 2)
                .ok_or_else(|| invalid(path, "not a noodepd access log key file"))?;
            *b = u8::from_str_radix(pair, 16)
                .map_err(|_| invalid(path, "not a noodepd access log key file"))?;
        }
        Ok(AuditKey { bytes })
    }

    /// Makes a new random key and writes it to `path` (0600, created exclusively: an
    /// existing file is never replaced), durably.
    pub(crate) fn create(path: &Path) -> Result<AuditKey, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let line = Zeroizing::new(format!("{TAG} {}\n", hex(bytes.as_ref())));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(io)?;
        f.write_all(line.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(AuditKey { bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_is_private_and_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("audit.key");
        let k = AuditKey::create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = AuditKey::read(&p).unwrap();
        assert_eq!(k.mac(&[b"x"]), again.mac(&[b"x"]));
        assert!(
            AuditKey::create(&p).is_err(),
            "an existing key is never replaced"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            AuditKey::read(&p)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        std::fs::write(d.path().join("bad"), "noodepd-audit-key-v1 zz\n").unwrap();
        std::fs::set_permissions(d.path().join("bad"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert!(AuditKey::read(&d.path().join("bad")).is_err());
        assert!(!format!("{k:?}").contains(&hex(k.bytes.as_ref())));
    }
}
