//! Patients, their admissions and contacts: identity (names, BSN, numbers), merging the
//! copies of one patient (same id, BSN or medical-record number), contacts and the
//! current inpatient Encounter per patient (bed, admission, attending, specialty).

use super::context::*;
use super::dates;
use super::json::{self, arr, cc_text, str_at};
use super::location;
use super::names;
use super::tree::Value;
use crate::record::{
    Admission, BedLocation, Contact, Identity, IdentityConflict, Listed, Moment, NotShownReason,
    PatientRecord, PersonName, Sex,
};
use crate::record::{IntoText, Text};
use std::collections::HashMap;

fn identity(cx: &mut Ctx<'_, '_>, i: usize, res: &Value) -> Identity {
    let name = names::pick(arr(res, "name"))
        .map(names::person_name)
        .unwrap_or_else(|| PersonName {
            display: "(naam onbekend)".to_owned().text(),
            sort_key: "(naam onbekend)".to_owned().text(),
            ..PersonName::default()
        });
    let sex = match str_at(res, "gender") {
        Some("female") => Sex::Female,
        Some("male") => Sex::Male,
        Some("other") => Sex::Other,
        _ => Sex::Unknown,
    };
    let birth_date = cx.date(i, res.get("birthDate"), "birthDate");
    let idents = arr(res, "identifier");
    let bsn = idents
        .iter()
        .find(|id| matches!(str_at(id, "system"), Some(BSN_SYSTEM | BSN_OID)))
        .and_then(|id| str_at(id, "value"))
        .map(str::to_owned);
    let is_mr = |id: &Value| {
        id.get("type").is_some_and(|t| {
            json::has_code(
                t,
                Some("http://terminology.hl7.org/CodeSystem/v2-0203"),
                "MR",
            )
        })
    };
    let patient_number = idents
        .iter()
        .find(|id| is_mr(id))
        .or_else(|| {
            idents
                .iter()
                .find(|id| !matches!(str_at(id, "system"), Some(BSN_SYSTEM | BSN_OID)))
        })
        .and_then(|id| str_at(id, "value"))
        .map(str::to_owned);
    let deceased = res.get("deceasedBoolean").and_then(Value::as_bool) == Some(true)
        || res.get("deceasedDateTime").is_some_and(|v| v.is_string());
    Identity {
        name,
        birth_date,
        sex,
        bsn: bsn.text(),
        patient_number: patient_number.text(),
        deceased,
    }
}

pub(super) fn map_patient(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    let Some(e) = cx.entry(i) else {
        return Outcome::Deferred;
    };
    let res = e.res;
    let fhir_id = e.id.or(e.full_url).unwrap_or("patient").to_owned();
    if res.get("active").and_then(Value::as_bool) == Some(false) {
        return Outcome::NotShown(Skip::new(
            NotShownReason::Inactive,
            "Patient.active = false",
        ));
    }
    if arr(res, "link")
        .iter()
        .any(|l| str_at(l, "type") == Some("replaced-by"))
    {
        return Outcome::NotShown(Skip::new(
            NotShownReason::Inactive,
            "Patient replaced by another record",
        ));
    }
    if cx.patients.len() >= MAX_PATIENTS {
        return Outcome::NotShown(Skip::new(
            NotShownReason::Invalid,
            format!("more than {MAX_PATIENTS} patients"),
        ));
    }
    let keys = identity_keys(e.id, res);
    let identity = identity(cx, i, res);
    if let Some(p) = same_patient(cx, &keys, &identity) {
        return merge_patient(cx, i, p, keys, identity, &fhir_id);
    }
    let mut contacts = Listed::NotRecorded;
    for c in arr(res, "contact") {
        let contact = patient_contact(c);
        if push_capped(&mut contacts, contact).is_err() {
            cx.warn(format!(
                "Patient/{fhir_id}: too many contacts; rest not shown"
            ));
            break;
        }
    }
    let rec = PatientRecord {
        key: String::new().text(),
        identity,
        location: BedLocation::default(),
        admission: None,
        alerts: Listed::NotRecorded,
        allergies: Listed::NotRecorded,
        directives: Listed::NotRecorded,
        problems: Listed::NotRecorded,
        medication: Listed::NotRecorded,
        administrations: Listed::NotRecorded,
        vitals: Listed::NotRecorded,
        labs: Listed::NotRecorded,
        contacts,
        devices: Listed::NotRecorded,
        notes: Vec::new(),
        unread: Vec::new(),
        unread_more: 0,
        identity_conflicts: Vec::new(),
    };
    let p = cx.patients.len();
    cx.patient_of_entry.insert(i, p);
    for k in &keys {
        cx.patient_by_key.entry(k.clone()).or_insert(p);
    }
    cx.patients.push(PatientBuilder {
        fhir_id,
        rec,
        negations: Vec::new(),
        observations: Vec::new(),
        blocks: Vec::new(),
    });
    Outcome::Mapped
}

/// The keys that make two Patient resources one patient: the same logical id, the same
/// BSN, or the same hospital patient number (identifier system and value).
fn identity_keys(id: Option<&str>, res: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(id) = id {
        keys.push(format!("id:{id}"));
    }
    for ident in arr(res, "identifier").iter().take(32) {
        let (Some(sys), Some(val)) = (str_at(ident, "system"), str_at(ident, "value")) else {
            continue;
        };
        if matches!(sys, BSN_SYSTEM | BSN_OID) {
            keys.push(format!("bsn:{val}"));
        } else {
            keys.push(format!("mr:{sys}|{val}"));
        }
    }
    keys
}

/// An already mapped patient this Patient resource is a copy of: one key in common and no
/// contradicting BSN (two different BSNs are two people, whatever else they share).
fn same_patient(cx: &Ctx<'_, '_>, keys: &[String], identity: &Identity) -> Option<usize> {
    let p = keys
        .iter()
        .find_map(|k| cx.patient_by_key.get(k).copied())?;
    let other = cx.patients.get(p)?;
    match (&other.rec.identity.bsn, &identity.bsn) {
        (Some(a), Some(b)) if a != b => None,
        _ => Some(p),
    }
}

/// Merges a second copy of a patient into the first: missing identity facts are filled
/// in, disagreeing ones are recorded as a conflict shown on the page.
fn merge_patient(
    cx: &mut Ctx<'_, '_>,
    i: usize,
    p: usize,
    keys: Vec<String>,
    identity: Identity,
    fhir_id: &str,
) -> Outcome {
    let Some(b) = cx.patients.get_mut(p) else {
        return Outcome::Deferred;
    };
    let first_id = b.fhir_id.clone();
    let have = &mut b.rec.identity;
    let mut conflicts: Vec<IdentityConflict> = Vec::new();
    let fold = crate::record::summary::fold;
    if fold(have.name.display.trim()) != fold(identity.name.display.trim()) {
        conflicts.push(IdentityConflict {
            field: "name".into(),
            values: vec![have.name.display.clone(), identity.name.display.clone()],
        });
    }
    match (&have.birth_date, &identity.birth_date) {
        (Some(a), Some(b)) if a != b => conflicts.push(IdentityConflict {
            field: "birth_date".into(),
            values: vec![dates::iso(a), dates::iso(b)].text(),
        }),
        (None, Some(d)) => have.birth_date = Some(*d),
        _ => {}
    }
    match (&have.patient_number, &identity.patient_number) {
        (Some(a), Some(b)) if a != b => conflicts.push(IdentityConflict {
            field: "patient_number".into(),
            values: vec![a.clone(), b.clone()],
        }),
        (None, Some(n)) => have.patient_number = Some(n.clone()),
        _ => {}
    }
    if have.bsn.is_none() {
        have.bsn = identity.bsn.clone();
    }
    if have.sex == Sex::Unknown {
        have.sex = identity.sex;
    }
    have.deceased |= identity.deceased;
    for c in conflicts {
        if b.rec.identity_conflicts.len() < MAX_IDENTITY_CONFLICTS
            && !b.rec.identity_conflicts.contains(&c)
        {
            b.rec.identity_conflicts.push(c);
        }
    }
    for k in keys {
        cx.patient_by_key.entry(k).or_insert(p);
    }
    cx.patient_of_entry.insert(i, p);
    cx.warn(format!(
        "Patient/{fhir_id}: the same patient as Patient/{first_id} (same id, BSN or patient number); merged into one record"
    ));
    Outcome::NotShown(Skip::new(
        NotShownReason::Duplicate,
        format!("the same patient as Patient/{first_id}; its data is shown with that record"),
    ))
}

/// Splits relationship codings into role (contact-person role tables) and relationship.
pub(super) fn contact_roles(rels: &[Value]) -> (Option<String>, Option<String>) {
    let role_systems = [
        "urn:oid:2.16.840.1.113883.2.4.3.11.22.472",
        "http://terminology.hl7.org/CodeSystem/v2-0131",
    ];
    let mut roles = Vec::new();
    let mut relations = Vec::new();
    for cc in rels {
        let codings = json::codings(cc);
        if codings.is_empty() {
            if let Some(t) = str_at(cc, "text") {
                relations.push(t.to_owned());
            }
            continue;
        }
        for c in codings {
            let Some(t) = json::coding_text(c) else {
                continue;
            };
            if role_systems.contains(&str_at(c, "system").unwrap_or_default()) {
                roles.push(t);
            } else {
                relations.push(t);
            }
        }
    }
    let j = |v: Vec<String>| (!v.is_empty()).then(|| v.join(", "));
    (j(relations), j(roles))
}

/// Telecom values as shown ("+31611234567", "jan@example.nl").
pub(super) fn telecoms(v: &Value) -> Vec<String> {
    arr(v, "telecom")
        .iter()
        .filter_map(|t| str_at(t, "value"))
        .take(10)
        .map(str::to_owned)
        .collect()
}

fn patient_contact(c: &Value) -> Contact {
    let name = c
        .get("name")
        .filter(|n| n.is_object())
        .map(|n| names::person_name(n).display)
        .filter(|n| !n.is_empty())
        .or_else(|| {
            c.get("organization")
                .and_then(|o| str_at(o, "display"))
                .map(Text::new)
        })
        .unwrap_or_else(|| Text::new("(naam onbekend)"));
    let (relationship, role) = contact_roles(arr(c, "relationship"));
    Contact {
        name,
        relationship: relationship.text(),
        role: role.text(),
        telecom: telecoms(c).text(),
    }
}

pub(super) fn map_encounters(cx: &mut Ctx<'_, '_>) {
    let n = cx.ix.entries.len();
    // Candidates per patient: (entry, start).
    let mut current: HashMap<usize, Vec<(usize, Option<Moment>)>> = HashMap::new();
    for i in 0..n {
        if !is_todo(cx, i, "Encounter") {
            continue;
        }
        let Some(e) = cx.entry(i) else { continue };
        let res = e.res;
        let status = str_at(res, "status");
        if status == Some("entered-in-error") {
            cx.account(
                i,
                Outcome::NotShown(Skip::new(
                    NotShownReason::EnteredInError,
                    "status entered-in-error",
                )),
            );
            continue;
        }
        let p = match cx.subject(i) {
            Ok(p) => p,
            Err(s) => {
                cx.account(i, Outcome::NotShown(s));
                continue;
            }
        };
        let class = res.get("class");
        if !location::is_current_status(status) || !location::is_inpatient_class(class) {
            let class_code = class.and_then(|c| str_at(c, "code")).unwrap_or("-");
            let detail = format!(
                "not a current inpatient stay (status {}, class {})",
                status.unwrap_or("-"),
                class_code
            );
            cx.account(
                i,
                Outcome::NotShown(Skip::new(NotShownReason::Inactive, detail)),
            );
            continue;
        }
        let start = cx.date(
            i,
            res.get("period").and_then(|p| p.get("start")),
            "period.start",
        );
        current.entry(p).or_default().push((i, start));
    }
    let mut by_patient: Vec<_> = current.into_iter().collect();
    by_patient.sort_by_key(|(p, _)| *p);
    for (p, mut encs) in by_patient {
        // Latest start first; ties by input order.
        encs.sort_by(|a, b| {
            let ka = a.1.and_then(|m| m.earliest_utc());
            let kb = b.1.and_then(|m| m.earliest_utc());
            kb.cmp(&ka).then(a.0.cmp(&b.0))
        });
        let mut it = encs.into_iter();
        let Some((chosen, start)) = it.next() else {
            continue;
        };
        for (other, _) in it {
            cx.account(
                other,
                Outcome::NotShown(Skip::new(
                    NotShownReason::Duplicate,
                    "another current admission of this patient is shown",
                )),
            );
        }
        let loc = location::bed_location(&cx.ix, chosen);
        let admission = admission(cx, chosen, start);
        if let Some(b) = cx.patient(p) {
            b.rec.location = loc;
            b.rec.admission = Some(admission);
        }
        cx.account(chosen, Outcome::Mapped);
    }
}

fn admission(cx: &mut Ctx<'_, '_>, i: usize, start: Option<Moment>) -> Admission {
    let Some(e) = cx.entry(i) else {
        return Admission {
            start,
            attending: None,
            reason: None,
            specialty: None,
        };
    };
    let res = e.res;
    let parts = arr(res, "participant");
    let attending_part = parts
        .iter()
        .find(|p| {
            arr(p, "type")
                .iter()
                .any(|t| json::has_any_code(t, &["ATND", "PPRF"]))
        })
        .or_else(|| parts.first());
    let attending = attending_part
        .and_then(|p| p.get("individual"))
        .and_then(|r| cx.party_name(i, r));
    let reason = arr(res, "reasonCode")
        .iter()
        .filter_map(cc_text)
        .chain(
            arr(res, "reasonReference")
                .iter()
                .filter_map(|r| reference_text(cx, i, r)),
        )
        .next();
    let specialty = res
        .get("serviceType")
        .and_then(cc_text)
        .or_else(|| {
            res.get("serviceProvider")
                .and_then(|r| cx.ix.resolve(i, r))
                .and_then(|o| cx.entry(o))
                .and_then(|o| arr(o.res, "type").iter().find(|t| !is_organization_kind(t)))
                .and_then(cc_text)
        })
        .or_else(|| arr(res, "type").first().and_then(cc_text));
    Admission {
        start,
        attending: attending.text(),
        reason: reason.text(),
        specialty: specialty.text(),
    }
}

/// HL7 organization-type codes ("prov" Healthcare Provider, "dept" Hospital Department, ...)
/// say what kind of organisation it is, not its specialty.
fn is_organization_kind(cc: &Value) -> bool {
    json::codings(cc).iter().any(|c| {
        str_at(c, "system") == Some("http://terminology.hl7.org/CodeSystem/organization-type")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organization_kind_is_not_a_specialty() {
        let prov = crate::fhir::tree::tree_json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]});
        let cardio = crate::fhir::tree::tree_json!({"coding": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.7", "code": "0320", "display": "Cardiologie"}]});
        assert!(is_organization_kind(&prov));
        assert!(!is_organization_kind(&cardio));
    }
}
