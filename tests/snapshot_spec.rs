//! Conformance with docs/SNAPSHOT-FORMAT.md: an independent reader written from the
//! document alone (plain AES-GCM, HKDF, X25519, Ed25519, zstd — no noodepd code) opens a
//! file made by `noodepd::snapshot::seal`. If the code and the document drift apart, this
//! fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use chrono::{TimeZone, Utc};
use hkdf::Hkdf;
use noodepd::keys::{ApplianceSecret, PublisherSecret};
use noodepd::snapshot::{self, PayloadKind, SealRequest};
use sha2::{Digest, Sha256};

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap())
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}

/// What the independent reader found, field by field.
struct Read {
    version: u16,
    /// The version 2 `flags` byte (0 for version 1, which has none).
    flags: u8,
    payload: Vec<u8>,
}

/// Reads a sealed file following docs/SNAPSHOT-FORMAT.md only: versions 1 and 2 (the
/// latter has one `flags` byte after the last recipient entry).
fn read_per_document(
    file: &[u8],
    publisher_seed: [u8; 32],
    appliance_secret: [u8; 32],
    expect: &SealRequest,
    recipients: usize,
) -> Read {
    // Preamble.
    assert_eq!(&file[0..8], b"NOODSNAP");
    let version = u16::from_be_bytes([file[8], file[9]]);
    assert!(version == 1 || version == 2, "version {version}");
    let h_len = be32(&file[10..14]) as usize;
    let h = &file[14..14 + h_len];

    // Header fields at the documented offsets.
    let pub_raw = ed25519_dalek::SigningKey::from_bytes(&publisher_seed)
        .verifying_key()
        .to_bytes();
    assert_eq!(&h[0..8], &Sha256::digest(pub_raw)[..8]);
    assert_eq!(be64(&h[8..16]) as i64, expect.created_at.timestamp_millis());
    assert_eq!(
        be64(&h[16..24]) as i64,
        expect.data_as_of.timestamp_millis()
    );
    assert_eq!(be64(&h[24..32]), expect.sequence);
    assert_eq!(h[32], expect.kind.to_byte(), "payload kind");
    assert_eq!(h[33], 1, "zstd");
    let chunk_size = be32(&h[34..38]) as usize;
    assert_eq!(chunk_size, expect.chunk_size as usize);
    let compressed_len = be64(&h[38..46]) as usize;
    let chunk_count = be32(&h[46..50]) as usize;
    assert_eq!(chunk_count, compressed_len.div_ceil(chunk_size));
    let stream_nonce = &h[50..57];
    let w = h[57] as usize;
    assert_eq!(&h[58..58 + w], expect.ward.as_bytes());
    let eph: [u8; 32] = h[58 + w..90 + w].try_into().unwrap();
    let n = h[90 + w] as usize;
    assert_eq!(n, recipients);
    let entries_end = 91 + w + 56 * n;
    let flags = if version == 2 {
        assert_eq!(
            h_len,
            entries_end + 1,
            "version 2: one flags byte ends the header"
        );
        h[entries_end]
    } else {
        assert_eq!(h_len, entries_end);
        0
    };
    assert_eq!(flags & !0x01, 0, "only bit 0 (allow shrink) is defined");
    let body_start = 14 + h_len;
    let body_len = compressed_len + 16 * chunk_count;
    assert_eq!(file.len(), body_start + body_len + 64);

    // Signature: Ed25519 over everything before it.
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pub_raw).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(file[file.len() - 64..].try_into().unwrap());
    vk.verify_strict(&file[..file.len() - 64], &sig).unwrap();

    // Our entry (the last), key wrap.
    let secret = x25519_dalek::StaticSecret::from(appliance_secret);
    let my_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let entry = &h[91 + w + 56 * (n - 1)..91 + w + 56 * n];
    assert_eq!(&entry[..8], &Sha256::digest(my_pub)[..8]);
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(eph));
    let mut info = b"noodepd snapshot v1 data key wrap".to_vec();
    info.extend_from_slice(&eph);
    info.extend_from_slice(&my_pub);
    let mut kek = [0u8; 32];
    Hkdf::<Sha256>::new(None, shared.as_bytes())
        .expand(&info, &mut kek)
        .unwrap();
    let data_key = Aes256Gcm::new_from_slice(&kek)
        .unwrap()
        .decrypt(&[0u8; 12].into(), &entry[8..])
        .unwrap();

    // Chunks: nonce = stream_nonce || BE32 index || last flag; AAD = SHA-256(preamble+header).
    let aad = Sha256::digest(&file[..body_start]);
    let cipher = Aes256Gcm::new_from_slice(&data_key).unwrap();
    let mut compressed = Vec::new();
    let mut at = body_start;
    for i in 0..chunk_count {
        let last = i + 1 == chunk_count;
        let plain_len = if last {
            compressed_len - chunk_size * (chunk_count - 1)
        } else {
            chunk_size
        };
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(stream_nonce);
        nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        nonce[11] = u8::from(last);
        let ct = &file[at..at + plain_len + 16];
        let msg = Payload {
            msg: ct,
            aad: aad.as_slice(),
        };
        compressed.extend(cipher.decrypt(&nonce.into(), msg).unwrap());
        at += plain_len + 16;
    }
    assert_eq!(at, file.len() - 64);
    Read {
        version,
        flags,
        payload: zstd::stream::decode_all(compressed.as_slice()).unwrap(),
    }
}

#[test]
fn independent_reader_following_the_document_opens_a_sealed_file() {
    let publisher_seed = [21u8; 32];
    let appliance_secret = [22u8; 32];
    let other = ApplianceSecret::from_bytes(&[23; 32]);
    let publisher = PublisherSecret::from_bytes(&publisher_seed);
    let appliance = ApplianceSecret::from_bytes(&appliance_secret);
    let payload: Vec<u8> = (0..5000u32)
        .flat_map(|i| format!("{{\"resourceType\":\"Observation\",\"id\":\"{i}\"}}\n").into_bytes())
        .collect();
    let req = SealRequest {
        ward: "Ward_7.b",
        sequence: 123_456_789,
        created_at: Utc.timestamp_millis_opt(1_795_000_000_250).unwrap(),
        data_as_of: Utc.timestamp_millis_opt(1_794_999_940_000).unwrap(),
        kind: PayloadKind::Roster,
        chunk_size: 1000,
        allow_shrink: false,
    };
    let file = snapshot::seal(
        &publisher,
        &[other.public(), appliance.public()],
        &req,
        &payload,
    )
    .unwrap();
    let read = read_per_document(&file, publisher_seed, appliance_secret, &req, 2);
    // No flag: the oldest version that says it, so boxes reading only version 1 read it.
    assert_eq!((read.version, read.flags), (1, 0));
    assert_eq!(read.payload, payload);
}

#[test]
fn independent_reader_finds_the_allow_shrink_flag_in_a_version_2_header() {
    let publisher_seed = [31u8; 32];
    let appliance_secret = [32u8; 32];
    let publisher = PublisherSecret::from_bytes(&publisher_seed);
    let appliance = ApplianceSecret::from_bytes(&appliance_secret);
    let payload = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#.to_vec();
    let req = SealRequest {
        ward: "A3",
        sequence: 77,
        created_at: Utc.timestamp_millis_opt(1_795_000_000_000).unwrap(),
        data_as_of: Utc.timestamp_millis_opt(1_795_000_000_000).unwrap(),
        kind: PayloadKind::Clinical,
        chunk_size: 256,
        allow_shrink: true,
    };
    let file = snapshot::seal(&publisher, &[appliance.public()], &req, &payload).unwrap();
    let read = read_per_document(&file, publisher_seed, appliance_secret, &req, 1);
    assert_eq!((read.version, read.flags), (2, 0x01));
    assert_eq!(read.payload, payload);
    // And the box's own reader agrees.
    let opened = snapshot::open(
        &file,
        &appliance,
        &publisher.public(),
        &snapshot::Limits::default(),
    )
    .unwrap();
    assert!(opened.header.allow_shrink);
    assert_eq!(opened.header.version, 2);
}
