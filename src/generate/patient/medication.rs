//! The patient's medication as MP9 3.0 treatments: which drugs, what becomes of each
//! (runs, stopped, paused, cancelled, dose changed), the medication and administration
//! agreements that say so, and the home medication's use statements.

use super::super::drugs::{self, Drug, WARD_DRUGS};
use super::super::fhirout::{SNOMED, coding, date, datetime, meta, reference};
use super::administrations::*;
use super::ctx::*;
use super::mp9::*;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// Mutually exclusive drug choices (only one of each group per patient).
const EXCLUSIVE: &[&[&str]] = &[
    &["pantoprazol", "omeprazol"],
    &["paracetamol", "paracetamol-zn"],
    &["amoxiclav-iv", "amoxiclav", "ceftriaxon", "flucloxacilline"],
    &["furosemide", "furosemide-iv"],
    &["apixaban", "nadroparine"],
    &["oxazepam-zn", "temazepam-zn"],
];

fn try_add(chosen: &mut Vec<&'static Drug>, key: &str) {
    let Some(d) = drugs::ward_drug(key) else {
        return;
    };
    if chosen.iter().any(|c| c.key == key) {
        return;
    }
    for group in EXCLUSIVE {
        if group.contains(&key) && chosen.iter().any(|c| group.contains(&c.key)) {
            return;
        }
    }
    chosen.push(d);
}

/// Picks 3–12 drugs fitting the patient's conditions.
pub(super) fn choose_drugs(rng: &mut ChaCha8Rng, tags: &[&str]) -> Vec<&'static Drug> {
    let mut chosen: Vec<&'static Drug> = Vec::new();
    let mut specific: Vec<&'static Drug> = WARD_DRUGS
        .iter()
        .filter(|d| d.tags.iter().any(|t| tags.contains(t)))
        .collect();
    specific.shuffle(rng);
    for d in specific {
        if rng.gen_bool(0.75) {
            try_add(&mut chosen, d.key);
        }
    }
    let general: &[(&str, f64)] = &[
        ("nadroparine", 0.8),
        ("paracetamol", 0.4),
        ("paracetamol-zn", 0.5),
        ("pantoprazol", 0.35),
        ("omeprazol", 0.2),
        ("oxazepam-zn", 0.2),
        ("temazepam-zn", 0.15),
        ("metoclopramide-zn", 0.1),
        ("paracetamol-supp", 0.08),
        ("morfine-zn", 0.12),
    ];
    for &(key, p) in general {
        if rng.gen_bool(p) {
            try_add(&mut chosen, key);
        }
    }
    if chosen.iter().any(|d| d.key == "morfine-zn") && rng.gen_bool(0.7) {
        try_add(&mut chosen, "macrogol");
    }
    for key in [
        "paracetamol-zn",
        "pantoprazol",
        "nadroparine",
        "oxazepam-zn",
        "metoclopramide-zn",
    ] {
        if chosen.len() >= 3 {
            break;
        }
        try_add(&mut chosen, key);
    }
    chosen.truncate(12);
    chosen
}

/// One medication agreement (or a stop agreement when `stop` is given).
struct Agreement<'a> {
    d: &'a Drug,
    treatment: &'a str,
    ident: String,
    status: &'a str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    registered: DateTime<Utc>,
    stop: Option<(&'a str, &'a str)>,
    prior: Option<&'a str>,
}

fn period_of(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Value {
    let mut period = json!({"start": datetime(start)});
    if let (Some(e), Some(o)) = (end, period.as_object_mut()) {
        o.insert("end".into(), json!(datetime(e)));
    }
    period
}

fn agreement_resource(
    cx: &mut Ctx<'_, '_>,
    a: &Agreement<'_>,
    med_id: &str,
    physician: Option<&(String, String)>,
) -> String {
    let text = match a.stop {
        Some((_, word)) => format!(
            "{} per {}",
            capitalise(word),
            nl_date(a.end.unwrap_or(a.registered))
        ),
        None => drugs::rendered(a.d, &nl_date(a.start), a.end.map(nl_date).as_deref()),
    };
    let id = cx.id();
    let mut req = json!({
        "resourceType": "MedicationRequest",
        "id": id,
        "meta": meta("nl-core-MedicationAgreement"),
        "extension": [
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-RegistrationDateTime", "valueDateTime": datetime(a.registered)},
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-RenderedDosageInstruction", "valueString": text},
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-TimeInterval.Period", "valuePeriod": period_of(a.start, a.end)},
            treatment_ext(a.treatment)
        ],
        "identifier": [{"system": AGREEMENT_SYSTEM, "value": a.ident}],
        "status": a.status,
        "intent": "order",
        "category": [{"coding": [coding(SNOMED, "16076005", "voorschrijven")]}],
        "medicationReference": reference(med_id, "Medication", a.d.name),
        "subject": cx.patient_ref(),
        "encounter": cx.encounter_ref(),
        "authoredOn": datetime(a.registered),
        "dosageInstruction": [drugs::dosage(a.d, &text)],
    });
    if let Some(o) = req.as_object_mut() {
        if let Some((role, disp)) = physician {
            o.insert(
                "requester".into(),
                reference(role, "PractitionerRole", disp),
            );
        }
        if let Some(stop) = a.stop {
            o.insert("modifierExtension".into(), stop_modifier(stop));
        }
        if let Some(prior) = a.prior {
            o.insert(
                "priorPrescription".into(),
                json!({"type": "MedicationRequest",
                    "identifier": {"system": AGREEMENT_SYSTEM, "value": prior},
                    "display": format!("relatie naar medicatieafspraak: {prior}")}),
            );
        }
    }
    cx.push(id.clone(), req);
    id
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The pharmacy's administration agreement for an agreement (or its stop, with `stop`).
#[allow(clippy::too_many_arguments)]
fn administration_agreement(
    cx: &mut Ctx<'_, '_>,
    a: &Agreement<'_>,
    med_id: &str,
    req_id: &str,
    ta_ident: &str,
    stop: Option<(&str, &str)>,
    end: Option<DateTime<Utc>>,
) -> String {
    let text = drugs::rendered(a.d, &nl_date(a.start), end.map(nl_date).as_deref());
    let id = cx.id();
    let mut res = json!({
        "resourceType": "MedicationDispense",
        "id": id,
        "meta": meta("nl-core-AdministrationAgreement"),
        "extension": [
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-AdministrationAgreement.AdministrationAgreementDateTime", "valueDateTime": datetime(a.registered + Duration::minutes(10))},
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-RenderedDosageInstruction", "valueString": text},
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-TimeInterval.Period", "valuePeriod": period_of(a.start, end)},
            treatment_ext(a.treatment)
        ],
        "identifier": [{"system": ADMIN_AGREEMENT_SYSTEM, "value": if stop.is_some() { format!("{ta_ident}-STOP") } else { ta_ident.to_owned() }}],
        "status": if a.status == "active" { "in-progress" } else { a.status },
        "category": {"coding": [coding(SNOMED, "422037009", "toedieningsafspraak")]},
        "medicationReference": reference(med_id, "Medication", a.d.name),
        "subject": cx.patient_ref(),
        "context": cx.encounter_ref(),
        "performer": [{"actor": reference(&cx.sh.pharmacy.0, "Organization", &cx.sh.pharmacy.1)}],
        "authorizingPrescription": [reference(req_id, "MedicationRequest", "Medicatieafspraak")],
        "dosageInstruction": [drugs::dosage(a.d, &text)],
    });
    if let (Some(stop), Some(o)) = (stop, res.as_object_mut()) {
        o.insert("modifierExtension".into(), stop_modifier(stop));
    }
    cx.push(id.clone(), res);
    id
}

/// Picks what becomes of a drug: the slot's forced course for the first drug it fits,
/// else a small chance of a stop, pause, cancel or dose change.
fn pick_course(
    cx: &mut Ctx<'_, '_>,
    d: &Drug,
    start: DateTime<Utc>,
    forced: &mut Option<Course>,
) -> Course {
    let now = cx.sh.now;
    // A stop, pause or change needs a few hours of the therapy before it.
    let long_enough = now - start >= Duration::hours(4);
    let continuous = d.course_days == 0;
    let scheduled = !d.sched.is_as_needed();
    let fits = |c: Course| match c {
        Course::Runs | Course::Cancelled => true,
        Course::Stopped => continuous && long_enough,
        Course::Paused | Course::DoseChanged => continuous && scheduled && long_enough,
    };
    if let Some(c) = *forced
        && fits(c)
    {
        *forced = None;
        return c;
    }
    let roll: f64 = cx.rng.r#gen();
    let c = match roll {
        r if r < 0.02 => Course::Stopped,
        r if r < 0.035 => Course::Paused,
        r if r < 0.045 => Course::Cancelled,
        r if r < 0.065 => Course::DoseChanged,
        _ => Course::Runs,
    };
    if fits(c) { c } else { Course::Runs }
}

pub(super) fn medication(
    cx: &mut Ctx<'_, '_>,
    d: &'static Drug,
    admitted: DateTime<Utc>,
    physician: Option<&(String, String)>,
    forced: &mut Option<Course>,
) {
    let now = cx.sh.now;
    // Most started at admission, some later during the stay.
    let start = if cx.rng.gen_bool(0.8) || now - admitted < Duration::hours(12) {
        admitted + Duration::minutes(cx.rng.gen_range(30..120))
    } else {
        let span = (now - admitted).num_minutes().max(60);
        admitted + Duration::minutes(cx.rng.gen_range(30..span))
    };
    let start = minute(start.min(now - Duration::minutes(10)));
    let course = pick_course(cx, d, start, forced);
    let treatment = format!("MBH-{}", cx.id());
    let ident = format!("{treatment}-MA");
    let ta_ident = format!("{treatment}-TA");
    let end = (d.course_days > 0).then(|| start + Duration::days(i64::from(d.course_days)));

    let med_id = cx.id();
    let med = drugs::medication_resource(d, &med_id);
    cx.push(med_id.clone(), med);

    if course == Course::Cancelled {
        // Agreed for later today or tomorrow, cancelled before it started: no
        // administration agreement, no administrations.
        let later = minute(now + Duration::hours(cx.rng.gen_range(2..30)));
        let a = Agreement {
            d,
            treatment: &treatment,
            ident: ident.clone(),
            status: "active",
            start: later,
            end,
            registered: minute(now - Duration::hours(cx.rng.gen_range(3..10))),
            stop: None,
            prior: None,
        };
        agreement_resource(cx, &a, &med_id, physician);
        let cancel = Agreement {
            ident: format!("{ident}-ANNULERING"),
            registered: minute(now - Duration::hours(1)),
            stop: Some(CANCELLED),
            prior: Some(&ident),
            ..a
        };
        agreement_resource(cx, &cancel, &med_id, physician);
        return;
    }

    let status = match end {
        Some(e) if e <= now => "completed",
        _ => "active",
    };
    let a = Agreement {
        d,
        treatment: &treatment,
        ident: ident.clone(),
        status,
        start,
        end,
        registered: start - Duration::minutes(15),
        stop: None,
        prior: None,
    };
    let req_id = agreement_resource(cx, &a, &med_id, physician);
    // The pharmacy's administration agreement, for most agreements.
    let ta_id = cx
        .rng
        .gen_bool(0.85)
        .then(|| administration_agreement(cx, &a, &med_id, &req_id, &ta_ident, None, end));

    // When the first agreement stops (stop, pause or dose change), and how.
    // Between an hour after the start and an hour ago.
    let span = (now - start).num_hours().clamp(3, 48);
    let mut hours_ago = |max: i64| cx.rng.gen_range(1..span.min(max).max(2));
    let stop = match course {
        Course::Stopped => Some((STOPPED, minute(now - Duration::hours(hours_ago(20))))),
        Course::Paused => Some((PAUSED, minute(now - Duration::hours(hours_ago(20))))),
        Course::DoseChanged => Some((STOPPED, minute(now - Duration::hours(hours_ago(48))))),
        _ => None,
    };
    let Some((kind, at)) = stop else {
        administrations(
            cx,
            &treatment,
            d,
            start,
            end,
            &med_id,
            &req_id,
            ta_id.as_deref(),
        );
        return;
    };
    let order = Agreement {
        ident: format!("{ident}-STOP"),
        status: "active",
        end: Some(at),
        registered: at - Duration::minutes(20),
        stop: Some(kind),
        prior: Some(&ident),
        ..a
    };
    let stop_id = agreement_resource(cx, &order, &med_id, physician);
    if ta_id.is_some() {
        administration_agreement(
            cx,
            &order,
            &med_id,
            &stop_id,
            &ta_ident,
            Some(kind),
            Some(at),
        );
    }
    administrations(
        cx,
        &treatment,
        d,
        start,
        Some(at),
        &med_id,
        &req_id,
        ta_id.as_deref(),
    );
    if course != Course::DoseChanged {
        return;
    }
    // The new agreement: twice the dose from the stop on.
    let doubled = Drug {
        dose: d.dose * 2.0,
        dose_note: None,
        ..*d
    };
    let new_ident = format!("{ident}-WIJZIGING");
    let new = Agreement {
        d: &doubled,
        treatment: &treatment,
        ident: new_ident.clone(),
        status: "active",
        start: at,
        end: None,
        registered: at - Duration::minutes(20),
        stop: None,
        prior: Some(&ident),
    };
    let new_req = agreement_resource(cx, &new, &med_id, physician);
    let new_ta = ta_id.map(|_| {
        administration_agreement(
            cx,
            &new,
            &med_id,
            &new_req,
            &format!("{ta_ident}-WIJZIGING"),
            None,
            None,
        )
    });
    administrations(
        cx,
        &treatment,
        &doubled,
        at,
        None,
        &med_id,
        &new_req,
        new_ta.as_deref(),
    );
}

pub(super) fn medication_use(cx: &mut Ctx<'_, '_>, d: &'static Drug, admitted: DateTime<Utc>) {
    let since = admitted - Duration::days(cx.rng.gen_range(60..3000));
    let text = drugs::rendered(d, &nl_date(since), None);
    let med_id = cx.id();
    let med = drugs::medication_resource(d, &med_id);
    cx.push(med_id.clone(), med);
    let id = cx.id();
    let res = json!({
        "resourceType": "MedicationStatement",
        "id": id,
        "meta": meta("nl-core-MedicationUse2"),
        "extension": [
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-RenderedDosageInstruction", "valueString": text},
            {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-MedicationUse2.AsAgreedIndicator", "valueBoolean": true}
        ],
        "status": "active",
        "category": {"coding": [coding(SNOMED, "422979000", "bevinding betreffende gedrag met betrekking tot medicatieregime")]},
        "medicationReference": reference(&med_id, "Medication", d.name),
        "subject": cx.patient_ref(),
        "effectivePeriod": {"start": date(local_date(since))},
        "dateAsserted": datetime(admitted + Duration::minutes(90)),
        "informationSource": cx.patient_ref(),
        "note": [{"text": "Eigen gebruik, meegenomen van thuis"}],
        "dosage": [drugs::dosage(d, &text)],
    });
    cx.push(id, res);
}
