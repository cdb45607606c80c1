//! The sealed snapshot format end to end: round trips on real FHIR fixtures, several
//! recipients, and the failure table — every tampered or malformed variant is refused
//! with its own specific error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{TimeZone, Utc};
use ed25519_dalek::Signer as _;
use noodepd::keys::{AppliancePublic, ApplianceSecret, PublisherSecret};
use noodepd::snapshot::{
    self, CHUNK_TAG_LEN, LimitKind, Limits, PREAMBLE_LEN, PayloadKind, RECIPIENT_ENTRY_LEN,
    SIGNATURE_LEN, SealRequest, SnapshotError,
};
use std::path::PathBuf;

const PUBLISHER_SEED: [u8; 32] = [11; 32];

fn publisher() -> PublisherSecret {
    PublisherSecret::from_bytes(&PUBLISHER_SEED)
}

fn appliance(n: u8) -> ApplianceSecret {
    ApplianceSecret::from_bytes(&[n; 32])
}

fn request(chunk_size: u32) -> SealRequest<'static> {
    SealRequest {
        ward: "A3",
        sequence: 42,
        created_at: Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap(),
        data_as_of: Utc.with_ymd_and_hms(2026, 11, 22, 5, 58, 30).unwrap(),
        kind: PayloadKind::Clinical,
        chunk_size,
        allow_shrink: false,
    }
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Incompressible bytes (a simple deterministic generator), so chunks stay distinct.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A sealed file for appliances 1 and 2 whose body has exactly three chunks of 256.
fn three_chunk_file() -> Vec<u8> {
    let recipients = [appliance(1).public(), appliance(2).public()];
    let bytes = snapshot::seal(&publisher(), &recipients, &request(256), &noise(600, 1)).unwrap();
    assert_eq!(layout(&bytes).chunk_count, 3);
    bytes
}

struct Layout {
    header_start: usize,
    body_start: usize,
    entries_start: usize,
    chunk_count: usize,
    chunk_size: usize,
}

/// Where things are, read the way docs/SNAPSHOT-FORMAT.md describes.
fn layout(bytes: &[u8]) -> Layout {
    let header_len = u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let h = PREAMBLE_LEN;
    let chunk_size = u32::from_be_bytes(bytes[h + 34..h + 38].try_into().unwrap()) as usize;
    let chunk_count = u32::from_be_bytes(bytes[h + 46..h + 50].try_into().unwrap()) as usize;
    let ward_len = bytes[h + 57] as usize;
    Layout {
        header_start: h,
        body_start: h + header_len,
        entries_start: h + 58 + ward_len + 32 + 1,
        chunk_count,
        chunk_size,
    }
}

fn open_as(bytes: &[u8], n: u8) -> Result<snapshot::Opened, SnapshotError> {
    snapshot::open(
        bytes,
        &appliance(n),
        &publisher().public(),
        &Limits::default(),
    )
}

fn resign(bytes: &mut [u8]) {
    let key = ed25519_dalek::SigningKey::from_bytes(&PUBLISHER_SEED);
    let split = bytes.len() - SIGNATURE_LEN;
    let sig = key.sign(&bytes[..split]).to_bytes();
    bytes[split..].copy_from_slice(&sig);
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x02;
    b
}

#[test]
fn round_trips_a_synthea_bundle() {
    let payload = noodepd::fhir::input::collect_payload(&[fixture("synthea-smart-r4")]).unwrap();
    let req = request(snapshot::DEFAULT_CHUNK_SIZE);
    let bytes = snapshot::seal(&publisher(), &[appliance(1).public()], &req, &payload).unwrap();
    let opened = open_as(&bytes, 1).unwrap();
    assert_eq!(opened.payload.as_slice(), payload.as_slice());
    let h = &opened.header;
    assert_eq!(h.version, 1);
    assert_eq!(h.ward, "A3");
    assert_eq!(h.sequence, 42);
    assert_eq!(h.created_at, req.created_at);
    assert_eq!(h.data_as_of, req.data_as_of);
    assert_eq!(h.kind, PayloadKind::Clinical);
    assert_eq!(h.publisher, publisher().key_id());
    assert_eq!(h.recipients, vec![appliance(1).key_id()]);
    assert!(bytes.len() < payload.len(), "the body is compressed");
}

#[test]
fn round_trips_nictiz_and_ips_examples_in_many_chunks() {
    let inputs = [
        fixture("nictiz-zib2020/examples/nl-core-Patient-01.json"),
        fixture("nictiz-zib2020/examples/nl-core-AllergyIntolerance-01.json"),
        fixture("nictiz-zib2020/examples-mp/nl-core-MedicationAgreement-01.json"),
        fixture("nictiz-zib2020/examples-mp/nl-core-MedicationAgreement-01-Medication-01.json"),
        fixture("ips-2.0.0/Bundle-bundle-minimal.json"),
    ];
    let payload = noodepd::fhir::input::collect_payload(&inputs).unwrap();
    let bytes = snapshot::seal(
        &publisher(),
        &[appliance(1).public()],
        &request(256),
        &payload,
    )
    .unwrap();
    let opened = open_as(&bytes, 1).unwrap();
    assert!(opened.header.chunk_count > 3);
    assert_eq!(opened.payload.as_slice(), payload.as_slice());
    let docs = noodepd::fhir::input::parse_payload(&opened.payload).unwrap();
    assert_eq!(docs.len(), 5);
}

#[test]
fn round_trips_roster_and_mode_command_kinds() {
    for kind in [PayloadKind::Roster, PayloadKind::ModeCommand] {
        let req = SealRequest {
            kind,
            ..request(1024)
        };
        let body = br#"{"mode":"drill","reason":"oefening"}"#;
        let bytes = snapshot::seal(&publisher(), &[appliance(1).public()], &req, body).unwrap();
        let opened = open_as(&bytes, 1).unwrap();
        assert_eq!(opened.header.kind, kind);
        assert_eq!(opened.payload.as_slice(), body);
    }
}

#[test]
fn two_recipients_can_open_and_a_third_cannot() {
    let bytes = three_chunk_file();
    let a = open_as(&bytes, 1).unwrap();
    let b = open_as(&bytes, 2).unwrap();
    assert_eq!(a.payload.as_slice(), noise(600, 1).as_slice());
    assert_eq!(a.payload.as_slice(), b.payload.as_slice());
    match open_as(&bytes, 3) {
        Err(SnapshotError::NotForThisAppliance {
            appliance: me,
            recipients,
        }) => {
            assert_eq!(me, appliance(3).key_id());
            assert_eq!(
                recipients,
                vec![appliance(1).key_id(), appliance(2).key_id()]
            );
        }
        other => panic!("expected NotForThisAppliance, got {other:?}"),
    }
}

#[test]
fn rejects_bad_magic_as_not_a_snapshot() {
    let bytes = three_chunk_file();
    for at in 0..8 {
        let err = open_as(&flip(&bytes, at), 1).unwrap_err();
        assert!(matches!(err, SnapshotError::NotASnapshot), "{at}: {err}");
        assert_eq!(err.code(), "not_a_snapshot");
    }
    let err = open_as(b"{\"resourceType\":\"Bundle\"}", 1).unwrap_err();
    assert!(matches!(err, SnapshotError::NotASnapshot), "{err}");
}

#[test]
fn version_1_file_relabelled_version_2_is_refused() {
    // A version 2 header is one byte longer (flags): the relabelled header cannot parse,
    // and the signature would not cover the change anyway.
    let mut bytes = three_chunk_file();
    bytes[8..10].copy_from_slice(&2u16.to_be_bytes());
    let err = open_as(&bytes, 1).unwrap_err();
    assert_eq!(err.code(), "bad_header", "{err}");
}

#[test]
fn rejects_unknown_version() {
    let mut bytes = three_chunk_file();
    bytes[8..10].copy_from_slice(&4u16.to_be_bytes());
    let err = open_as(&bytes, 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::UnknownVersion { found: 4 }),
        "{err}"
    );
    assert_eq!(err.code(), "unknown_version");
    let err = open_as(&flip(&three_chunk_file(), 9), 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::UnknownVersion { found: 3 }),
        "{err}"
    );
}

#[test]
fn rejects_flipped_bit_in_header_fields_as_bad_signature() {
    let bytes = three_chunk_file();
    let h = layout(&bytes).header_start;
    // created_at, data_as_of, sequence, stream nonce, ward ("A3" -> "C3"), ephemeral key.
    for at in [
        h + 15,
        h + 23,
        h + 24 + 7,
        h + 50,
        h + 58,
        h + 60,
        h + 60 + 31,
    ] {
        let err = open_as(&flip(&bytes, at), 1).unwrap_err();
        assert!(
            matches!(err, SnapshotError::BadSignature { .. }),
            "{at}: {err}"
        );
        assert_eq!(err.code(), "bad_signature");
    }
}

#[test]
fn rejects_flipped_publisher_id_as_wrong_publisher() {
    let bytes = three_chunk_file();
    let err = open_as(&flip(&bytes, PREAMBLE_LEN + 3), 1).unwrap_err();
    assert!(matches!(err, SnapshotError::WrongPublisher { .. }), "{err}");
}

#[test]
fn rejects_malformed_header_fields_as_bad_header() {
    let bytes = three_chunk_file();
    let h = PREAMBLE_LEN;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = bytes.clone();
    b[h + 32] = 9;
    cases.push(("payload kind", b));
    let mut b = bytes.clone();
    b[h + 33] = 0;
    cases.push(("compression", b));
    let mut b = bytes.clone();
    b[h + 49] ^= 1;
    cases.push(("chunk count", b));
    let mut b = bytes.clone();
    b[h + 58] = b'/';
    cases.push(("ward", b));
    let mut b = bytes.clone();
    let hl = u32::from_be_bytes(b[10..14].try_into().unwrap()) + 1;
    b[10..14].copy_from_slice(&hl.to_be_bytes());
    cases.push(("header length", b));
    for (what, b) in cases {
        let err = open_as(&b, 1).unwrap_err();
        assert!(matches!(err, SnapshotError::BadHeader(_)), "{what}: {err}");
        assert_eq!(err.code(), "bad_header");
    }
}

#[test]
fn rejects_flipped_bit_in_each_recipient_entry_as_bad_signature() {
    let bytes = three_chunk_file();
    let e = layout(&bytes).entries_start;
    for entry in 0..2 {
        for offset in [0, 8, 8 + 31, 8 + 47] {
            let at = e + entry * RECIPIENT_ENTRY_LEN + offset;
            let err = open_as(&flip(&bytes, at), 1).unwrap_err();
            assert!(
                matches!(err, SnapshotError::BadSignature { .. }),
                "{at}: {err}"
            );
        }
    }
}

#[test]
fn rejects_flipped_bit_in_signature() {
    let bytes = three_chunk_file();
    for at in [bytes.len() - 64, bytes.len() - 33, bytes.len() - 1] {
        let err = open_as(&flip(&bytes, at), 1).unwrap_err();
        assert!(
            matches!(err, SnapshotError::BadSignature { .. }),
            "{at}: {err}"
        );
    }
}

#[test]
fn rejects_flipped_bit_in_each_chunk_as_bad_signature() {
    let bytes = three_chunk_file();
    let l = layout(&bytes);
    let stride = l.chunk_size + CHUNK_TAG_LEN;
    for i in 0..l.chunk_count {
        for offset in [0, 100] {
            let at = l.body_start + i * stride + offset;
            let err = open_as(&flip(&bytes, at), 1).unwrap_err();
            assert!(
                matches!(err, SnapshotError::BadSignature { .. }),
                "{i}: {err}"
            );
        }
    }
}

#[test]
fn rejects_corrupt_chunk_even_when_validly_signed() {
    let bytes = three_chunk_file();
    let l = layout(&bytes);
    let stride = l.chunk_size + CHUNK_TAG_LEN;
    for i in 0..l.chunk_count {
        let mut b = flip(&bytes, l.body_start + i * stride + 5);
        resign(&mut b);
        match open_as(&b, 1) {
            Err(SnapshotError::CorruptChunk { index, count }) => {
                assert_eq!((index, count), (i as u32 + 1, 3));
            }
            other => panic!("chunk {i}: expected CorruptChunk, got {other:?}"),
        }
    }
}

#[test]
fn rejects_swapped_chunks_even_when_validly_signed() {
    let bytes = three_chunk_file();
    let l = layout(&bytes);
    let stride = l.chunk_size + CHUNK_TAG_LEN;
    let mut b = bytes.clone();
    let (c0, c1) = (l.body_start, l.body_start + stride);
    let first: Vec<u8> = b[c0..c0 + stride].to_vec();
    b.copy_within(c1..c1 + stride, c0);
    b[c1..c1 + stride].copy_from_slice(&first);
    resign(&mut b);
    let err = open_as(&b, 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::CorruptChunk { index: 1, count: 3 }),
        "{err}"
    );
    assert_eq!(err.code(), "corrupt_chunk");
}

#[test]
fn rejects_dropped_last_chunk_even_when_header_is_rewritten_and_signed() {
    // A publisher-side attacker without the data key drops the final chunk and fixes up the
    // lengths: the header digest in the AAD and the STREAM last-chunk flag both refuse it.
    let bytes = three_chunk_file();
    let l = layout(&bytes);
    let stride = l.chunk_size + CHUNK_TAG_LEN;
    let h = l.header_start;
    let mut b = bytes[..l.body_start + 2 * stride].to_vec();
    b[h + 38..h + 46].copy_from_slice(&512u64.to_be_bytes());
    b[h + 46..h + 50].copy_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&[0u8; SIGNATURE_LEN]);
    resign(&mut b);
    let err = open_as(&b, 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::CorruptChunk { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn header_is_bound_into_every_chunk() {
    let bytes = three_chunk_file();
    let mut b = flip(&bytes, PREAMBLE_LEN + 24 + 7); // sequence 42 -> 40
    resign(&mut b);
    let err = open_as(&b, 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::CorruptChunk { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn rejects_tampered_wrapped_key_even_when_validly_signed() {
    let bytes = three_chunk_file();
    let mut b = flip(&bytes, layout(&bytes).entries_start + 8 + 3);
    resign(&mut b);
    let err = open_as(&b, 1).unwrap_err();
    assert!(matches!(err, SnapshotError::KeyUnwrapFailed(_)), "{err}");
    // The other recipient unwraps its key, but the changed header no longer matches the
    // chunks' AAD.
    let err = open_as(&b, 2).unwrap_err();
    assert!(
        matches!(err, SnapshotError::CorruptChunk { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn rejects_truncation_at_and_between_chunk_boundaries() {
    let bytes = three_chunk_file();
    let l = layout(&bytes);
    let stride = l.chunk_size + CHUNK_TAG_LEN;
    let mut cuts = vec![0, 5, 12, PREAMBLE_LEN, l.body_start - 1, l.body_start];
    for i in 1..=l.chunk_count {
        cuts.push(l.body_start + i * stride);
        cuts.push(l.body_start + i * stride - 7);
    }
    cuts.push(bytes.len() - SIGNATURE_LEN);
    cuts.push(bytes.len() - 1);
    for cut in cuts {
        let cut = cut.min(bytes.len() - 1);
        let err = open_as(&bytes[..cut], 1).unwrap_err();
        assert!(
            matches!(err, SnapshotError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert_eq!(err.code(), "truncated");
    }
}

#[test]
fn rejects_appended_bytes() {
    let mut bytes = three_chunk_file();
    bytes.push(0);
    let err = open_as(&bytes, 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::TrailingData { expected, actual } if actual == expected + 1),
        "{err}"
    );
}

#[test]
fn rejects_snapshot_signed_by_other_publisher() {
    let bytes = three_chunk_file();
    let other = PublisherSecret::from_bytes(&[99; 32]).public();
    let err = snapshot::open(&bytes, &appliance(1), &other, &Limits::default()).unwrap_err();
    assert!(matches!(err, SnapshotError::WrongPublisher { .. }), "{err}");
    assert_eq!(err.code(), "wrong_publisher");
    assert!(err.to_string().contains(&other.fingerprint()), "{err}");

    // Same key id claimed, but signed with another key.
    let mut b = bytes.clone();
    let forger = ed25519_dalek::SigningKey::from_bytes(&[99; 32]);
    let split = b.len() - SIGNATURE_LEN;
    let sig = forger.sign(&b[..split]).to_bytes();
    b[split..].copy_from_slice(&sig);
    let err = open_as(&b, 1).unwrap_err();
    assert!(matches!(err, SnapshotError::BadSignature { .. }), "{err}");
}

#[test]
fn rejects_decompression_bomb() {
    let limits = Limits {
        max_payload: 1024 * 1024,
        ..Limits::default()
    };
    let bomb = vec![b'A'; 4 * 1024 * 1024];
    let bytes = snapshot::seal(
        &publisher(),
        &[appliance(1).public()],
        &request(65536),
        &bomb,
    )
    .unwrap();
    assert!(bytes.len() < 4096, "highly compressible: {}", bytes.len());
    let err = snapshot::open(&bytes, &appliance(1), &publisher().public(), &limits).unwrap_err();
    assert!(
        matches!(err, SnapshotError::DecompressionBomb { limit: 1_048_576 }),
        "{err}"
    );
    assert_eq!(err.code(), "decompression_bomb");

    // Exactly at the limit is fine.
    let edge = vec![b'A'; 1024 * 1024];
    let bytes = snapshot::seal(
        &publisher(),
        &[appliance(1).public()],
        &request(65536),
        &edge,
    )
    .unwrap();
    let opened = snapshot::open(&bytes, &appliance(1), &publisher().public(), &limits).unwrap();
    assert_eq!(opened.payload.len(), edge.len());
}

#[test]
fn rejects_oversize_header() {
    let bytes = three_chunk_file();
    let limits = Limits {
        max_header: 100,
        ..Limits::default()
    };
    let err = snapshot::open(&bytes, &appliance(1), &publisher().public(), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::TooLarge {
                what: LimitKind::Header,
                limit: 100,
                ..
            }
        ),
        "{err}"
    );
    let mut b = bytes.clone();
    b[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = open_as(&b, 1).unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::TooLarge {
                what: LimitKind::Header,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "too_large");
}

#[test]
fn rejects_files_beyond_each_limit() {
    let bytes = three_chunk_file();
    let cases = [
        (
            Limits {
                max_file: 500,
                ..Limits::default()
            },
            LimitKind::File,
        ),
        (
            Limits {
                max_recipients: 1,
                ..Limits::default()
            },
            LimitKind::Recipients,
        ),
        (
            Limits {
                max_chunks: 2,
                ..Limits::default()
            },
            LimitKind::ChunkCount,
        ),
        (
            Limits {
                max_compressed: 300,
                ..Limits::default()
            },
            LimitKind::Compressed,
        ),
    ];
    for (limits, kind) in cases {
        let err =
            snapshot::open(&bytes, &appliance(1), &publisher().public(), &limits).unwrap_err();
        assert!(
            matches!(err, SnapshotError::TooLarge { what, .. } if what == kind),
            "{kind:?}: {err}"
        );
    }
    let big_chunks = snapshot::seal(
        &publisher(),
        &[appliance(1).public()],
        &request(4096),
        b"{}",
    )
    .unwrap();
    let limits = Limits {
        max_chunk_size: 1024,
        ..Limits::default()
    };
    let err =
        snapshot::open(&big_chunks, &appliance(1), &publisher().public(), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::TooLarge {
                what: LimitKind::ChunkSize,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn every_single_bit_flip_is_refused() {
    let recipients = [appliance(1).public()];
    let bytes = snapshot::seal(&publisher(), &recipients, &request(256), &noise(300, 7)).unwrap();
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[at] ^= 1 << bit;
            assert!(
                open_as(&b, 1).is_err(),
                "flip of bit {bit} at {at} was accepted"
            );
        }
    }
}

#[test]
fn seal_refuses_bad_requests() {
    let p = publisher();
    let r = [appliance(1).public()];
    let bad_ward = SealRequest {
        ward: "../A3",
        ..request(1024)
    };
    assert!(matches!(
        snapshot::seal(&p, &r, &bad_ward, b"{}"),
        Err(SnapshotError::InvalidRequest(_))
    ));
    assert!(matches!(
        snapshot::seal(&p, &r, &request(255), b"{}"),
        Err(SnapshotError::InvalidRequest(_))
    ));
    assert!(matches!(
        snapshot::seal(&p, &[], &request(1024), b"{}"),
        Err(SnapshotError::InvalidRequest(_))
    ));
    let twice = [appliance(1).public(), appliance(1).public()];
    assert!(matches!(
        snapshot::seal(&p, &twice, &request(1024), b"{}"),
        Err(SnapshotError::InvalidRequest(_))
    ));
    let low_order = [AppliancePublic::from_bytes(&[0; 32])];
    assert!(matches!(
        snapshot::seal(&p, &low_order, &request(1024), b"{}"),
        Err(SnapshotError::InvalidRequest(_))
    ));
}

#[test]
fn two_seals_of_the_same_payload_differ() {
    // Fresh data key, nonce and ephemeral key each time.
    let r = [appliance(1).public()];
    let a = snapshot::seal(&publisher(), &r, &request(1024), b"{}").unwrap();
    let b = snapshot::seal(&publisher(), &r, &request(1024), b"{}").unwrap();
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b);
}
