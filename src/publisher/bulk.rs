//! FHIR Bulk Data for a source in `bulk` mode: `Group/{id}/$export` with `_type` (Patient
//! and the configured types) and `_since` between full exports; kick-off with
//! `Prefer: respond-async`, polling the status URL as `Retry-After` asks (bounded), NDJSON
//! download, then the export deleted on the server.
//!
//! The exported resources are kept in memory per source ([`BulkCache`]): a full export
//! replaces them, an incremental one (`_since` = the last export's `transactionTime`)
//! updates them. Deleted resources are not in incremental exports, so a full export runs
//! at least every `full_every`. The census still comes from search (it must be current;
//! two requests per ward); a census patient whom the export does not cover (no Patient
//! resource in it: not in the Group) is read by search instead, so nobody is left out.

use super::client::{FetchError, FhirClient, status_error};
use super::config::{BulkConfig, SourceConfig};
use super::resources::{self, Key, ReadError, ResourceSet};
use chrono::{DateTime, Utc};
use hyper::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Wait between polls when the server names none.
const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// Most output files in one manifest.
const MAX_FILES: usize = 10_000;

/// The resources of the last exports, by patient.
#[derive(Default)]
pub(crate) struct BulkCache {
    /// `transactionTime` of the export the cache is current to.
    pub transaction_time: Option<DateTime<Utc>>,
    /// When the last full export finished.
    last_full: Option<Instant>,
    by_key: HashMap<Key, Value>,
    /// Patient id → keys of that patient's resources.
    by_patient: HashMap<String, BTreeSet<Key>>,
}

impl BulkCache {
    fn clear(&mut self) {
        self.by_key.clear();
        self.by_patient.clear();
    }

    fn put(&mut self, r: Value, base: &str) {
        let Some(key) = resources::key_of(&r) else {
            return;
        };
        let patient = if key.0 == "Patient" {
            Some(key.1.clone())
        } else {
            resources::patient_of(&r, base)
        };
        let Some(p) = patient else { return };
        if let Some(old) = self.by_key.get(&key)
            && let Some(op) = resources::patient_of(old, base)
            && op != p
            && let Some(set) = self.by_patient.get_mut(&op)
        {
            set.remove(&key);
        }
        self.by_patient.entry(p).or_default().insert(key.clone());
        self.by_key.insert(key, r);
    }

    /// Whether the export covers this patient (its Patient resource was exported).
    pub(crate) fn covers(&self, patient: &str) -> bool {
        self.by_key
            .contains_key(&("Patient".to_owned(), patient.to_owned()))
    }

    /// A patient's exported resources (the Patient itself and Encounters excepted: the
    /// census has current copies), observations and administrations within the windows.
    pub(crate) fn patient_resources(
        &self,
        patient: &str,
        source: &SourceConfig,
        now: DateTime<Utc>,
        into: &mut ResourceSet,
    ) -> Result<(), ReadError> {
        let Some(keys) = self.by_patient.get(patient) else {
            return Ok(());
        };
        for k in keys {
            if k.0 == "Patient" || k.0 == "Encounter" || !source.resources.contains(&k.0) {
                continue;
            }
            let Some(r) = self.by_key.get(k) else {
                continue;
            };
            if !within_window(r, source, now) {
                continue;
            }
            into.insert(r.clone(), "bulk export")?;
        }
        Ok(())
    }

    /// Resources held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

/// Observations and administrations outside the source's windows are left out (search
/// mode asks the server for the same windows).
fn within_window(r: &Value, source: &SourceConfig, now: DateTime<Utc>) -> bool {
    let (window, fields): (Duration, &[&str]) = match r.get("resourceType").and_then(Value::as_str)
    {
        Some("Observation") => (
            source.observation_window,
            &["effectiveDateTime", "effectiveInstant", "issued"],
        ),
        Some("MedicationAdministration") => (source.administration_window, &["effectiveDateTime"]),
        _ => return true,
    };
    let t = fields
        .iter()
        .find_map(|f| r.get(*f).and_then(Value::as_str))
        .or_else(|| {
            r.get("effectivePeriod")
                .and_then(|p| p.get("end").or_else(|| p.get("start")))
                .and_then(Value::as_str)
        });
    let Some(t) = t else { return true };
    // Partial dates (a day) count from their start: kept when unsure.
    let Ok(t) = DateTime::parse_from_rfc3339(t) else {
        return true;
    };
    let cutoff = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::zero());
    t.with_timezone(&Utc) >= cutoff
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "transactionTime")]
    transaction_time: String,
    #[serde(default)]
    output: Vec<OutputFile>,
    #[serde(default)]
    error: Vec<OutputFile>,
}

#[derive(Deserialize)]
struct OutputFile {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

/// What one export did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Exported {
    pub full: bool,
    pub files: usize,
    pub resources: usize,
    pub polls: usize,
}

/// Runs one export for the source and updates `cache`.
pub(crate) async fn export(
    client: &FhirClient,
    source: &SourceConfig,
    bulk: &BulkConfig,
    cache: &mut BulkCache,
) -> Result<Exported, ReadError> {
    let what = format!("source {}: bulk export", source.name);
    let full = !bulk.since
        || cache.transaction_time.is_none()
        || cache
            .last_full
            .is_none_or(|t| t.elapsed() >= bulk.full_every);
    let mut types = vec!["Patient".to_owned()];
    types.extend(source.resources.iter().cloned());
    let mut pairs: Vec<(&str, String)> = vec![("_type", types.join(","))];
    if !full && let Some(t) = cache.transaction_time {
        pairs.push((
            "_since",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ));
    }
    let pairs_ref: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let kick = resources::query(&format!("Group/{}/$export", bulk.group), &pairs_ref);
    let started = Instant::now();
    let r = client
        .request(
            Method::GET,
            &kick,
            &[
                ("accept", "application/fhir+json"),
                ("prefer", "respond-async, handling=strict"),
            ],
            &what,
        )
        .await?;
    if r.status != 202 {
        return Err(status_error(&what, r.status, &r.body).into());
    }
    let status_url = r
        .header("content-location")
        .ok_or_else(|| ReadError::invalid(&what, "the kick-off answer has no Content-Location"))?
        .to_owned();
    let result = poll_and_download(client, source, bulk, &what, &status_url, started).await;
    // Tell the server it may delete the files (best effort; spec: the client should).
    let _ = client
        .request(Method::DELETE, &status_url, &[], &format!("{what} cleanup"))
        .await;
    let (manifest_time, got, polls, files) = result?;
    if full {
        cache.clear();
        cache.last_full = Some(Instant::now());
    }
    let base = client.base.clone();
    let n = got.len();
    for v in got {
        cache.put(v, &base);
    }
    cache.transaction_time = Some(manifest_time);
    Ok(Exported {
        full,
        files,
        resources: n,
        polls,
    })
}

type Downloaded = (DateTime<Utc>, Vec<Value>, usize, usize);

async fn poll_and_download(
    client: &FhirClient,
    source: &SourceConfig,
    bulk: &BulkConfig,
    what: &str,
    status_url: &str,
    started: Instant,
) -> Result<Downloaded, ReadError> {
    let mut polls = 0usize;
    let manifest: Manifest = loop {
        if started.elapsed() >= bulk.timeout {
            return Err(ReadError::invalid(
                what,
                format!(
                    "not complete within {:?} (bulk.timeout_minutes)",
                    bulk.timeout
                ),
            ));
        }
        polls += 1;
        let r = client
            .request(
                Method::GET,
                status_url,
                &[("accept", "application/json")],
                &format!("{what} status"),
            )
            .await?;
        match r.status {
            202 => {
                let wait = super::client::retry_after(r.header("retry-after"), bulk.poll_max)
                    .unwrap_or(DEFAULT_POLL)
                    .max(Duration::from_secs(1))
                    .min(bulk.poll_max);
                if let Some(p) = r.header("x-progress") {
                    let p: String = p.chars().filter(|c| !c.is_control()).take(80).collect();
                    log::debug!("{what}: in progress ({p})");
                }
                tokio::time::sleep(wait).await;
            }
            200 => {
                break serde_json::from_slice(&r.body).map_err(|e| {
                    ReadError::invalid(&format!("{what} manifest"), crate::jsonerr::describe(&e))
                })?;
            }
            s => return Err(status_error(&format!("{what} status"), s, &r.body).into()),
        }
    };
    let time = DateTime::parse_from_rfc3339(&manifest.transaction_time)
        .map_err(|_| {
            ReadError::invalid(&format!("{what} manifest"), "transactionTime is not a time")
        })?
        .with_timezone(&Utc);
    if manifest.output.len() + manifest.error.len() > MAX_FILES {
        return Err(ReadError::invalid(
            what,
            format!("more than {MAX_FILES} files"),
        ));
    }
    // Error files hold OperationOutcomes: an error or fatal issue means resources are missing.
    for f in &manifest.error {
        let body = download(client, &f.url, &format!("{what} error file")).await?;
        for line in body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        {
            let v: Value = serde_json::from_slice(line).map_err(|e| {
                ReadError::invalid(&format!("{what} error file"), crate::jsonerr::describe(&e))
            })?;
            let bad = v.get("issue").and_then(Value::as_array).is_some_and(|is| {
                is.iter().any(|i| {
                    matches!(
                        i.get("severity").and_then(Value::as_str),
                        Some("error" | "fatal")
                    )
                })
            });
            if bad {
                return Err(ReadError::invalid(
                    what,
                    "the export reports errors (some resources were not exported)",
                ));
            }
        }
    }
    let mut got = Vec::new();
    let wanted: BTreeSet<&str> = std::iter::once("Patient")
        .chain(source.resources.iter().map(String::as_str))
        .collect();
    for f in &manifest.output {
        if !wanted.contains(f.kind.as_str()) {
            continue;
        }
        let fwhat = format!(
            "{what} {} file",
            f.kind.chars().take(64).collect::<String>()
        );
        let body = download(client, &f.url, &fwhat).await?;
        for line in body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        {
            let v: Value = serde_json::from_slice(line)
                .map_err(|e| ReadError::invalid(&fwhat, crate::jsonerr::describe(&e)))?;
            if v.get("resourceType").and_then(Value::as_str) != Some(f.kind.as_str())
                || resources::key_of(&v).is_none()
            {
                return Err(ReadError::invalid(
                    &fwhat,
                    "a line is not a resource of the file's type with a valid id",
                ));
            }
            got.push(v);
            if got.len() > resources::MAX_RESOURCES * 4 {
                return Err(ReadError::invalid(what, "too many resources"));
            }
        }
    }
    Ok((time, got, polls, manifest.output.len()))
}

async fn download(client: &FhirClient, url: &str, what: &str) -> Result<bytes::Bytes, ReadError> {
    let r = client
        .request(
            Method::GET,
            url,
            &[("accept", "application/fhir+ndjson")],
            what,
        )
        .await?;
    match r.status {
        200 => Ok(r.body),
        s => Err(ReadError::Fetch(match s {
            404 | 410 => FetchError::NotFound {
                what: what.to_owned(),
                status: s,
            },
            _ => status_error(what, s, &r.body),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "http://epd/fhir";

    #[test]
    fn cache_indexes_by_patient_and_moves_a_resource_between_patients() {
        let mut c = BulkCache::default();
        c.put(json!({"resourceType": "Patient", "id": "p1"}), BASE);
        c.put(
            json!({"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p1"}}),
            BASE,
        );
        c.put(
            json!({"resourceType": "Condition", "id": "x", "subject": {"reference": "Group/g"}}),
            BASE,
        );
        assert!(c.covers("p1"));
        assert!(!c.covers("p2"));
        assert_eq!(c.len(), 2);
        c.put(
            json!({"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p2"}}),
            BASE,
        );
        assert!(!c.by_patient["p1"].contains(&("Condition".to_owned(), "c".to_owned())));
        assert!(c.by_patient["p2"].contains(&("Condition".to_owned(), "c".to_owned())));
    }

    #[test]
    fn observations_outside_the_window_are_left_out() {
        let text = "[[source]]\nname = \"epd\"\nbase_url = \"http://epd/fhir\"\n\
            [[ward]]\nid = \"A3\"\nlocation = \"w\"\n[[ward.box]]\nid = \"b\"\nkey = \"k\"\ndir = \"/tmp\"\n";
        let s =
            super::super::config::PublisherConfig::from_toml(text, std::path::Path::new("p.toml"))
                .unwrap()
                .sources
                .remove(0);
        let now = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let old =
            json!({"resourceType": "Observation", "effectiveDateTime": "2026-11-01T12:00:00Z"});
        let new = json!({"resourceType": "Observation", "effectiveDateTime": "2026-11-19T12:00:00+01:00"});
        let undated = json!({"resourceType": "Observation"});
        let cond = json!({"resourceType": "Condition", "onsetDateTime": "2000-01-01"});
        assert!(!within_window(&old, &s, now));
        assert!(within_window(&new, &s, now));
        assert!(within_window(&undated, &s, now));
        assert!(within_window(&cond, &s, now));
    }
}
