//! Hydration: many exports leave out what their resources refer to (the Medication a
//! MedicationRequest names, the Practitioner who ordered it, a bed's room and ward, the
//! member Observations of a panel). Before sealing, every reference on this server to a
//! type the box reads through references is fetched when it is missing, a few rounds deep.
//!
//! Patient-bound targets (Observation, MedicationRequest, Device, RelatedPerson) are kept
//! only when they belong to a patient of this ward; a Patient is never fetched here (the
//! census decides who is on the ward). Shared master data (Medication, Practitioner,
//! PractitionerRole, Organization) is cached per source for [`CACHE_FOR`], so a cycle
//! fetches only what is new. A 404/410 is not a failure (the box shows the reference's
//! display instead); any other failure fails the ward.

use super::client::{FetchError, FhirClient};
use super::resources::{self, Key, ReadError, ResourceSet, ref_target};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rounds of following references (Location → room → ward, PractitionerRole → Practitioner).
const MAX_ROUNDS: usize = 4;
/// Most resources fetched for one ward in one cycle.
const MAX_FETCHED: usize = 20_000;
/// How long shared master data is reused before it is read again.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(15 * 60);
/// Most cached master-data resources per source.
const MAX_CACHED: usize = 50_000;

/// Types fetched when referenced but missing.
const HYDRATED: &[&str] = &[
    "Medication",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "Device",
    "RelatedPerson",
    "Observation",
    "MedicationRequest",
    "Substance",
];

/// Types that are the same for every patient (cacheable).
const SHARED: &[&str] = &[
    "Medication",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Substance",
];

/// Master data read recently, per source.
#[derive(Default)]
pub(crate) struct RefCache {
    map: Mutex<HashMap<Key, (Instant, Arc<Value>)>>,
}

impl RefCache {
    fn get(&self, k: &Key) -> Option<Arc<Value>> {
        let map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(k)
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, k: Key, v: Arc<Value>) {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() >= MAX_CACHED {
            map.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            if map.len() >= MAX_CACHED {
                map.clear();
            }
        }
        map.insert(k, (Instant::now(), v));
    }
}

/// What hydration did, for the log and the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Hydrated {
    pub fetched: usize,
    pub from_cache: usize,
    pub not_found: usize,
}

/// The missing targets of `set`'s references, of hydrated types.
fn missing(set: &ResourceSet, base: &str, tried: &BTreeSet<Key>) -> BTreeSet<Key> {
    let mut refs = Vec::new();
    for (_, r) in set.iter() {
        resources::references(r, &mut refs);
    }
    refs.iter()
        .filter_map(|r| ref_target(r, base))
        .filter(|k| HYDRATED.contains(&k.0.as_str()))
        .filter(|k| !set.contains(k) && !tried.contains(k))
        .collect()
}

/// Fetches what `set` refers to and lacks; `patients` are the ward's patient ids.
pub(crate) async fn hydrate(
    client: Arc<FhirClient>,
    cache: &RefCache,
    ward: &str,
    set: &mut ResourceSet,
    patients: &BTreeSet<String>,
) -> Result<Hydrated, ReadError> {
    let base = client.base.clone();
    let mut done = Hydrated::default();
    let mut tried: BTreeSet<Key> = BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let todo = missing(set, &base, &tried);
        if todo.is_empty() {
            break;
        }
        let mut fetch = Vec::new();
        for k in todo {
            tried.insert(k.clone());
            match cache.get(&k) {
                Some(v) => {
                    set.insert((*v).clone(), ward)?;
                    done.from_cache += 1;
                }
                None => fetch.push(k),
            }
        }
        if done.fetched + fetch.len() > MAX_FETCHED {
            return Err(ReadError::invalid(
                &format!("ward {ward}: referenced resources"),
                format!("more than {MAX_FETCHED} to fetch"),
            ));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for k in fetch {
            let client = client.clone();
            let what = format!("ward {ward}: referenced {}", k.0);
            super::client::spawn_counted(&mut tasks, async move {
                let r = client.get_json(&format!("{}/{}", k.0, k.1), &what).await;
                (k, what, r)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (k, what, r) = joined.map_err(|e| {
                ReadError::invalid(&format!("ward {ward}"), format!("a fetch task failed: {e}"))
            })?;
            match r {
                Ok(v) => {
                    if resources::key_of(&v).as_ref() != Some(&k) {
                        return Err(ReadError::invalid(&what, "the answer is another resource"));
                    }
                    if resources::patient_field(&k.0).is_some() {
                        match resources::patient_of(&v, &base) {
                            Some(p) if patients.contains(&p) => {}
                            // Another patient's (or no patient's): never on this ward's box.
                            _ => continue,
                        }
                    }
                    done.fetched += 1;
                    if SHARED.contains(&k.0.as_str()) {
                        cache.put(k, Arc::new(v.clone()));
                    }
                    set.insert(v, &what)?;
                }
                Err(FetchError::NotFound { .. }) => done.not_found += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn fetches_what_is_referenced_keeps_other_patients_out_and_caches_master_data() {
        use super::super::client::mock;
        let srv = mock::start(vec![]).await;
        srv.route(
            "/fhir/Medication/m",
            mock::json(
                200,
                "",
                r#"{"resourceType": "Medication", "id": "m", "code": {"text": "x"}}"#,
            ),
        );
        srv.route(
            "/fhir/Observation/o2",
            mock::json(200, "", r#"{"resourceType": "Observation", "id": "o2", "subject": {"reference": "Patient/zzz"}}"#),
        );
        srv.route(
            "/fhir/Location/room",
            mock::json(200, "", r#"{"resourceType": "Location", "id": "room", "partOf": {"reference": "Location/ward"}}"#),
        );
        srv.route(
            "/fhir/Location/ward",
            mock::json(200, "", r#"{"resourceType": "Location", "id": "ward"}"#),
        );
        let text = format!(
            "[[source]]\nname = \"epd\"\nbase_url = \"{}\"\n[[ward]]\nid = \"A3\"\nlocation = \"w\"\n\
             [[ward.box]]\nid = \"b\"\nkey = \"k\"\ndir = \"/tmp\"\n",
            srv.base
        );
        let source =
            super::super::config::PublisherConfig::from_toml(&text, std::path::Path::new("p.toml"))
                .unwrap()
                .sources
                .remove(0);
        let client = Arc::new(FhirClient::new(&source).unwrap());
        let mut set = ResourceSet::default();
        set.insert(
            json!({"resourceType": "MedicationRequest", "id": "r", "subject": {"reference": "Patient/a"},
                "medicationReference": {"reference": "Medication/m"},
                "requester": {"reference": "Practitioner/gone"}}),
            "t",
        )
        .unwrap();
        set.insert(
            json!({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/a"},
                "hasMember": [{"reference": "Observation/o2"}]}),
            "t",
        )
        .unwrap();
        set.insert(json!({"resourceType": "Location", "id": "bed", "partOf": {"reference": "Location/room"}}), "t")
            .unwrap();
        let cache = RefCache::default();
        let patients: BTreeSet<String> = ["a".to_owned()].into();
        let h = hydrate(client.clone(), &cache, "A3", &mut set, &patients)
            .await
            .unwrap();
        assert!(set.contains(&("Medication".into(), "m".into())));
        assert!(
            set.contains(&("Location".into(), "ward".into())),
            "two rounds: bed → room → ward"
        );
        assert!(
            !set.contains(&("Observation".into(), "o2".into())),
            "another patient's"
        );
        assert_eq!(h.not_found, 1, "Practitioner/gone");
        // Next cycle: the Medication comes from the cache.
        let mut again = ResourceSet::default();
        again.insert(json!({"resourceType": "MedicationRequest", "id": "r", "subject": {"reference": "Patient/a"},
            "medicationReference": {"reference": "Medication/m"}}), "t").unwrap();
        let before = srv.requests.lock().unwrap().len();
        let h2 = hydrate(client, &cache, "A3", &mut again, &patients)
            .await
            .unwrap();
        assert_eq!(
            (h2.from_cache, srv.requests.lock().unwrap().len()),
            (1, before)
        );
    }

    #[test]
    fn only_missing_references_of_hydrated_types_are_wanted() {
        let mut s = ResourceSet::default();
        s.insert(
            json!({"resourceType": "MedicationRequest", "id": "m", "subject": {"reference": "Patient/p"},
                "medicationReference": {"reference": "Medication/x"},
                "requester": {"reference": "http://epd/fhir/Practitioner/d"},
                "basedOn": [{"reference": "ServiceRequest/s"}],
                "reasonReference": [{"reference": "Condition/c"}]}),
            "t",
        )
        .unwrap();
        s.insert(json!({"resourceType": "Medication", "id": "y"}), "t")
            .unwrap();
        let mut tried = BTreeSet::new();
        let want = missing(&s, "http://epd/fhir", &tried);
        let want: Vec<_> = want.into_iter().collect();
        assert_eq!(
            want,
            vec![
                ("Medication".to_owned(), "x".to_owned()),
                ("Practitioner".to_owned(), "d".to_owned())
            ]
        );
        tried.insert(("Medication".into(), "x".into()));
        assert_eq!(missing(&s, "http://epd/fhir", &tried).len(), 1);
    }
}
