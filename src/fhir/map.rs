//! The mapper: parsed FHIR documents → [`WardRecord`] plus the [`IngestReport`] that
//! accounts for every input resource (mapped, or not shown with a reason).
//!
//! This file only coordinates; the work is in the modules it calls. Order of work: flatten
//! and index ([`super::refs`]); report malformed entries and duplicates (same fullUrl, or
//! same `Type/id` without fullUrl: the first is kept); map Patients and pick each patient's
//! current admission ([`super::patient`], [`super::location`]); map the clinical resources
//! ([`super::clinical`], [`super::medication`], grouped by [`super::treatments`]); then
//! administrations (they link to medication lines) and observations (they are windowed and
//! trimmed per code, [`super::observation`]); finally settle "none documented" statements
//! against listed items, bound all strings and sort ([`super::finish`]).

use super::clinical;
use super::context::*;
use super::finish::{finish, settle_negations};
use super::json::{arr, str_at};
use super::medication;
use super::observation;
use super::patient::{map_encounters, map_patient};
use super::refs::Index;
use super::treatments;
use super::tree::Value;
use crate::record::{IngestReport, NotShownReason, UnreadReason, WardRecord};
use std::collections::{HashMap, HashSet};

/// Maps documents into the model.
pub(super) fn map(docs: &[&Value], opts: &MapOptions) -> WardRecord {
    let ix = Index::build(docs.iter().copied());
    let n = ix.entries.len();
    let mut cx = Ctx {
        ix,
        opts,
        report: IngestReport::default(),
        patients: Vec::new(),
        patient_of_entry: HashMap::new(),
        treatment_of_entry: HashMap::new(),
        treatment_by_identifier: HashMap::new(),
        patient_by_key: HashMap::new(),
        done: vec![false; n],
        canonical: HashMap::new(),
        next_change: None,
    };
    let malformed: Vec<_> = cx.ix.malformed.drain(..).collect();
    for m in malformed {
        cx.report
            .not_shown(&m.rtype, m.id.as_deref(), NotShownReason::Invalid, m.detail);
    }
    if n >= super::refs::MAX_RESOURCES {
        cx.warn(format!(
            "input holds more than {} resources; the rest was not read",
            super::refs::MAX_RESOURCES
        ));
    }

    // Duplicates: same fullUrl, or same Type/id when no fullUrl (top-level only).
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        if e.container.is_some() {
            continue;
        }
        let key = match (e.full_url, e.id) {
            (Some(u), _) => u.to_owned(),
            (None, Some(id)) => format!("{}/{}", e.rtype, id),
            (None, None) => continue,
        };
        if let Some(&first) = seen.get(&key) {
            cx.canonical.insert(i, first);
            cx.account(
                i,
                Outcome::NotShown(Skip::new(
                    NotShownReason::Duplicate,
                    "a resource with the same identity was read earlier",
                )),
            );
        } else {
            seen.insert(key, i);
        }
    }

    // Patients.
    for i in 0..n {
        if is_todo(&cx, i, "Patient") {
            let o = map_patient(&mut cx, i);
            cx.account(i, o);
        }
    }
    // Encounters (current admission).
    map_encounters(&mut cx);

    // Devices referenced by a DeviceUseStatement are shown through it.
    let mut used_devices = HashSet::new();
    for i in 0..n {
        if let Some(e) = cx.entry(i)
            && e.rtype == "DeviceUseStatement"
            && let Some(d) = e.res.get("device")
            && let Some(t) = cx.ix.resolve(i, d)
        {
            used_devices.insert(t);
        }
    }

    // Modifier extensions change the meaning of a resource; say so when we do not know one.
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        let unknown: Vec<String> = arr(e.res, "modifierExtension")
            .iter()
            .filter_map(|m| str_at(m, "url"))
            .filter(|u| !KNOWN_MODIFIERS.iter().any(|k| u.ends_with(k)))
            .map(|u| u.chars().take(200).collect())
            .collect();
        if !unknown.is_empty() {
            let label = format!("{}/{}", e.rtype, e.label().unwrap_or_default());
            for u in unknown {
                cx.warn(format!(
                    "{label}: unknown modifierExtension {u}; its meaning may differ from what is shown"
                ));
                cx.unread(
                    i,
                    UnreadReason::UnknownModifier,
                    format!("unknown modifierExtension {u}"),
                );
            }
        }
    }

    // Everything else but administrations and observations.
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        if cx.done.get(i).copied().unwrap_or(true) || e.container.is_some() {
            continue;
        }
        let rtype = e.rtype;
        let o: Outcome = match rtype {
            "MedicationAdministration" | "Observation" => continue,
            "AllergyIntolerance" => clinical::allergy(&mut cx, i),
            "Flag" => clinical::flag(&mut cx, i).into(),
            "Consent" => clinical::consent(&mut cx, i).into(),
            "Condition" => clinical::condition(&mut cx, i),
            "RelatedPerson" => clinical::related_person(&mut cx, i).into(),
            "DeviceUseStatement" => clinical::device_use(&mut cx, i).into(),
            "Device" if used_devices.contains(&i) => Outcome::NotShown(Skip::new(
                NotShownReason::ReferencedOnly,
                "shown through its DeviceUseStatement",
            )),
            "Device" => clinical::device(&mut cx, i).into(),
            "Composition" => clinical::composition(&mut cx, i).into(),
            "MedicationRequest" | "MedicationDispense" | "MedicationStatement" => {
                medication::block(&mut cx, i)
            }
            // Medication in a FHIR version whose shape is not read (DSTU2, R5).
            "MedicationOrder" | "MedicationUsage" => Outcome::NotShown(Skip::new(
                NotShownReason::UnsupportedVersion,
                format!(
                    "{rtype} is a {} resource; its medication is not read — check it in the source",
                    if rtype == "MedicationOrder" {
                        "DSTU2"
                    } else {
                        "FHIR R5"
                    }
                ),
            )),
            t if REFERENCED_ONLY.contains(&t) => Outcome::NotShown(Skip::new(
                NotShownReason::ReferencedOnly,
                "used to resolve references",
            )),
            t => Outcome::NotShown(Skip::new(
                NotShownReason::UnsupportedType,
                format!("{t} is not shown"),
            )),
        };
        cx.account_read(i, o);
    }
    // One line per drug therapy: group the building blocks and decide what is current.
    treatments::settle(&mut cx);
    for i in 0..n {
        if is_todo(&cx, i, "MedicationAdministration") {
            let o = medication::administration(&mut cx, i).into();
            cx.account_read(i, o);
        }
    }
    for i in 0..n {
        if is_todo(&cx, i, "Observation") {
            let o = observation::observation(&mut cx, i);
            cx.account_read(i, o);
        }
    }
    observation::settle(&mut cx);

    // Contained resources: part of their container.
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        if let Some(c) = e.container {
            let label = cx
                .entry(c)
                .map(|c| format!("{}/{}", c.rtype, c.label().unwrap_or_default()))
                .unwrap_or_default();
            cx.account(
                i,
                Outcome::NotShown(Skip::new(
                    NotShownReason::ReferencedOnly,
                    format!("contained in {label}"),
                )),
            );
        }
    }

    settle_negations(&mut cx);
    finish(cx)
}
