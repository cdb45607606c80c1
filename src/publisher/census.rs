//! The census of one ward: its Location tree (ward → rooms → beds by `partOf`), the current
//! Encounters at those Locations (`Encounter?status=in-progress&location=…`, with their
//! Patients), kept only when the Encounter's *current* location is in the ward and its
//! class is inpatient — the same rules the box reads beds by (`crate::fhir::location`).
//!
//! A transfer leaves the old bed in `Encounter.location` with status `completed`: such an
//! Encounter is found by a search at the old ward but is not that ward's any more. A
//! discharged patient's Encounter is `finished` and is not found at all.

use super::client::FhirClient;
use super::config::{LocationRef, SourceConfig, WardConfig};
use super::resources::{self, Key, ReadError, ResourceSet, query, ref_target};
use serde_json::Value;
use std::collections::BTreeSet;

/// Location levels below the ward followed (ward → wing → room → bed fits easily).
const MAX_DEPTH: usize = 6;
/// Most Locations one ward may have.
const MAX_LOCATIONS: usize = 5_000;
/// Ids per search parameter list (keeps URLs short).
const IDS_PER_SEARCH: usize = 50;

/// The census of one ward.
#[derive(Debug, Default)]
pub(crate) struct Census {
    /// The ward's Location id.
    pub ward_location: String,
    /// Every Location of the ward (the ward, its rooms, its beds).
    pub locations: BTreeSet<String>,
    /// The patients on the ward now (Patient ids), each with one current Encounter.
    pub patients: BTreeSet<String>,
    /// Locations, the current Encounters and the Patients.
    pub resources: ResourceSet,
}

/// Encounter statuses and classes that mean "on the ward now" (as the box reads them).
fn is_current_inpatient(enc: &Value, statuses: &[String]) -> bool {
    let status = enc.get("status").and_then(Value::as_str);
    status.is_some_and(|s| statuses.iter().any(|x| x == s))
        && crate::fhir::location::is_current_status(status)
        && crate::fhir::location::is_inpatient_code(
            enc.get("class")
                .and_then(|c| c.get("code"))
                .and_then(Value::as_str),
        )
}

/// The Location ids an Encounter is at now: `location[]` entries not `completed` or
/// `planned` (the entries the box reads the bed from).
pub(crate) fn current_locations(enc: &Value, base: &str) -> Vec<String> {
    enc.get("location")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|l| {
            !matches!(
                l.get("status").and_then(Value::as_str),
                Some("completed" | "planned")
            )
        })
        .filter_map(|l| l.get("location")?.get("reference")?.as_str())
        .filter_map(|r| match ref_target(r, base) {
            Some((t, id)) if t == "Location" => Some(id),
            _ => None,
        })
        .collect()
}

/// Reads the census of `ward`.
pub(crate) async fn read(
    client: &FhirClient,
    source: &SourceConfig,
    ward: &WardConfig,
) -> Result<Census, ReadError> {
    let mut census = Census::default();
    let base = client.base.clone();
    let page = source.page_size.to_string();

    // The ward's Location.
    let ward_loc = match &ward.location {
        LocationRef::Id(id) => {
            let what = format!("ward {} Location", ward.id);
            let r = client.get_json(&format!("Location/{id}"), &what).await?;
            if resources::key_of(&r) != Some(("Location".into(), id.clone())) {
                return Err(ReadError::invalid(&what, "the answer is not that Location"));
            }
            r
        }
        LocationRef::Identifier { system, value } => {
            let what = format!("ward {} Location by identifier", ward.id);
            let mut found = ResourceSet::default();
            let ident = format!("{system}|{value}");
            resources::search_all(
                client,
                &query("Location", &[("identifier", &ident)]),
                &what,
                &mut found,
                |_| Ok(()),
            )
            .await?;
            let mut locs = found.of_type("Location");
            match (locs.next(), locs.next()) {
                (Some((_, r)), None) => r.clone(),
                (None, _) => {
                    return Err(ReadError::invalid(
                        &what,
                        "no Location has that identifier (check the ward's location_identifier)",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(ReadError::invalid(
                        &what,
                        "more than one Location has that identifier",
                    ));
                }
            }
        }
    };
    let Some((_, ward_id)) = resources::key_of(&ward_loc) else {
        return Err(ReadError::invalid("ward Location", "without a valid id"));
    };
    census.ward_location = ward_id.clone();
    census.locations.insert(ward_id.clone());
    census.resources.insert(ward_loc, "ward Location")?;

    // Its rooms and beds, level by level.
    let mut frontier = vec![ward_id];
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let mut children = ResourceSet::default();
        for chunk in frontier.chunks(IDS_PER_SEARCH) {
            let parents: Vec<String> = chunk.iter().map(|i| format!("Location/{i}")).collect();
            let what = format!("ward {} Locations (partof)", ward.id);
            resources::search_all(
                client,
                &query(
                    "Location",
                    &[("partof", &parents.join(",")), ("_count", &page)],
                ),
                &what,
                &mut children,
                |_| Ok(()),
            )
            .await?;
        }
        frontier = Vec::new();
        for ((t, id), r) in children.iter() {
            if t != "Location" || census.locations.contains(id) {
                continue;
            }
            if census.locations.len() >= MAX_LOCATIONS {
                return Err(ReadError::invalid(
                    "ward Locations",
                    format!("more than {MAX_LOCATIONS} Locations under the ward"),
                ));
            }
            census.locations.insert(id.clone());
            census.resources.insert(r.clone(), "ward Locations")?;
            frontier.push(id.clone());
        }
    }

    // The current Encounters at any of them, with their Patients.
    let statuses = source.encounter_status.join(",");
    let ids: Vec<&String> = census.locations.iter().collect();
    let mut found = ResourceSet::default();
    for chunk in ids.chunks(IDS_PER_SEARCH) {
        let locs: Vec<String> = chunk.iter().map(|i| format!("Location/{i}")).collect();
        let what = format!("ward {} Encounters", ward.id);
        resources::search_all(
            client,
            &query(
                "Encounter",
                &[
                    ("status", &statuses),
                    ("location", &locs.join(",")),
                    ("_include", "Encounter:patient"),
                    ("_count", &page),
                ],
            ),
            &what,
            &mut found,
            |_| Ok(()),
        )
        .await?;
    }
    for (_, enc) in found.of_type("Encounter") {
        if !is_current_inpatient(enc, &source.encounter_status) {
            continue;
        }
        if !current_locations(enc, &base)
            .iter()
            .any(|l| census.locations.contains(l))
        {
            // Found through an old (completed) location: transferred elsewhere.
            continue;
        }
        let Some(p) = resources::patient_of(enc, &base) else {
            continue;
        };
        census.patients.insert(p);
        census.resources.insert(enc.clone(), "ward Encounters")?;
    }

    // The Patients: included by the server, or read one by one when it did not.
    let mut missing: Vec<String> = Vec::new();
    for p in &census.patients {
        let key: Key = ("Patient".into(), p.clone());
        match found.get(&key) {
            Some(r) => census.resources.insert(r.clone(), "ward Patients")?,
            None => missing.push(p.clone()),
        }
    }
    for chunk in missing.chunks(IDS_PER_SEARCH) {
        let what = format!("ward {} Patients", ward.id);
        let mut got = ResourceSet::default();
        resources::search_all(
            client,
            &query("Patient", &[("_id", &chunk.join(",")), ("_count", &page)]),
            &what,
            &mut got,
            |_| Ok(()),
        )
        .await?;
        for id in chunk {
            let key: Key = ("Patient".into(), id.clone());
            let r = got.get(&key).ok_or_else(|| {
                ReadError::invalid(&what, "a patient of a current Encounter cannot be read")
            })?;
            census.resources.insert(r.clone(), &what)?;
        }
    }
    Ok(census)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_transferred_encounter_is_only_at_its_active_location() {
        let e = json!({"resourceType": "Encounter", "id": "e", "status": "in-progress",
            "class": {"code": "IMP"},
            "location": [
                {"location": {"reference": "Location/bed-4a-1"}, "status": "completed"},
                {"location": {"reference": "Location/bed-5b-1"}, "status": "active"},
                {"location": {"reference": "Location/bed-6c-1"}, "status": "planned"}]});
        assert_eq!(current_locations(&e, "http://x/fhir"), vec!["bed-5b-1"]);
        let statuses = vec!["in-progress".to_owned()];
        assert!(is_current_inpatient(&e, &statuses));
        let amb =
            json!({"resourceType": "Encounter", "status": "in-progress", "class": {"code": "AMB"}});
        assert!(!is_current_inpatient(&amb, &statuses));
        let done =
            json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "IMP"}});
        assert!(!is_current_inpatient(&done, &statuses));
    }
}
