//! Property tests for the snapshot format: any payload at any chunk size round-trips;
//! random bytes and random mutations of a valid file never panic `open` and are never
//! accepted unless the file is unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{TimeZone, Utc};
use ed25519_dalek::Signer as _;
use noodepd::keys::{ApplianceSecret, PublisherSecret};
use noodepd::snapshot::{self, Limits, PayloadKind, SealRequest};
use proptest::prelude::*;

fn keys() -> (PublisherSecret, ApplianceSecret) {
    (
        PublisherSecret::from_bytes(&[5; 32]),
        ApplianceSecret::from_bytes(&[6; 32]),
    )
}

fn seal(payload: &[u8], chunk_size: u32) -> Vec<u8> {
    let (p, a) = keys();
    let req = SealRequest {
        ward: "ICU-2",
        sequence: 7,
        created_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        data_as_of: Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).unwrap(),
        kind: PayloadKind::Clinical,
        chunk_size,
        allow_shrink: false,
    };
    snapshot::seal(&p, &[a.public()], &req, payload).unwrap()
}

fn open(bytes: &[u8]) -> Result<snapshot::Opened, snapshot::SnapshotError> {
    let (p, a) = keys();
    snapshot::open(bytes, &a, &p.public(), &Limits::default())
}

/// Payloads that are random, repetitive, or a mix (so both stored and compressed blocks).
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..6000),
        (any::<u8>(), 0usize..50_000).prop_map(|(b, n)| vec![b; n]),
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'{'), any::<u8>()], 0..6000),
    ]
}

/// One change to a file: flip bits, overwrite, truncate, insert or delete.
#[derive(Debug, Clone)]
enum Mutation {
    Xor(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Xor(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Xor(i, x) => bytes[i % len] ^= x,
        Mutation::Truncate(i) => bytes.truncate(i % len),
        Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
        Mutation::Delete(i) => {
            bytes.remove(i % len);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_round_trips_at_any_chunk_size(payload in payload(), chunk_size in 256u32..5000) {
        let bytes = seal(&payload, chunk_size);
        let opened = open(&bytes).unwrap();
        prop_assert_eq!(opened.payload.as_slice(), payload.as_slice());
        prop_assert_eq!(opened.header.chunk_size, chunk_size);
        let expected_chunks = opened.header.compressed_len.div_ceil(u64::from(chunk_size));
        prop_assert_eq!(u64::from(opened.header.chunk_count), expected_chunks);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        prop_assert!(open(&bytes).is_err());
    }

    #[test]
    fn random_bytes_after_a_valid_preamble_never_open(tail in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut bytes = seal(b"{}", 256)[..14].to_vec();
        bytes.extend_from_slice(&tail);
        prop_assert!(open(&bytes).is_err());
    }

    #[test]
    fn mutated_files_never_open(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let original = seal(&[b'x'; 1500], 256);
        let mut bytes = original.clone();
        for m in &mutations {
            if bytes.is_empty() {
                break;
            }
            apply(&mut bytes, m);
        }
        let result = open(&bytes);
        if bytes == original {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "mutations {:?} were accepted", mutations);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A publisher that signs whatever it is handed (buggy or compromised) still cannot make
    /// the appliance accept altered content: the checks behind the signature hold, and the
    /// decrypt and decompress paths never panic.
    #[test]
    fn resigned_mutations_never_open(edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4)) {
        let original = seal(&[b'y'; 3000], 256);
        let signed_len = original.len() - 64;
        let mut bytes = original.clone();
        for (i, x) in &edits {
            bytes[i % signed_len] ^= x;
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let sig = key.sign(&bytes[..signed_len]).to_bytes();
        bytes[signed_len..].copy_from_slice(&sig);
        let result = open(&bytes);
        if bytes == original {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "edits {:?} were accepted", edits);
        }
    }
}
