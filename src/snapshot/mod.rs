//! The sealed snapshot file format: [`seal`] (publisher side) and [`open`] (appliance side).
//!
//! A snapshot is zstd-compressed, encrypted in fixed-size chunks with AES-256-GCM in the
//! STREAM construction under a fresh per-snapshot data key, that data key wrapped to each
//! recipient appliance (X25519 + HKDF-SHA256 + AES-256-GCM), and the whole file signed by
//! the publisher (Ed25519). The byte layout is specified in docs/SNAPSHOT-FORMAT.md.
//!
//! Invariants kept by [`open`]: sizes are checked against [`Limits`] before anything else;
//! nothing is decrypted before the signature over header and all ciphertext verifies;
//! decompression never produces more than the limit. This module knows nothing of FHIR.

mod crypto;
mod format;
mod limits;
mod open;
mod seal;

pub use format::{
    DEFAULT_CHUNK_SIZE, FLAG_ALLOW_SHRINK, FORMAT_VERSION, MAGIC, MIN_FORMAT_VERSION, PREAMBLE_LEN,
    RECIPIENT_ENTRY_LEN, SIGNATURE_LEN,
};
pub use limits::{CHUNK_TAG_LEN, LimitKind, Limits, MIN_CHUNK_SIZE};
pub use open::open;
pub use seal::{seal, seal_with};

/// How far ahead of this appliance's clock a snapshot's `data_as_of` / `created_at` may be:
/// ingest refuses a file dated further ahead, and `/ready` reports the served data as dated
/// after the clock (`clock_behind_data`) beyond it.
pub const MAX_CLOCK_AHEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

use crate::keys::KeyId;
use chrono::{DateTime, Utc};
use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// Reads a snapshot file for [`open`], never more than `limits.max_file + 1` bytes (so an
/// oversize file costs no more memory than the limit and `open` reports it as too large).
pub(crate) fn read_bounded(path: &Path, limits: &Limits) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let hint = file
        .metadata()
        .map(|m| m.len().min(limits.max_file.saturating_add(1)))
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    file.take(limits.max_file.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// FHIR R4 clinical data: NDJSON, one Resource or Bundle per line.
    Clinical,
    /// The ward's staff roster (one JSON object).
    Roster,
    /// A mode command (one JSON object).
    ModeCommand,
}

impl PayloadKind {
    /// The byte stored in the header.
    pub fn to_byte(self) -> u8 {
        match self {
            PayloadKind::Clinical => 1,
            PayloadKind::Roster => 2,
            PayloadKind::ModeCommand => 3,
        }
    }

    /// The kind for a header byte, if known.
    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(PayloadKind::Clinical),
            2 => Some(PayloadKind::Roster),
            3 => Some(PayloadKind::ModeCommand),
            _ => None,
        }
    }

    /// Stable lowercase name (as on the command line).
    pub(crate) fn name(self) -> &'static str {
        match self {
            PayloadKind::Clinical => "clinical",
            PayloadKind::Roster => "roster",
            PayloadKind::ModeCommand => "mode-command",
        }
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the payload is compressed before encryption. Version 1 knows only zstd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// One or more zstd frames (RFC 8878), window at most 2^`Limits::max_window_log`.
    Zstd,
}

impl Compression {
    /// The byte stored in the header.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Compression::Zstd => 1,
        }
    }

    /// The compression for a header byte, if known.
    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Stable lowercase name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
        }
    }
}

/// The authenticated header of a snapshot (everything but the key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version (1).
    pub version: u16,
    /// Key id of the publisher's signing key.
    pub publisher: KeyId,
    /// Key ids of the appliances that can open it, in file order.
    pub recipients: Vec<KeyId>,
    /// Ward id (a plain id: letters, digits, `-`, `_`, `.`; 1 to 64 bytes).
    pub ward: String,
    /// Monotonic per-ward sequence number (checked by ingest, not here).
    pub sequence: u64,
    /// When the snapshot was sealed (millisecond precision).
    pub created_at: DateTime<Utc>,
    /// When the data was extracted from the EPD (millisecond precision).
    pub data_as_of: DateTime<Utc>,
    /// What the payload is.
    pub kind: PayloadKind,
    /// How the payload is compressed.
    pub compression: Compression,
    /// Plaintext bytes per chunk (all chunks but the last are exactly this long).
    pub chunk_size: u32,
    /// Number of encrypted chunks (at least 1).
    pub chunk_count: u32,
    /// Length of the compressed payload (the STREAM plaintext).
    pub compressed_len: u64,
    /// Flag (version 2): the publisher sealed this clinical snapshot with `--allow-shrink`,
    /// so ingest accepts it even when it holds no patients or far fewer than are served.
    pub allow_shrink: bool,
}

impl Header {
    /// The header's `flags` byte (version 2).
    pub(crate) fn flags(&self) -> u8 {
        if self.allow_shrink {
            format::FLAG_ALLOW_SHRINK
        } else {
            0
        }
    }
}

/// What the publisher asks to seal.
#[derive(Debug, Clone)]
pub struct SealRequest<'a> {
    /// The ward the snapshot is for; the box refuses a snapshot for another ward.
    pub ward: &'a str,
    /// The publisher's sequence number for this ward; a box accepts only a higher one than it
    /// last accepted.
    pub sequence: u64,
    /// When the publisher sealed it.
    pub created_at: DateTime<Utc>,
    /// The time the data describes (the EPD read); the box shows it as the data's age.
    pub data_as_of: DateTime<Utc>,
    /// What the payload is: clinical FHIR, a roster or a mode command.
    pub kind: PayloadKind,
    /// Plaintext chunk size: [`MIN_CHUNK_SIZE`] ..= the default `Limits::max_chunk_size`.
    pub chunk_size: u32,
    /// Off by default: set only when the publisher means a clinical snapshot to replace
    /// the served ward although it holds no patients or far fewer (a ward closed or
    /// emptied on purpose). Sets the header flag (format version 2); without it a box
    /// refuses such a snapshot as a likely broken export.
    pub allow_shrink: bool,
}

/// A verified, decrypted, decompressed snapshot.
pub struct Opened {
    /// The verified header, as signed by the publisher.
    pub header: Header,
    /// The payload, wiped from memory when dropped.
    pub payload: zeroize::Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the payload: it is patient data.
        f.debug_struct("Opened")
            .field("header", &self.header)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Why a snapshot could not be sealed or was refused. Messages are for IT staff; no
/// snapshot content beyond header values and key fingerprints is ever included.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a noodepd snapshot (the file does not start with the snapshot magic bytes)")]
    /// The file does not start with the snapshot magic bytes.
    NotASnapshot,
    #[error(
        "unknown format version {found} (this noodepd reads versions {MIN_FORMAT_VERSION} to \
         {FORMAT_VERSION}); update noodepd or have the publisher write version \
         {MIN_FORMAT_VERSION} or {FORMAT_VERSION}"
    )]
    /// A format version this build does not read.
    UnknownVersion {
        /// The version in the file.
        found: u16,
    },
    #[error("{what} too large: {actual} exceeds the limit of {limit}")]
    /// A size in the header or the file breaks a [`Limits`] bound, checked before any work.
    TooLarge {
        /// Which limit.
        what: LimitKind,
        /// The size found.
        actual: u64,
        /// The limit it breaks.
        limit: u64,
    },
    #[error(
        "truncated: the file has {actual} bytes but its header promises {expected} (incomplete transfer?)"
    )]
    /// The file is shorter than its header says (an incomplete transfer).
    Truncated {
        /// The size the header promises, in bytes.
        expected: u64,
        /// The file's size, in bytes.
        actual: u64,
    },
    #[error("{extra} unexpected bytes after the end of the snapshot (file has {actual} bytes, expected {expected})", extra = actual.saturating_sub(*expected))]
    /// Bytes follow the last chunk the header announces.
    TrailingData {
        /// The size the header promises, in bytes.
        expected: u64,
        /// The file's size, in bytes.
        actual: u64,
    },
    #[error("malformed header: {0}")]
    /// The header cannot be parsed; the text says which part.
    BadHeader(&'static str),
    #[error(
        "made by publisher key {}, but this appliance trusts publisher {}",
        found.fingerprint(),
        expected.fingerprint()
    )]
    /// Signed by a publisher key other than the one this appliance trusts (`found`,
    /// `expected`).
    WrongPublisher {
        /// The key that signed the file.
        found: KeyId,
        /// The key this appliance trusts.
        expected: KeyId,
    },
    #[error(
        "bad signature (not made by publisher {}, or altered after signing)",
        publisher.fingerprint()
    )]
    /// The signature does not verify under the trusted publisher key: forged or altered.
    BadSignature {
        /// The trusted publisher key it was checked with.
        publisher: KeyId,
    },
    #[error(
        "not addressed to this appliance (key {}); it is for {}",
        appliance.fingerprint(),
        recipients.iter().map(KeyId::fingerprint).collect::<Vec<_>>().join(", ")
    )]
    /// Verified, but no recipient entry is for this appliance's key.
    NotForThisAppliance {
        /// This appliance's key id.
        appliance: KeyId,
        /// The key ids the snapshot is addressed to.
        recipients: Vec<KeyId>,
    },
    #[error(
        "the data key addressed to this appliance cannot be unwrapped ({0}); the publisher made a broken file"
    )]
    /// The data key addressed to this appliance does not unwrap; the text says which step
    /// failed.
    KeyUnwrapFailed(&'static str),
    #[error(
        "corrupt chunk {index} of {count}: decryption failed (damaged, reordered or missing chunks)"
    )]
    /// Chunk `index` of `count` fails to decrypt (damaged, reordered or missing chunks).
    CorruptChunk {
        /// The chunk that failed, counted from 1.
        index: u32,
        /// The number of chunks.
        count: u32,
    },
    #[error("decompression bomb: the payload expands beyond the limit of {limit} bytes")]
    /// The payload decompresses beyond `limit` bytes.
    DecompressionBomb {
        /// The payload limit in bytes for its kind.
        limit: u64,
    },
    #[error("payload is not valid {compression} data: {message}")]
    /// The decrypted payload is not valid data of the header's compression.
    BadCompression {
        /// The compression named in the header.
        compression: &'static str,
        /// The decompressor's message.
        message: String,
    },
    #[error("cannot seal: {0}")]
    /// Sealing refused: the request is invalid (the text says why).
    InvalidRequest(String),
    #[error("cannot seal: {0}")]
    /// Sealing failed in a cryptographic step (the text says which).
    Crypto(&'static str),
}

impl SnapshotError {
    /// A short stable code for metrics, logs and quarantine file names.
    pub fn code(&self) -> &'static str {
        match self {
            SnapshotError::NotASnapshot => "not_a_snapshot",
            SnapshotError::UnknownVersion { .. } => "unknown_version",
            SnapshotError::TooLarge { .. } => "too_large",
            SnapshotError::Truncated { .. } => "truncated",
            SnapshotError::TrailingData { .. } => "trailing_data",
            SnapshotError::BadHeader(_) => "bad_header",
            SnapshotError::WrongPublisher { .. } => "wrong_publisher",
            SnapshotError::BadSignature { .. } => "bad_signature",
            SnapshotError::NotForThisAppliance { .. } => "not_for_this_appliance",
            SnapshotError::KeyUnwrapFailed(_) => "key_unwrap_failed",
            SnapshotError::CorruptChunk { .. } => "corrupt_chunk",
            SnapshotError::DecompressionBomb { .. } => "decompression_bomb",
            SnapshotError::BadCompression { .. } => "bad_compression",
            SnapshotError::InvalidRequest(_) => "invalid_request",
            SnapshotError::Crypto(_) => "crypto_failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_distinct_snake_case() {
        let id = KeyId([0; 8]);
        let all = [
            SnapshotError::NotASnapshot,
            SnapshotError::UnknownVersion { found: 9 },
            SnapshotError::TooLarge {
                what: LimitKind::File,
                actual: 2,
                limit: 1,
            },
            SnapshotError::Truncated {
                expected: 2,
                actual: 1,
            },
            SnapshotError::TrailingData {
                expected: 1,
                actual: 2,
            },
            SnapshotError::BadHeader("x"),
            SnapshotError::WrongPublisher {
                found: id,
                expected: id,
            },
            SnapshotError::BadSignature { publisher: id },
            SnapshotError::NotForThisAppliance {
                appliance: id,
                recipients: vec![id],
            },
            SnapshotError::KeyUnwrapFailed("x"),
            SnapshotError::CorruptChunk { index: 1, count: 1 },
            SnapshotError::DecompressionBomb { limit: 1 },
            SnapshotError::BadCompression {
                compression: "zstd",
                message: "x".into(),
            },
            SnapshotError::InvalidRequest("x".into()),
            SnapshotError::Crypto("x"),
        ];
        let mut codes: Vec<&str> = all.iter().map(SnapshotError::code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        for e in &all {
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn read_bounded_stops_after_the_file_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.snap");
        std::fs::write(&path, vec![0u8; 5000]).unwrap();
        let limits = Limits {
            max_file: 1000,
            ..Limits::default()
        };
        let bytes = read_bounded(&path, &limits).unwrap();
        assert_eq!(bytes.len(), 1001);
        let appliance = crate::keys::ApplianceSecret::from_bytes(&[1; 32]);
        let publisher = crate::keys::PublisherSecret::from_bytes(&[2; 32]).public();
        let err = open(&bytes, &appliance, &publisher, &limits).unwrap_err();
        assert!(matches!(
            err,
            SnapshotError::TooLarge {
                what: LimitKind::File,
                ..
            }
        ));
    }
}
