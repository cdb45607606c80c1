//! Size limits applied by [`super::open`] before any work is done, and by [`super::seal`]
//! so that a publisher never writes a file the default appliance would refuse.

use std::fmt;

/// Which limit a file broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    File,
    Header,
    Recipients,
    ChunkSize,
    ChunkCount,
    Compressed,
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
    /// Decompressed payload, bytes; more is a decompression bomb. Default 1 GiB.
    pub max_payload: u64,
    /// Largest zstd window accepted, as a power of two. Default 24 (16 MiB).
    pub max_window_log: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 256 * 1024 * 1024,
            max_header: 8 * 1024,
            max_recipients: 64,
            max_chunk_size: 1024 * 1024,
            max_chunks: 1 << 20,
            max_compressed: 256 * 1024 * 1024,
            max_payload: 1024 * 1024 * 1024,
            max_window_log: 24,
        }
    }
}
