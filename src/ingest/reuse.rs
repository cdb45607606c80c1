//! Start-up from the last generation: after every swap the ingest side records which file
//! is served and what it was built from ([`LastServed`] in the state directory); at
//! start-up [`Ingestor::reuse_last`] serves that file again instead of mapping the newest
//! kept snapshot anew, only when all of this holds:
//!
//! 1. the record names the newest kept clinical snapshot (name and sequence), this ward,
//!    and this binary with this config's mapping settings ([`Ingestor::built_by`]);
//! 2. that kept snapshot opens now exactly as for a rebuild (signature with the current
//!    publisher key, decryption with the current appliance key, ward, limits), its header
//!    has the recorded sequence and its sealed bytes hash to the recorded SHA-256;
//! 3. the generation file hashes, whole, to the SHA-256 recorded when it was built and then
//!    opens as at build time ([`crate::store::Store::reopen`]).
//!
//! 4. the generation's next change moment (recorded with it: the earliest moment at which
//!    a treatment's state decided at its mapping's `now` can change, see
//!    [`crate::record::change`]) has not passed.
//!
//! (1) and (2) make it the generation a rebuild would produce now, but for the mapping's
//! clock; (4) closes that gap: no state in it can have changed since it was mapped (a
//! course ending or starting, a planned stop or pause), so it shows what a rebuild now
//! would show. When the moment has passed the kept snapshot is mapped anew with the
//! current clock. (3) is the check the running daemon makes every few seconds against the
//! digest it keeps in memory, here against the digest kept in the state directory, so a
//! file changed on the tmpfs is refused (and removed) and the kept snapshot is mapped as
//! before.

use super::keep::{self, KeptKind};
use super::keycache::Keys;
use super::pipeline::*;
use super::recovery::Recovered;
use crate::snapshot::PayloadKind;
use crate::status::code;
use crate::store::{Generation, LastServed};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Instant;

impl Ingestor {
    /// The binary (version, and the executable's size, change time and inode) and the
    /// config settings that shape a generation: a generation built by anything else is not
    /// reused.
    pub(super) fn built_by(&self) -> String {
        use std::os::unix::fs::MetadataExt;
        let exe = std::fs::metadata("/proc/self/exe")
            .map(|m| format!("{} {} {}.{}", m.len(), m.ino(), m.mtime(), m.mtime_nsec()))
            .unwrap_or_else(|e| format!("unknown ({e})"));
        let c = &self.shared.config;
        format!(
            "noodepd {} exe {exe}; ward {:?}; administration window {} s; observation \
             window {} s; memory {} B",
            env!("CARGO_PKG_VERSION"),
            c.ward,
            c.data.administration_window.as_secs(),
            c.data.observation_window.as_secs(),
            c.data.memory_max
        )
    }

    /// Records `g`, built from the kept clinical snapshot of sequence `kept` with sealed
    /// `bytes`, as the generation served (after the swap). A failure only costs the next
    /// start-up its shortcut.
    pub(super) fn record_served(&self, g: &Generation, kept: u64, bytes: &[u8]) {
        let m = g.meta();
        let last = LastServed {
            file: g.file_name(),
            file_sha256: g.file_sha256(),
            ward: m.ward.clone(),
            sequence: m.sequence,
            kept: keep::kept_name(KeptKind::Clinical, kept),
            kept_sha256: crate::store::last::hex(&Sha256::digest(bytes)),
            built_by: self.built_by(),
            next_change: m.next_change,
        };
        if let Err(e) = last.save(&self.shared.config.paths.state) {
            log::warn!("cannot record the served generation (the next start maps again): {e}");
        }
    }

    /// At start-up: serves the generation recorded last again when it may be (module
    /// docs); true when it does. `kept` is the kept clinical snapshots, newest first.
    pub(super) fn reuse_last(
        &self,
        keys: &Keys,
        kept: &[(u64, PathBuf)],
        out: &mut Recovered,
    ) -> bool {
        let state = &self.shared.config.paths.state;
        let Some(last) = LastServed::load(state) else {
            return false;
        };
        let t = Instant::now();
        match self.check_last(keys, kept, &last) {
            Ok(g) => {
                let seq = last.sequence;
                self.shared.store.swap(g);
                self.commit_sequence(seq);
                self.set_problem(code::NO_USABLE_KEPT_SNAPSHOT, None);
                log::info!(
                    "served generation of kept snapshot {} (sequence {seq}) reused after its \
                     checks in {} ms",
                    last.kept,
                    t.elapsed().as_millis()
                );
                out.generation = Some(seq);
                // The reused generation is the newest kept snapshot's (check 1).
                self.prune_kept_clinical();
                true
            }
            Err(why) => {
                log::info!("the last generation is not reused ({why}); mapping the kept snapshot");
                if let Err(e) = LastServed::clear(state) {
                    log::warn!("cannot remove the record of the last generation: {e}");
                }
                false
            }
        }
    }

    fn check_last(
        &self,
        keys: &Keys,
        kept: &[(u64, PathBuf)],
        last: &LastServed,
    ) -> Result<std::sync::Arc<Generation>, String> {
        let Some((seq, path)) = kept.first() else {
            return Err("no kept snapshot".into());
        };
        let newest = keep::kept_name(KeptKind::Clinical, *seq);
        if last.kept != newest {
            return Err(format!(
                "it was built from {}, the newest kept snapshot is {newest}",
                last.kept
            ));
        }
        if last.ward != self.shared.config.ward {
            return Err(format!("it is for ward {:?}", last.ward));
        }
        if last.built_by != self.built_by() {
            return Err("another binary or other mapping settings built it".into());
        }
        if let Some(at) = last.next_change
            && at <= chrono::Utc::now()
        {
            return Err(format!(
                "its states changed at {} (a course ended, started, stopped or paused since \
                 it was mapped)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        let (opened, bytes) = self.open_kept(keys, path, PayloadKind::Clinical)?;
        if opened.header.sequence != last.sequence {
            return Err(format!(
                "the kept snapshot holds sequence {}, recorded {}",
                opened.header.sequence, last.sequence
            ));
        }
        if crate::store::last::hex(&Sha256::digest(&bytes)) != last.kept_sha256 {
            return Err("the kept snapshot is not the one it was built from".into());
        }
        drop(opened);
        self.shared.store.reopen(last).map_err(|e| e.to_string())
    }
}
