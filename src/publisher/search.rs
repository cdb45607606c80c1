//! Reading the census patients' data by FHIR search: per configured resource type, one
//! search for a batch of patients (`patient=Patient/a,Patient/b,…`), every page followed;
//! administrations limited to the administration window, observations to the configured
//! categories and the observation window. All searches of a ward run at once, bounded by
//! the source's concurrency.

use super::client::FhirClient;
use super::config::SourceConfig;
use super::resources::{self, ReadError, ResourceSet, patient_refs, query};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// One search to make: its path (with query) and what to call it in messages.
struct Search {
    path: String,
    what: String,
    patients: BTreeSet<String>,
}

fn since(now: DateTime<Utc>, window: std::time::Duration) -> String {
    let d = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::zero());
    (now - d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The searches for `patients` (one per type per batch).
fn plan(source: &SourceConfig, ward: &str, patients: &[String], now: DateTime<Utc>) -> Vec<Search> {
    let page = source.page_size.to_string();
    let mut out = Vec::new();
    let batches: Vec<&[String]> = patients.chunks(source.patients_per_search.max(1)).collect();
    let n = batches.len();
    for t in &source.resources {
        for (i, batch) in batches.iter().enumerate() {
            let refs = patient_refs(batch);
            let mut q: Vec<(&str, String)> = vec![("patient", refs)];
            match t.as_str() {
                "MedicationAdministration" => {
                    q.push((
                        "effective-time",
                        format!("ge{}", since(now, source.administration_window)),
                    ));
                }
                "Observation" => {
                    q.push(("category", source.observation_categories.join(",")));
                    q.push((
                        "date",
                        format!("ge{}", since(now, source.observation_window)),
                    ));
                }
                _ => {}
            }
            q.push(("_count", page.clone()));
            let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            out.push(Search {
                path: query(t, &pairs),
                what: if n > 1 {
                    format!("ward {ward}: {t} search (batch {} of {n})", i + 1)
                } else {
                    format!("ward {ward}: {t} search")
                },
                patients: batch.iter().cloned().collect(),
            });
        }
    }
    out
}

/// Reads every configured resource type for `patients`; every resource returned must
/// belong to one of them.
pub(crate) async fn read_patients(
    client: Arc<FhirClient>,
    source: &SourceConfig,
    ward: &str,
    patients: &[String],
    now: DateTime<Utc>,
) -> Result<ResourceSet, ReadError> {
    let mut tasks = tokio::task::JoinSet::new();
    for s in plan(source, ward, patients, now) {
        let client = client.clone();
        super::client::spawn_counted(&mut tasks, async move {
            let mut got = ResourceSet::default();
            let base = client.base.clone();
            let Search {
                path,
                what,
                patients,
            } = s;
            resources::search_all(&client, &path, &what, &mut got, |r: &Value| {
                match resources::patient_of(r, &base) {
                    Some(p) if patients.contains(&p) => Ok(()),
                    _ => Err(ReadError::invalid(
                        &what,
                        "the EPD returned a resource of a patient not asked for (it ignored a \
                         search parameter?); nothing of this ward is published",
                    )),
                }
            })
            .await?;
            Ok::<_, ReadError>(got)
        });
    }
    let mut all = ResourceSet::default();
    while let Some(joined) = tasks.join_next().await {
        let got = match joined {
            Ok(r) => r?,
            Err(e) => {
                return Err(ReadError::invalid(
                    &format!("ward {ward}"),
                    format!("a search task failed: {e}"),
                ));
            }
        };
        all.extend(got, ward)?;
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceConfig {
        let text = "[[source]]\nname = \"epd\"\nbase_url = \"http://127.0.0.1:1/fhir\"\n\
            patients_per_search = 2\nresources = [\"AllergyIntolerance\", \"MedicationAdministration\", \"Observation\"]\n\
            [[ward]]\nid = \"A3\"\nlocation = \"w\"\n[[ward.box]]\nid = \"b\"\nkey = \"k\"\ndir = \"/tmp\"\n";
        super::super::config::PublisherConfig::from_toml(text, std::path::Path::new("p.toml"))
            .unwrap()
            .sources
            .remove(0)
    }

    fn bundle(entries: &[serde_json::Value], next: Option<&str>) -> String {
        let mut b = serde_json::json!({"resourceType": "Bundle", "type": "searchset",
            "entry": entries.iter().map(|r| serde_json::json!({"resource": r, "search": {"mode": "match"}})).collect::<Vec<_>>()});
        if let Some(n) = next {
            b["link"] = serde_json::json!([{"relation": "next", "url": n}]);
        }
        super::super::client::mock::json(200, "", &b.to_string())
    }

    fn one_type(base: &str) -> SourceConfig {
        let text = format!(
            "[[source]]\nname = \"epd\"\nbase_url = \"{base}\"\nresources = [\"Condition\"]\n\
             [[ward]]\nid = \"A3\"\nlocation = \"w\"\n[[ward.box]]\nid = \"b\"\nkey = \"k\"\ndir = \"/tmp\"\n"
        );
        super::super::config::PublisherConfig::from_toml(&text, std::path::Path::new("p.toml"))
            .unwrap()
            .sources
            .remove(0)
    }

    #[tokio::test]
    async fn follows_next_pages_and_keeps_the_asked_patients_resources() {
        let srv = super::super::client::mock::start(vec![]).await;
        let c1 = serde_json::json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/a"}});
        let c2 = serde_json::json!({"resourceType": "Condition", "id": "c2",
            "subject": {"reference": format!("{}/Patient/a", srv.base)}});
        srv.push(bundle(
            &[c1],
            Some(&format!("{}/Condition?page=2", srv.base)),
        ));
        srv.push(bundle(&[c2], None));
        let source = one_type(&srv.base);
        let client = Arc::new(FhirClient::new(&source).unwrap());
        let got = read_patients(client, &source, "A3", &["a".to_owned()], Utc::now())
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        let reqs = srv.requests.lock().unwrap().clone();
        assert_eq!(reqs.len(), 2, "{reqs:?}");
        assert!(
            reqs[0].starts_with("GET /fhir/Condition?patient=Patient%2Fa&_count=200 "),
            "{reqs:?}"
        );
        assert!(
            reqs[1].starts_with("GET /fhir/Condition?page=2 "),
            "{reqs:?}"
        );
    }

    #[tokio::test]
    async fn a_resource_of_a_patient_not_asked_for_fails_the_ward() {
        let other = serde_json::json!({"resourceType": "Condition", "id": "x", "subject": {"reference": "Patient/zzz"}});
        let srv = super::super::client::mock::start(vec![bundle(&[other], None)]).await;
        let source = one_type(&srv.base);
        let client = Arc::new(FhirClient::new(&source).unwrap());
        let e = read_patients(client, &source, "A3", &["a".to_owned()], Utc::now())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not asked for"), "{e}");
    }

    #[test]
    fn searches_batch_patients_and_bound_time_windows() {
        let now = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let patients: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let p = plan(&source(), "A3", &patients, now);
        assert_eq!(p.len(), 6);
        let paths: Vec<&str> = p.iter().map(|s| s.path.as_str()).collect();
        assert!(
            paths[0].starts_with("AllergyIntolerance?patient=Patient%2Fa%2CPatient%2Fb&"),
            "{paths:?}"
        );
        assert!(
            paths[3].contains("effective-time=ge2026-11-17T12%3A00%3A00Z"),
            "{paths:?}"
        );
        assert!(
            paths[4].contains("category=vital-signs%2Claboratory"),
            "{paths:?}"
        );
        assert!(
            paths[4].contains("date=ge2026-11-13T12%3A00%3A00Z"),
            "{paths:?}"
        );
        assert!(p[1].what.contains("batch 2 of 2"));
        assert_eq!(p[1].patients.len(), 1);
    }
}
