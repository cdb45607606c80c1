//! Opening (appliance side), in the documented order: limits, strict header parse,
//! publisher id, signature over everything, recipient entry, key unwrap, chunk decryption,
//! capped decompression. Nothing is decrypted before the signature verifies.

use super::crypto;
use super::format::{self, PREAMBLE_LEN, SIGNATURE_LEN};
use super::limits::{CHUNK_TAG_LEN, LimitKind, Limits};
use super::{Opened, SnapshotError};
use crate::keys::{ApplianceSecret, PublisherPublic};
use std::io::Read;
use zeroize::Zeroizing;

/// Verifies, decrypts and decompresses a snapshot for this appliance.
pub fn open(
    bytes: &[u8],
    appliance: &ApplianceSecret,
    publisher: &PublisherPublic,
    limits: &Limits,
) -> Result<Opened, SnapshotError> {
    // 1. Sizes before anything else.
    let actual = bytes.len() as u64;
    if actual > limits.max_file {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::File,
            actual,
            limit: limits.max_file,
        });
    }
    // 2. Magic, version, header length.
    let preamble = format::parse_preamble(bytes, limits)?;
    let header_end = PREAMBLE_LEN
        .checked_add(usize::try_from(preamble.header_len).map_err(|_| header_too_large())?)
        .ok_or_else(header_too_large)?;
    let header_bytes = bytes
        .get(PREAMBLE_LEN..header_end)
        .ok_or(SnapshotError::Truncated {
            expected: header_end as u64,
            actual,
        })?;
    // 3. Strict header parse (unauthenticated yet: it only tells where things are).
    let raw = format::parse_header(header_bytes, preamble.version, limits)?;
    let h = &raw.header;
    let body_len = format::body_len(h.compressed_len, h.chunk_count)
        .ok_or(SnapshotError::BadHeader("body length overflows"))?;
    let expected = (header_end as u64)
        .checked_add(body_len)
        .and_then(|n| n.checked_add(SIGNATURE_LEN as u64))
        .ok_or(SnapshotError::BadHeader("file length overflows"))?;
    if expected > limits.max_file {
        return Err(SnapshotError::TooLarge {
            what: LimitKind::File,
            actual: expected,
            limit: limits.max_file,
        });
    }
    if actual < expected {
        return Err(SnapshotError::Truncated { expected, actual });
    }
    if actual > expected {
        return Err(SnapshotError::TrailingData { expected, actual });
    }
    // 4. The publisher we trust?
    let trusted = publisher.key_id();
    if h.publisher != trusted {
        return Err(SnapshotError::WrongPublisher {
            found: h.publisher,
            expected: trusted,
        });
    }
    // 5. Signature over every byte before it, before any decryption.
    let sig_start = bytes
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(SnapshotError::Truncated { expected, actual })?;
    let (signed, sig) = bytes.split_at(sig_start);
    let sig: &[u8; SIGNATURE_LEN] = sig
        .try_into()
        .map_err(|_| SnapshotError::Truncated { expected, actual })?;
    if !publisher.verify_strict(signed, sig) {
        return Err(SnapshotError::BadSignature { publisher: trusted });
    }
    // 6. Our recipient entry.
    let me = appliance.key_id();
    let entry = raw.entries.iter().find(|e| e.key_id == me).ok_or_else(|| {
        SnapshotError::NotForThisAppliance {
            appliance: me,
            recipients: h.recipients.clone(),
        }
    })?;
    // 7. Unwrap the data key.
    let ephemeral = x25519_dalek::PublicKey::from(raw.ephemeral);
    let shared = appliance.diffie_hellman(&ephemeral);
    if !shared.was_contributory() {
        return Err(SnapshotError::KeyUnwrapFailed(
            "ephemeral key is of small order",
        ));
    }
    let kek = crypto::derive_kek(
        shared.as_bytes(),
        &raw.ephemeral,
        &appliance.public().to_bytes(),
    )
    .ok_or(SnapshotError::KeyUnwrapFailed("key derivation failed"))?;
    let data_key = crypto::unwrap(&kek, &entry.wrapped).ok_or(SnapshotError::KeyUnwrapFailed(
        "authentication tag mismatch",
    ))?;
    // 8. Decrypt the chunks (STREAM: position and last-chunk flag in the nonce).
    let aad = crypto::header_digest(bytes.get(..header_end).unwrap_or_default());
    let body = signed.get(header_end..).unwrap_or_default();
    let compressed = decrypt_chunks(body, &data_key, &raw, &aad)?;
    // 9. Decompress, capped at the cap for this payload kind (authenticated by now).
    let payload = decompress(&compressed, raw.header.kind, limits)?;
    Ok(Opened {
        header: raw.header,
        payload,
    })
}

fn header_too_large() -> SnapshotError {
    SnapshotError::BadHeader("header length overflows")
}

fn decrypt_chunks(
    body: &[u8],
    data_key: &[u8; 32],
    raw: &format::RawHeader,
    aad: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>, SnapshotError> {
    let h = &raw.header;
    let count = h.chunk_count;
    let corrupt = |index: u32| SnapshotError::CorruptChunk {
        index: index.saturating_add(1),
        count,
    };
    let chunk_size = usize::try_from(h.chunk_size).map_err(|_| corrupt(0))?;
    let compressed_len =
        usize::try_from(h.compressed_len).map_err(|_| SnapshotError::TooLarge {
            what: LimitKind::Compressed,
            actual: h.compressed_len,
            limit: usize::MAX as u64,
        })?;
    let mut dec = crypto::decryptor(data_key, &raw.stream_nonce)
        .ok_or(SnapshotError::KeyUnwrapFailed("cipher setup failed"))?;
    let mut out = Zeroizing::new(Vec::with_capacity(compressed_len));
    let mut buf = Zeroizing::new(Vec::with_capacity(chunk_size + CHUNK_TAG_LEN));
    let mut chunks = body.chunks(chunk_size + CHUNK_TAG_LEN);
    let last_index = count
        .checked_sub(1)
        .ok_or(SnapshotError::BadHeader("no chunks"))?;
    for index in 0..last_index {
        let chunk = chunks.next().ok_or_else(|| corrupt(index))?;
        buf.clear();
        buf.extend_from_slice(chunk);
        dec.decrypt_next_in_place(aad, &mut *buf)
            .map_err(|_| corrupt(index))?;
        out.extend_from_slice(&buf);
    }
    let chunk = chunks.next().ok_or_else(|| corrupt(last_index))?;
    if chunks.next().is_some() {
        // The length checks make this impossible; keep it an error, not an assumption.
        return Err(SnapshotError::BadHeader("more chunks than the header says"));
    }
    buf.clear();
    buf.extend_from_slice(chunk);
    dec.decrypt_last_in_place(aad, &mut *buf)
        .map_err(|_| corrupt(last_index))?;
    out.extend_from_slice(&buf);
    if out.len() != compressed_len {
        return Err(SnapshotError::BadHeader("chunk lengths do not add up"));
    }
    Ok(out)
}

fn zstd_error(e: std::io::Error) -> SnapshotError {
    SnapshotError::BadCompression {
        compression: "zstd",
        message: e.to_string(),
    }
}

/// Decompresses with a hard cap for the payload kind: a first pass counts the output
/// (discarding it) and stops at the cap + 1 byte; only a payload within the cap is then
/// decompressed into a buffer of exactly its size.
fn decompress(
    compressed: &[u8],
    kind: super::PayloadKind,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>, SnapshotError> {
    let cap = limits.max_payload_for(kind);
    let decoder = || -> Result<_, SnapshotError> {
        let mut d = zstd::stream::read::Decoder::with_buffer(compressed).map_err(zstd_error)?;
        d.window_log_max(limits.max_window_log)
            .map_err(zstd_error)?;
        Ok(d)
    };
    let counted = std::io::copy(
        &mut decoder()?.take(cap.saturating_add(1)),
        &mut std::io::sink(),
    )
    .map_err(zstd_error)?;
    if counted > cap {
        return Err(SnapshotError::DecompressionBomb { limit: cap });
    }
    let size =
        usize::try_from(counted).map_err(|_| SnapshotError::DecompressionBomb { limit: cap })?;
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    decoder()?
        .take(counted)
        .read_to_end(&mut out)
        .map_err(zstd_error)?;
    if out.len() != size {
        return Err(SnapshotError::BadCompression {
            compression: "zstd",
            message: "output differs between passes".into(),
        });
    }
    Ok(out)
}
