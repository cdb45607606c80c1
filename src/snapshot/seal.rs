//! Sealing (publisher side): compress, encrypt to each recipient, sign.

use super::crypto;
use super::format::{
    self, MAGIC, MIN_FORMAT_VERSION, PREAMBLE_LEN, RawHeader, RecipientEntry, SIGNATURE_LEN,
    STREAM_NONCE_LEN,
};
use super::limits::{CHUNK_TAG_LEN, LimitKind, Limits, MIN_CHUNK_SIZE};
use super::{Compression, Header, SealRequest, SnapshotError};
use crate::keys::{AppliancePublic, PublisherSecret};
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// zstd level used by `seal` (level 3 keeps the window at 2^21 or less).
const ZSTD_LEVEL: i32 = 3;

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, SnapshotError> {
    let mut b = Zeroizing::new([0u8; N]);
    OsRng
        .try_fill_bytes(b.as_mut())
        .map_err(|_| SnapshotError::Crypto("the operating system's random generator failed"))?;
    Ok(b)
}

fn too_large(what: LimitKind, actual: u64, limit: u64) -> SnapshotError {
    SnapshotError::TooLarge {
        what,
        actual,
        limit,
    }
}

/// Truncates to the millisecond precision the header stores.
fn to_millis(t: DateTime<Utc>) -> Result<DateTime<Utc>, SnapshotError> {
    DateTime::from_timestamp_millis(t.timestamp_millis())
        .ok_or_else(|| SnapshotError::InvalidRequest("timestamp out of range".into()))
}

/// Seals `plaintext` for `recipients`, signed by `publisher`. Refuses anything the
/// default [`Limits`] of an appliance would refuse.
pub fn seal(
    publisher: &PublisherSecret,
    recipients: &[AppliancePublic],
    req: &SealRequest,
    plaintext: &[u8],
) -> Result<Vec<u8>, SnapshotError> {
    seal_with(publisher, recipients, req, plaintext, &Limits::default())
}

/// As [`seal`], for appliances with other limits (a box configured with more memory;
/// the benchmark's hospital scale).
pub fn seal_with(
    publisher: &PublisherSecret,
    recipients: &[AppliancePublic],
    req: &SealRequest,
    plaintext: &[u8],
    limits: &Limits,
) -> Result<Vec<u8>, SnapshotError> {
    let invalid = |m: String| Err(SnapshotError::InvalidRequest(m));
    if !format::ward_is_valid(req.ward) {
        return invalid(format!(
            "ward id {:?} must be 1 to 64 letters, digits, '-', '_' or '.' (not first)",
            req.ward
        ));
    }
    if req.chunk_size < MIN_CHUNK_SIZE || req.chunk_size > limits.max_chunk_size {
        return invalid(format!(
            "chunk size {} must be between {MIN_CHUNK_SIZE} and {}",
            req.chunk_size, limits.max_chunk_size
        ));
    }
    if recipients.is_empty() {
        return invalid("no recipient appliance keys given".into());
    }
    if recipients.len() > usize::from(limits.max_recipients) {
        return Err(too_large(
            LimitKind::Recipients,
            recipients.len() as u64,
            u64::from(limits.max_recipients),
        ));
    }
    let ids: Vec<_> = recipients.iter().map(AppliancePublic::key_id).collect();
    for (i, id) in ids.iter().enumerate() {
        if ids.iter().take(i).any(|other| other == id) {
            return invalid(format!("appliance key {} given twice", id.fingerprint()));
        }
    }
    let cap = limits.max_payload_for(req.kind);
    if plaintext.len() as u64 > cap {
        return Err(too_large(LimitKind::Payload, plaintext.len() as u64, cap));
    }

    let compressed = Zeroizing::new(
        zstd::stream::encode_all(plaintext, ZSTD_LEVEL)
            .map_err(|_| SnapshotError::Crypto("zstd compression failed"))?,
    );
    let compressed_len = compressed.len() as u64;
    if compressed_len > limits.max_compressed {
        return Err(too_large(
            LimitKind::Compressed,
            compressed_len,
            limits.max_compressed,
        ));
    }
    let chunk_count = format::chunk_count_for(compressed_len, req.chunk_size)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= limits.max_chunks)
        .ok_or_else(|| {
            too_large(
                LimitKind::ChunkCount,
                compressed_len.div_ceil(u64::from(req.chunk_size)),
                u64::from(limits.max_chunks),
            )
        })?;

    let data_key = random::<32>()?;
    let stream_nonce = random::<STREAM_NONCE_LEN>()?;
    let ephemeral = x25519_dalek::StaticSecret::from(*random::<32>()?);
    let ephemeral_pub = x25519_dalek::PublicKey::from(&ephemeral).to_bytes();

    let mut entries = Vec::with_capacity(recipients.len());
    for (r, key_id) in recipients.iter().zip(&ids) {
        let shared = ephemeral.diffie_hellman(r.x25519());
        if !shared.was_contributory() {
            return invalid(format!(
                "appliance key {} is not a usable X25519 public key",
                key_id.fingerprint()
            ));
        }
        let kek = crypto::derive_kek(shared.as_bytes(), &ephemeral_pub, &r.to_bytes())
            .ok_or(SnapshotError::Crypto("key derivation failed"))?;
        let wrapped =
            crypto::wrap(&kek, &data_key).ok_or(SnapshotError::Crypto("key wrap failed"))?;
        entries.push(RecipientEntry {
            key_id: *key_id,
            wrapped,
        });
    }

    // The oldest version that can say what is asked: version 2 only for a flag, so boxes
    // that read only version 1 keep reading ordinary snapshots.
    let version = if req.allow_shrink {
        format::FORMAT_VERSION
    } else {
        MIN_FORMAT_VERSION
    };
    if req.allow_shrink && req.kind != super::PayloadKind::Clinical {
        return invalid("allow_shrink is only for clinical snapshots".into());
    }
    let raw = RawHeader {
        header: Header {
            version,
            publisher: publisher.key_id(),
            recipients: ids,
            ward: req.ward.to_owned(),
            sequence: req.sequence,
            created_at: to_millis(req.created_at)?,
            data_as_of: to_millis(req.data_as_of)?,
            kind: req.kind,
            compression: Compression::Zstd,
            chunk_size: req.chunk_size,
            chunk_count,
            compressed_len,
            allow_shrink: req.allow_shrink,
        },
        stream_nonce: *stream_nonce,
        ephemeral: ephemeral_pub,
        entries,
    };
    let header = format::encode_header(&raw);
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|n| *n <= limits.max_header)
        .ok_or_else(|| {
            too_large(
                LimitKind::Header,
                header.len() as u64,
                u64::from(limits.max_header),
            )
        })?;
    let body_len = format::body_len(compressed_len, chunk_count)
        .ok_or(SnapshotError::Crypto("size overflow"))?;
    let total = (PREAMBLE_LEN as u64 + u64::from(header_len) + SIGNATURE_LEN as u64)
        .checked_add(body_len)
        .ok_or(SnapshotError::Crypto("size overflow"))?;
    if total > limits.max_file {
        return Err(too_large(LimitKind::File, total, limits.max_file));
    }

    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&header_len.to_be_bytes());
    out.extend_from_slice(&header);
    let aad = crypto::header_digest(&out);

    let mut enc = crypto::encryptor(&data_key, &stream_nonce)
        .ok_or(SnapshotError::Crypto("cipher setup failed"))?;
    let chunk_size = usize::try_from(req.chunk_size)
        .map_err(|_| SnapshotError::InvalidRequest("chunk size too large".into()))?;
    let mut buf = Zeroizing::new(Vec::with_capacity(chunk_size + CHUNK_TAG_LEN));
    let chunks: Vec<&[u8]> = compressed.chunks(chunk_size).collect();
    let (last, rest) = chunks
        .split_last()
        .ok_or(SnapshotError::Crypto("zstd produced no output"))?;
    let encrypt_failed = |_| SnapshotError::Crypto("chunk encryption failed");
    for chunk in rest {
        buf.clear();
        buf.extend_from_slice(chunk);
        enc.encrypt_next_in_place(&aad, &mut *buf)
            .map_err(encrypt_failed)?;
        out.extend_from_slice(&buf);
    }
    buf.clear();
    buf.extend_from_slice(last);
    enc.encrypt_last_in_place(&aad, &mut *buf)
        .map_err(encrypt_failed)?;
    out.extend_from_slice(&buf);
    let signature = publisher.sign(&out);
    out.extend_from_slice(&signature);
    if out.len() as u64 != total {
        return Err(SnapshotError::Crypto(
            "internal error: file length differs from layout",
        ));
    }
    Ok(out)
}
