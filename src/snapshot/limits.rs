//! Size limits applied by [`super::open`] before any work is done, and by [`super::seal`]
//! so that a publisher never writes a file the default appliance would refuse.
//!
//! The payload caps are per kind and enforced *while* decompressing (the decompressor
//! stops at the kind's cap + 1 byte): a roster or a mode command is tiny, so a compressed
//! bomb sealed as either is refused after a few MiB, not after a gigabyte. The clinical
//! cap, and with it the compressed and file caps, is derived from the memory the service
//! may use ([`Limits::for_memory`], the unit's `MemoryMax`): mapping a clinical payload
//! takes up to about 30 times its size in memory for hostile shapes (measured, see
//! docs/SNAPSHOT-FORMAT.md), and the box must still serve while it ingests.
//!
//! The two chunk constants the caps derive from (smallest chunk, tag per chunk) live here,
//! below [`super::format`], so the layout code reads them and this module needs nothing
//! from it.

use super::PayloadKind;
use std::fmt;

/// AES-GCM tag appended to every chunk.
pub const CHUNK_TAG_LEN: usize = 16;
/// Smallest chunk size allowed.
pub const MIN_CHUNK_SIZE: u32 = 256;

/// Which limit a file broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The whole file's size in bytes.
    File,
    /// The header's size in bytes.
    Header,
    /// The number of recipient entries.
    Recipients,
    /// The plaintext size of one chunk.
    ChunkSize,
    /// The number of chunks.
    ChunkCount,
    /// The compressed payload's size in bytes.
    Compressed,
    /// The decompressed payload's size in bytes (per payload kind).
    Payload,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::File => "file (bytes)",
            LimitKind::Header => "header (bytes)",
            LimitKind::Recipients => "recipient list (entries)",
            LimitKind::ChunkSize => "chunk size (bytes)",
            LimitKind::ChunkCount => "chunk count",
            LimitKind::Compressed => "compressed payload (bytes)",
            LimitKind::Payload => "payload (bytes)",
        })
    }
}

/// Every size `open` accepts. The defaults are documented in docs/SNAPSHOT-FORMAT.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whole file, bytes. Default 256 MiB.
    pub max_file: u64,
    /// Header (`header_len`), bytes. Default 8 KiB.
    pub max_header: u32,
    /// Recipient entries. Default 64.
    pub max_recipients: u8,
    /// Plaintext chunk size, bytes. Default 1 MiB (minimum is always 256).
    pub max_chunk_size: u32,
    /// Number of chunks. Default 1,048,576.
    pub max_chunks: u32,
    /// Compressed payload (STREAM plaintext), bytes. Default 256 MiB.
    pub max_compressed: u64,
    /// Decompressed clinical payload, bytes; more is a decompression bomb. Default 21 MiB
    /// (1/48 of the default 1 GiB memory limit).
    pub max_payload: u64,
    /// Decompressed roster payload, bytes. Default 4 MiB (2000 staff with argon2 hashes
    /// take well under 1 MiB).
    pub max_roster_payload: u64,
    /// Decompressed mode-command payload, bytes. Default 4 KiB.
    pub max_mode_payload: u64,
    /// Largest zstd window accepted, as a power of two. Default 24 (16 MiB).
    pub max_window_log: u32,
}

/// The memory limit the defaults are derived from: the `MemoryMax=1G` of the unit.
pub(super) const DEFAULT_MEMORY: u64 = 1024 * 1024 * 1024;
/// Largest roster payload.
pub(super) const MAX_ROSTER_PAYLOAD: u64 = 4 * 1024 * 1024;
/// Largest mode-command payload.
pub(super) const MAX_MODE_PAYLOAD: u64 = 4 * 1024;
/// The clinical payload cap is the memory limit divided by this.
pub(super) const MEMORY_PER_PAYLOAD_BYTE: u64 = 48;

impl Limits {
    /// The limits for a service allowed `memory` bytes: clinical payload `memory / 48`;
    /// compressed payload at most that plus zstd's worst-case overhead (and never below
    /// the roster cap); the whole file the compressed payload plus chunk tags, header and
    /// signature.
    pub fn for_memory(memory: u64) -> Limits {
        let max_payload = (memory / MEMORY_PER_PAYLOAD_BYTE).max(MAX_ROSTER_PAYLOAD);
        // zstd's bound for incompressible input is a few bytes per 128 KiB block; 1/128
        // plus 64 KiB is generous. A compressed stream larger than that is padding
        // (skippable frames), which decompression would only read to discard.
        let max_compressed = max_payload + max_payload / 128 + 64 * 1024;
        let max_chunk_size: u32 = 1024 * 1024;
        let min_chunk = u64::from(MIN_CHUNK_SIZE);
        let max_chunks_needed = max_compressed.div_ceil(min_chunk);
        let max_chunks = u32::try_from(max_chunks_needed.min(1 << 20)).unwrap_or(1 << 20);
        let tags = u64::from(max_chunks) * CHUNK_TAG_LEN as u64;
        let max_header: u32 = 8 * 1024;
        Limits {
            max_file: max_compressed + tags + u64::from(max_header) + 1024,
            max_header,
            max_recipients: 64,
            max_chunk_size,
            max_chunks,
            max_compressed,
            max_payload,
            max_roster_payload: MAX_ROSTER_PAYLOAD,
            max_mode_payload: MAX_MODE_PAYLOAD,
            max_window_log: 24,
        }
    }

    /// The decompressed payload cap for a payload kind.
    pub(crate) fn max_payload_for(&self, kind: PayloadKind) -> u64 {
        match kind {
            PayloadKind::Clinical => self.max_payload,
            PayloadKind::Roster => self.max_roster_payload.min(self.max_payload),
            PayloadKind::ModeCommand => self.max_mode_payload.min(self.max_payload),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::for_memory(DEFAULT_MEMORY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_memory_limit_and_the_kind() {
        let l = Limits::default();
        assert_eq!(l.max_payload, 1024 * 1024 * 1024 / 48);
        assert!(l.max_compressed < l.max_payload + l.max_payload / 64);
        assert!(l.max_file < l.max_compressed + l.max_compressed / 8);
        // Whatever the file's chunk size, a compressed payload within its cap fits the
        // chunk count and the file size.
        let min_chunk = u64::from(MIN_CHUNK_SIZE);
        assert!(u64::from(l.max_chunks) * min_chunk >= l.max_compressed);
        assert_eq!(l.max_payload_for(PayloadKind::Roster), 4 * 1024 * 1024);
        assert_eq!(l.max_payload_for(PayloadKind::ModeCommand), 4096);
        let big = Limits::for_memory(16 * 1024 * 1024 * 1024);
        assert_eq!(big.max_payload, 16 * 1024 * 1024 * 1024 / 48);
        assert_eq!(big.max_payload_for(PayloadKind::Roster), 4 * 1024 * 1024);
    }
}
