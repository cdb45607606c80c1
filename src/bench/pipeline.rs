//! P1, ingest in-process: the whole pipeline the daemon runs for one snapshot — read the
//! file, `snapshot::open` (verify, decrypt, decompress), `fhir::map_payload` (parse, map),
//! `Store::build` + `Store::swap` — timed per stage, against two baselines over the same
//! plaintext: serde_json parse-only (one `Value` per NDJSON line), serde_json's borrowed
//! skim (the floor: `resourceType` typed, the rest skipped) and AES-256-GCM decryption
//! alone of the same number of bytes (64 KiB chunks, `aes-gcm` directly).
//!
//! Each measurement is repeated, pipeline and baselines interleaved, and the median taken;
//! the per-stage figures are the medians of each stage separately.

use super::BenchError;
use super::data::{Keys, Scale};
use super::stats::{mb_per_s, median};
use crate::fhir::{MapOptions, map_payload};
use crate::snapshot::{self, Limits, PayloadKind};
use crate::store::{GenerationMeta, Store};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use rand_core::RngCore as _;
use std::path::Path;
use std::time::Instant;

/// AES baseline chunk size (the snapshot format's default chunk size).
pub(crate) const AES_CHUNK: usize = 64 * 1024;

/// The medians of one scale's P1 run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IngestFigures {
    /// Plaintext FHIR bytes (the payload).
    pub plaintext_bytes: usize,
    /// Sealed file bytes.
    pub sealed_bytes: usize,
    /// Patients in the mapped record (must equal the scale's patients).
    pub patients_mapped: usize,
    pub repeats: usize,
    /// Seconds, medians.
    pub read_s: f64,
    pub open_s: f64,
    pub map_s: f64,
    pub build_swap_s: f64,
    /// Median of the per-repeat totals (not the sum of the stage medians).
    pub total_s: f64,
    /// serde_json parse-only of the same plaintext, seconds (median).
    pub parse_only_s: f64,
    /// serde_json borrowed skim of the same plaintext (typing `resourceType` only), seconds
    /// (median): the floor any reader of this JSON stays above.
    pub skim_only_s: f64,
    /// AES-256-GCM decryption of as many bytes, seconds (median).
    pub aes_only_s: f64,
}

impl IngestFigures {
    /// Pipeline throughput, plaintext MB/s.
    pub(crate) fn pipeline_mb_s(&self) -> Option<f64> {
        mb_per_s(self.plaintext_bytes, self.total_s)
    }
    /// Parse-only throughput, MB/s.
    pub(crate) fn parse_mb_s(&self) -> Option<f64> {
        mb_per_s(self.plaintext_bytes, self.parse_only_s)
    }
    /// Skim throughput, MB/s.
    pub(crate) fn skim_mb_s(&self) -> Option<f64> {
        mb_per_s(self.plaintext_bytes, self.skim_only_s)
    }
    /// AES-only throughput, MB/s.
    pub(crate) fn aes_mb_s(&self) -> Option<f64> {
        mb_per_s(self.plaintext_bytes, self.aes_only_s)
    }
    /// The slowest stage: its name and seconds.
    pub(crate) fn slowest_stage(&self) -> (&'static str, f64) {
        let stages = [
            ("read", self.read_s),
            ("open (verify+decrypt+decompress)", self.open_s),
            ("map (parse+map)", self.map_s),
            ("build+swap", self.build_swap_s),
        ];
        stages
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or(("read", self.read_s))
    }
}

/// serde_json parse of every NDJSON line as a `Value`; returns the number of documents.
pub(crate) fn parse_only(payload: &[u8]) -> Result<usize, BenchError> {
    let mut n = 0;
    for line in payload.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| BenchError::Data(format!("parse-only baseline: {e}")))?;
        std::hint::black_box(&v);
        n += 1;
    }
    Ok(n)
}

/// The floor: serde_json reads every NDJSON line borrowed, typing only `resourceType` (the
/// rest is skipped unbuilt); returns the number of documents.
pub(crate) fn skim_only(payload: &[u8]) -> Result<usize, BenchError> {
    #[derive(serde::Deserialize)]
    struct Skim<'a> {
        #[serde(rename = "resourceType", borrow)]
        rtype: std::borrow::Cow<'a, str>,
    }
    let mut n = 0;
    for line in payload.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Skim<'_> = serde_json::from_slice(line)
            .map_err(|e| BenchError::Data(format!("skim baseline: {e}")))?;
        std::hint::black_box(&v.rtype);
        n += 1;
    }
    Ok(n)
}

/// Encrypted chunks for the AES baseline: `len` bytes in [`AES_CHUNK`] chunks under a
/// random key, each with its own nonce.
pub(crate) struct AesChunks {
    cipher: Aes256Gcm,
    chunks: Vec<([u8; 12], Vec<u8>)>,
}

impl AesChunks {
    /// Encrypts `len` bytes of `source` (repeated as needed).
    pub(crate) fn prepare(source: &[u8], len: usize) -> Result<AesChunks, BenchError> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rand_core::OsRng
            .try_fill_bytes(key.as_mut())
            .map_err(|_| BenchError::Data("AES baseline: no random key".into()))?;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| BenchError::Data("AES baseline: key".into()))?;
        let mut chunks = Vec::new();
        let mut done = 0usize;
        let mut counter = 0u64;
        while done < len {
            let n = AES_CHUNK.min(len - done);
            let start = done % source.len().max(1);
            let mut pt: Vec<u8> = source.iter().cycle().skip(start).take(n).copied().collect();
            pt.resize(n, 0);
            let mut nonce = [0u8; 12];
            nonce
                .get_mut(..8)
                .ok_or_else(|| BenchError::Data("nonce".into()))?
                .copy_from_slice(&counter.to_be_bytes());
            let ct = cipher
                .encrypt(&nonce.into(), pt.as_slice())
                .map_err(|_| BenchError::Data("AES baseline: encryption failed".into()))?;
            chunks.push((nonce, ct));
            done += n;
            counter += 1;
        }
        Ok(AesChunks { cipher, chunks })
    }

    /// Decrypts every chunk; returns the plaintext bytes.
    pub(crate) fn decrypt_all(&self) -> Result<usize, BenchError> {
        let mut total = 0;
        for (nonce, ct) in &self.chunks {
            let pt = self
                .cipher
                .decrypt(&(*nonce).into(), ct.as_slice())
                .map_err(|_| BenchError::Data("AES baseline: decryption failed".into()))?;
            total += pt.len();
            std::hint::black_box(&pt);
        }
        Ok(total)
    }
}

/// Runs P1 for one scale: `repeats` times the whole pipeline on a sealed file in `dir`
/// (the store's generations go to `dir/runtime`), and as many times each baseline.
pub(crate) fn measure(
    scale: &Scale,
    keys: &Keys,
    dir: &Path,
    repeats: usize,
) -> Result<IngestFigures, BenchError> {
    let repeats = repeats.max(1);
    let now = scale.now;
    let sealed = keys.seal(&scale.ward, 1, PayloadKind::Clinical, &scale.payload, now)?;
    let file = dir.join(format!("{}.snap", scale.name));
    std::fs::write(&file, &sealed).map_err(BenchError::io(&file))?;
    let store = Store::open(&dir.join("runtime"))?;
    let limits: Limits = super::data::bench_limits();
    let opts = MapOptions::new(now, scale.ward.clone());

    let aes = AesChunks::prepare(&scale.payload, scale.payload.len())?;
    let (mut read, mut open, mut map, mut build, mut total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut parse, mut skim, mut aes_s) = (Vec::new(), Vec::new(), Vec::new());
    let mut patients_mapped = 0;
    // Pipeline and baselines interleaved per repeat, so a change in the machine's load
    // during the run weighs on both sides of each ratio alike.
    for _ in 0..repeats {
        let t0 = Instant::now();
        let bytes = snapshot::read_bounded(&file, &limits).map_err(BenchError::io(&file))?;
        let t1 = Instant::now();
        let opened = snapshot::open(&bytes, &keys.appliance, &keys.publisher_pub, &limits)?;
        let t2 = Instant::now();
        let ward = map_payload(&opened.payload, &opts)?;
        let t3 = Instant::now();
        let meta = GenerationMeta {
            ward: opened.header.ward.clone(),
            sequence: opened.header.sequence,
            data_as_of: opened.header.data_as_of,
            created_at: opened.header.created_at,
            received_at: now,
            snapshot_file: format!("{}.snap", scale.name),
            report: ward.report.clone(),
            derived_at: Some(now),
            next_change: ward.next_change,
        };
        let generation = store.build(meta, &ward)?;
        store.swap(generation);
        let t4 = Instant::now();
        patients_mapped = ward.patients.len();
        drop(ward);
        drop(opened);
        read.push((t1 - t0).as_secs_f64());
        open.push((t2 - t1).as_secs_f64());
        map.push((t3 - t2).as_secs_f64());
        build.push((t4 - t3).as_secs_f64());
        total.push((t4 - t0).as_secs_f64());
        let t = Instant::now();
        parse_only(&scale.payload)?;
        parse.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        skim_only(&scale.payload)?;
        skim.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        aes.decrypt_all()?;
        aes_s.push(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_file(&file);
    let m = |v: &[f64]| median(v).unwrap_or(f64::NAN);
    Ok(IngestFigures {
        plaintext_bytes: scale.payload.len(),
        sealed_bytes: sealed.len(),
        patients_mapped,
        repeats,
        read_s: m(&read),
        open_s: m(&open),
        map_s: m(&map),
        build_swap_s: m(&build),
        total_s: m(&total),
        parse_only_s: m(&parse),
        skim_only_s: m(&skim),
        aes_only_s: m(&aes_s),
    })
}
