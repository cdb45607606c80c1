//! The byte layout of a snapshot (versions 1 and 2): constants, header encoding and the
//! strict header parser. See docs/SNAPSHOT-FORMAT.md; keep the two in step. Version 2 is
//! version 1 with one `flags` byte at the end of the header; `seal` writes version 1 when
//! no flag is set, so boxes that read only version 1 keep reading ordinary snapshots.
//!
//! ```text
//! preamble  magic "NOODSNAP" (8) | version u16 BE (2) | header_len u32 BE (4)
//! header    header_len bytes, fields below, big-endian, no padding, nothing left over
//! body      chunk_count AES-256-GCM STREAM chunks (chunk_size + 16 bytes, last shorter)
//! signature Ed25519 over every byte before it (64)
//! ```

use super::limits::{CHUNK_TAG_LEN, LimitKind, Limits, MIN_CHUNK_SIZE};
use super::{Compression, Header, PayloadKind, SnapshotError};
use crate::keys::KeyId;
use chrono::{DateTime, Utc};

/// The first 8 bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"NOODSNAP";
/// The newest format version this code writes and reads (2: with the `flags` byte).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this code reads (1: no `flags` byte, read as no flags).
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Header flag (version 2): the publisher allows this clinical snapshot to hold far fewer
/// patients than the box serves, or none (`seal --allow-shrink`).
pub const FLAG_ALLOW_SHRINK: u8 = 0x01;
/// Every flag this code knows; a header with another bit set is refused.
pub(super) const KNOWN_FLAGS: u8 = FLAG_ALLOW_SHRINK;
/// Magic + version + header_len.
pub const PREAMBLE_LEN: usize = 14;
/// Ed25519 signature at the end of the file.
pub const SIGNATURE_LEN: usize = 64;
/// The STREAM nonce prefix (AES-GCM's 12-byte nonce minus STREAM's 5 bytes).
pub(super) const STREAM_NONCE_LEN: usize = 7;
/// A wrapped data key: 32 bytes of AES-256-GCM ciphertext + 16-byte tag.
pub(super) const WRAPPED_KEY_LEN: usize = 48;
/// One recipient entry: key id + wrapped data key.
pub const RECIPIENT_ENTRY_LEN: usize = 8 + WRAPPED_KEY_LEN;
/// Chunk size `seal` uses unless told otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Longest ward id.
pub(super) const MAX_WARD_LEN: usize = 64;
/// The header bytes before the ward id.
pub(super) const FIXED_HEADER_LEN: usize = 8 + 8 + 8 + 8 + 1 + 1 + 4 + 8 + 4 + STREAM_NONCE_LEN + 1;
/// HKDF-SHA256 `info` prefix for the key-encryption key; followed by the ephemeral and the
/// recipient X25519 public keys (32 bytes each).
pub(super) const KEY_WRAP_INFO: &[u8] = b"noodepd snapshot v1 data key wrap";

/// One recipient entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecipientEntry {
    pub key_id: KeyId,
    pub wrapped: [u8; WRAPPED_KEY_LEN],
}

/// The header with its key material, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawHeader {
    pub header: Header,
    pub stream_nonce: [u8; STREAM_NONCE_LEN],
    pub ephemeral: [u8; 32],
    pub entries: Vec<RecipientEntry>,
}

/// Number of chunks for a compressed length: ceil(compressed_len / chunk_size).
pub(super) fn chunk_count_for(compressed_len: u64, chunk_size: u32) -> Option<u64> {
    (chunk_size > 0).then(|| compressed_len.div_ceil(u64::from(chunk_size)))
}

/// Length of the body: the compressed payload plus one tag per chunk.
pub(super) fn body_len(compressed_len: u64, chunk_count: u32) -> Option<u64> {
    compressed_len.checked_add(u64::from(chunk_count).checked_mul(CHUNK_TAG_LEN as u64)?)
}

/// Whether a ward id is plain (the same rule as the config's ids).
pub(super) fn ward_is_valid(ward: &str) -> bool {
    ward.len() <= MAX_WARD_LEN && crate::config::check_id(ward).is_ok()
}

/// Serialises a header.
pub(super) fn encode_header(raw: &RawHeader) -> Vec<u8> {
    let h = &raw.header;
    let mut out = Vec::with_capacity(
        FIXED_HEADER_LEN + h.ward.len() + 33 + raw.entries.len() * RECIPIENT_ENTRY_LEN,
    );
    out.extend_from_slice(&h.publisher.0);
    out.extend_from_slice(&h.created_at.timestamp_millis().to_be_bytes());
    out.extend_from_slice(&h.data_as_of.timestamp_millis().to_be_bytes());
    out.extend_from_slice(&h.sequence.to_be_bytes());
    out.push(h.kind.to_byte());
    out.push(h.compression.to_byte());
    out.extend_from_slice(&h.chunk_size.to_be_bytes());
    out.extend_from_slice(&h.compressed_len.to_be_bytes());
    out.extend_from_slice(&h.chunk_count.to_be_bytes());
    out.extend_from_slice(&raw.stream_nonce);
    // Ward length is checked (<= 64) by the caller.
    out.push(u8::try_from(h.ward.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(h.ward.as_bytes());
    out.extend_from_slice(&raw.ephemeral);
    out.push(u8::try_from(raw.entries.len()).unwrap_or(u8::MAX));
    for e in &raw.entries {
        out.extend_from_slice(&e.key_id.0);
        out.extend_from_slice(&e.wrapped);
    }
    if h.version >= 2 {
        out.push(h.flags());
    }
    out
}

/// Reads fixed-size fields off the front of a byte slice.
struct Cursor<'a> {
    rest: &'a [u8],
}

const ENDS_EARLY: SnapshotError = SnapshotError::BadHeader("header ends before its last field");

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.rest.len() < n {
            return Err(ENDS_EARLY);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        self.take(N)?.try_into().map_err(|_| ENDS_EARLY)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn time(&mut self) -> Result<DateTime<Utc>, SnapshotError> {
        let ms = i64::from_be_bytes(self.array()?);
        DateTime::from_timestamp_millis(ms)
            .ok_or(SnapshotError::BadHeader("timestamp out of range"))
    }
}

/// The preamble's fields after the magic and version checks.
pub(super) struct Preamble {
    pub version: u16,
    pub header_len: u32,
}

/// Checks magic, version and header length (in that order).
pub(super) fn parse_preamble(bytes: &[u8], limits: &Limits) -> Result<Preamble, SnapshotError> {
    let magic_part = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..magic_part.len()) != Some(magic_part) {
        return Err(SnapshotError::NotASnapshot);
    }
    let too_short = || SnapshotError::Truncated {
        expected: PREAMBLE_LEN as u64,
        actual: bytes.len() as u64,
    };
    let mut c = Cursor {
        rest: bytes.get(MAGIC.len()..).ok_or_else(too_short)?,
    };
    let version = u16::from_be_bytes(c.array().map_err(|_| too_short())?);
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(SnapshotError::UnknownVersion { found: version });
    }
    let header_len = c.u32().map_err(|_| too_short())?;
    if header_len > limits.max_header {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::Header,
            actual: u64::from(header_len),
            limit: u64::from(limits.max_header),
        });
    }
    Ok(Preamble {
        version,
        header_len,
    })
}

/// Parses exactly one header of format `version` (from the preamble), strictly: every
/// field valid, no unknown flag, nothing left over.
pub(super) fn parse_header(
    h: &[u8],
    version: u16,
    limits: &Limits,
) -> Result<RawHeader, SnapshotError> {
    let mut c = Cursor { rest: h };
    let publisher = KeyId(c.array()?);
    let created_at = c.time()?;
    let data_as_of = c.time()?;
    let sequence = c.u64()?;
    let kind =
        PayloadKind::from_byte(c.u8()?).ok_or(SnapshotError::BadHeader("unknown payload kind"))?;
    let compression =
        Compression::from_byte(c.u8()?).ok_or(SnapshotError::BadHeader("unknown compression"))?;
    let chunk_size = c.u32()?;
    if chunk_size > limits.max_chunk_size {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::ChunkSize,
            actual: u64::from(chunk_size),
            limit: u64::from(limits.max_chunk_size),
        });
    }
    if chunk_size < MIN_CHUNK_SIZE {
        return Err(SnapshotError::BadHeader(
            "chunk size below the minimum of 256",
        ));
    }
    let compressed_len = c.u64()?;
    if compressed_len == 0 {
        return Err(SnapshotError::BadHeader("compressed payload is empty"));
    }
    if compressed_len > limits.max_compressed {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::Compressed,
            actual: compressed_len,
            limit: limits.max_compressed,
        });
    }
    let chunk_count = c.u32()?;
    if chunk_count > limits.max_chunks {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::ChunkCount,
            actual: u64::from(chunk_count),
            limit: u64::from(limits.max_chunks),
        });
    }
    if chunk_count_for(compressed_len, chunk_size) != Some(u64::from(chunk_count)) {
        return Err(SnapshotError::BadHeader(
            "chunk count does not match compressed length and chunk size",
        ));
    }
    let stream_nonce = c.array()?;
    let ward_len = usize::from(c.u8()?);
    let ward = std::str::from_utf8(c.take(ward_len)?)
        .map_err(|_| SnapshotError::BadHeader("ward id is not UTF-8"))?;
    if !ward_is_valid(ward) {
        return Err(SnapshotError::BadHeader(
            "ward id is empty, too long or has characters other than letters, digits, '-', '_', '.'",
        ));
    }
    let ephemeral = c.array()?;
    let count = c.u8()?;
    if count > limits.max_recipients {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::Recipients,
            actual: u64::from(count),
            limit: u64::from(limits.max_recipients),
        });
    }
    if count == 0 {
        return Err(SnapshotError::BadHeader("no recipients"));
    }
    let mut entries: Vec<RecipientEntry> = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let key_id = KeyId(c.array()?);
        let wrapped = c.array()?;
        if entries.iter().any(|e| e.key_id == key_id) {
            return Err(SnapshotError::BadHeader("recipient listed twice"));
        }
        entries.push(RecipientEntry { key_id, wrapped });
    }
    let flags = if version >= 2 { c.u8()? } else { 0 };
    if flags & !KNOWN_FLAGS != 0 {
        return Err(SnapshotError::BadHeader("unknown flag set"));
    }
    if !c.rest.is_empty() {
        return Err(SnapshotError::BadHeader(
            "bytes left over after the last field",
        ));
    }
    Ok(RawHeader {
        header: Header {
            version,
            publisher,
            recipients: entries.iter().map(|e| e.key_id).collect(),
            ward: ward.to_owned(),
            sequence,
            created_at,
            data_as_of,
            kind,
            compression,
            chunk_size,
            chunk_count,
            compressed_len,
            allow_shrink: flags & FLAG_ALLOW_SHRINK != 0,
        },
        stream_nonce,
        ephemeral,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RawHeader {
        let t = DateTime::from_timestamp_millis(1_790_000_000_123).unwrap();
        RawHeader {
            header: Header {
                version: 1,
                publisher: KeyId([1; 8]),
                recipients: vec![KeyId([2; 8]), KeyId([3; 8])],
                ward: "A3".into(),
                sequence: 42,
                created_at: t,
                data_as_of: t,
                kind: PayloadKind::Clinical,
                compression: Compression::Zstd,
                chunk_size: 1000,
                chunk_count: 3,
                compressed_len: 2500,
                allow_shrink: false,
            },
            stream_nonce: [9; 7],
            ephemeral: [8; 32],
            entries: vec![
                RecipientEntry {
                    key_id: KeyId([2; 8]),
                    wrapped: [4; 48],
                },
                RecipientEntry {
                    key_id: KeyId([3; 8]),
                    wrapped: [5; 48],
                },
            ],
        }
    }

    #[test]
    fn header_round_trips_with_documented_length() {
        let raw = sample();
        let bytes = encode_header(&raw);
        assert_eq!(
            bytes.len(),
            FIXED_HEADER_LEN + 2 + 32 + 1 + 2 * RECIPIENT_ENTRY_LEN
        );
        assert_eq!(FIXED_HEADER_LEN, 58);
        assert_eq!(parse_header(&bytes, 1, &Limits::default()).unwrap(), raw);
    }

    #[test]
    fn header_parse_rejects_every_truncation_and_extension() {
        let bytes = encode_header(&sample());
        for n in 0..bytes.len() {
            assert!(
                parse_header(&bytes[..n], 1, &Limits::default()).is_err(),
                "{n}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            parse_header(&longer, 1, &Limits::default()),
            Err(SnapshotError::BadHeader(_))
        ));
    }

    #[test]
    fn header_parse_rejects_inconsistent_chunk_count() {
        let mut raw = sample();
        raw.header.chunk_count = 4;
        assert!(matches!(
            parse_header(&encode_header(&raw), 1, &Limits::default()),
            Err(SnapshotError::BadHeader(_))
        ));
    }

    #[test]
    fn header_parse_rejects_duplicate_recipient_and_bad_ward() {
        let mut raw = sample();
        raw.entries[1].key_id = raw.entries[0].key_id;
        assert!(matches!(
            parse_header(&encode_header(&raw), 1, &Limits::default()),
            Err(SnapshotError::BadHeader("recipient listed twice"))
        ));
        let mut raw = sample();
        raw.header.ward = "../etc".into();
        assert!(matches!(
            parse_header(&encode_header(&raw), 1, &Limits::default()),
            Err(SnapshotError::BadHeader(_))
        ));
    }

    #[test]
    fn version_2_header_carries_the_allow_shrink_flag_in_a_last_byte() {
        let mut raw = sample();
        raw.header.version = 2;
        raw.header.allow_shrink = true;
        let bytes = encode_header(&raw);
        assert_eq!(bytes.len(), encode_header(&sample()).len() + 1);
        assert_eq!(bytes.last(), Some(&FLAG_ALLOW_SHRINK));
        assert_eq!(parse_header(&bytes, 2, &Limits::default()).unwrap(), raw);
        // The same bytes read as version 1 have one byte left over.
        assert!(matches!(
            parse_header(&bytes, 1, &Limits::default()),
            Err(SnapshotError::BadHeader(_))
        ));
        raw.header.allow_shrink = false;
        let plain = encode_header(&raw);
        assert_eq!(plain.last(), Some(&0));
        assert_eq!(parse_header(&plain, 2, &Limits::default()).unwrap(), raw);
        for bit in 1..8 {
            let mut unknown = plain.clone();
            *unknown.last_mut().unwrap() = 1 << bit;
            assert!(matches!(
                parse_header(&unknown, 2, &Limits::default()),
                Err(SnapshotError::BadHeader("unknown flag set"))
            ));
        }
    }
}
