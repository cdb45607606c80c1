//! The appliance and publisher keys as ingest uses them, read once and read again only when
//! a key file changes (modification time, ctime, mode, inode or size), so a rotated or
//! repaired key takes effect without a restart; an unusable key is one problem message
//! with its fix.

use crate::config::KeyPaths;
use crate::keys::{ApplianceSecret, PublisherPublic};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The loaded keys and the modification times they were read at (to notice rotation).
pub(crate) struct Keys {
    pub(super) appliance: ApplianceSecret,
    pub(super) publisher: PublisherPublic,
    stamp: (Option<KeyStamp>, Option<KeyStamp>),
}

/// What identifies a key file's state: a change of any of these (a rewrite, a `chmod`, a
/// replacement by another file) makes ingest read the keys again.
pub(super) type KeyStamp = (SystemTime, i64, i64, u32, u64, u64);

pub(super) fn key_stamp(path: &Path) -> Option<KeyStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.modified().ok()?,
        m.ctime(),
        m.ctime_nsec(),
        m.mode(),
        m.ino(),
        m.len(),
    ))
}

/// The fix for a key file that cannot be used, for the one-line problem message.
pub(super) fn key_fix(e: &crate::keys::KeyError, appliance: bool) -> &'static str {
    match (e, appliance) {
        // The error itself says `chmod 600 FILE`.
        (crate::keys::KeyError::InsecurePermissions { .. }, _) => "",
        (_, true) => {
            " — fix: put this box's appliance.key back (mode 0600, owned by the daemon's \
             user; OPERATIONS.md section 9) or make a new one with `noodepd keygen \
             appliance` and register it with the publisher"
        }
        (_, false) => {
            " — fix: put the publisher's publisher.pub there (re-provision the box with the \
             right --publisher-key, OPERATIONS.md section 4)"
        }
    }
}

/// The keys last read, with the stamps of their files.
#[derive(Default)]
pub(super) struct KeyCache(Mutex<Option<Arc<Keys>>>);

impl KeyCache {
    /// The keys for `paths`: the cached ones while neither file changed, else read again.
    /// Err is the one-line problem message (with its fix); a failed read forgets the cache.
    pub(super) fn get(&self, paths: &KeyPaths) -> Result<Arc<Keys>, String> {
        let kp = paths;
        let stamp = (key_stamp(&kp.appliance_key), key_stamp(&kp.publisher_pub));
        let mut guard = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(k) = guard.as_ref()
            && k.stamp == stamp
        {
            return Ok(k.clone());
        }
        let loaded = ApplianceSecret::read(&kp.appliance_key)
            .map_err(|e| {
                format!(
                    "cannot use the appliance key {}: {e}{}; snapshots wait in the inbox",
                    kp.appliance_key.display(),
                    key_fix(&e, true)
                )
            })
            .and_then(|appliance| {
                PublisherPublic::read(&kp.publisher_pub)
                    .map(|publisher| (appliance, publisher))
                    .map_err(|e| {
                        format!(
                            "cannot use the publisher key {}: {e}{}; snapshots wait in the \
                             inbox",
                            kp.publisher_pub.display(),
                            key_fix(&e, false)
                        )
                    })
            });
        match loaded {
            Ok((appliance, publisher)) => {
                if guard.is_some() {
                    log::info!("key files changed; keys re-read");
                }
                let k = Arc::new(Keys {
                    appliance,
                    publisher,
                    stamp,
                });
                *guard = Some(k.clone());
                Ok(k)
            }
            Err(e) => {
                *guard = None;
                Err(e)
            }
        }
    }
}
