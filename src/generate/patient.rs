//! One synthetic inpatient and everything recorded about them, as nl-core / MP9 shaped FHIR
//! R4 resources: Patient, Encounter (→ bed), Conditions, alerts (Flag), allergies (or an
//! explicit "no known allergy", or nothing), treatment directives (Consent), medication
//! as MP9 3.0 treatments (agreements with Medication, administration agreements and
//! administrations sharing one pharmaceutical-treatment identifier; some treatments
//! stopped, paused or cancelled by MP9 stop agreements, some changed to twice the dose),
//! medication use, administrations over the last ~80 hours, vitals, labs, contact persons
//! and devices.
//!
//! Every time is derived from `now`; nothing reads the clock. All randomness comes from the
//! patient's own ChaCha8 stream, so a patient does not change when another one does.

use super::clinical::{
    self, ALLERGENS, AlertDef, COMORBIDITIES, DEVICES, ISOLATION_ALERTS, LABS, OTHER_ALERTS,
    REACTIONS, SPECIALTY_SYSTEM, Specialty,
};
use super::drugs::{self, Drug, HOME_DRUGS, Sched, WARD_DRUGS};
use super::fhirout::{
    Entry, LOINC, SNOMED, code_spec, coding, concept, date, datetime, meta, num, quantity,
    reference, text_concept, uuid,
};
use super::names::{DutchName, Gender};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// Hospital patient numbers: a documented FAKE system. The arc below the BSN OID is not
/// assigned to any hospital; real exports use the hospital's own OID.
pub const PATIENT_NUMBER_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.6.3.99999";
/// The BSN naming system the generated patients' BSNs are given in.
pub const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

/// How far back administrations go: beyond the 72-hour window on purpose, so that the
/// mapper's window is exercised.
const ADMIN_HISTORY_HOURS: i64 = 80;

/// Ward-level resources a patient refers to.
#[derive(Debug, Clone)]
pub(super) struct Shared<'a> {
    pub now: DateTime<Utc>,
    pub specialty: &'a Specialty,
    pub hospital: (String, String),
    pub pharmacy: (String, String),
    /// (PractitionerRole id, display) of the physicians.
    pub physicians: Vec<(String, String)>,
    /// (Practitioner id, display) of the nurses.
    pub nurses: Vec<(String, String)>,
}

/// Where the patient lies and their identifiers, decided at ward level.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub bed_id: String,
    pub bed_name: String,
    pub single_room: bool,
    pub bsn: Option<String>,
    pub patient_number: String,
    /// Forces the allergy state for the first patients of a ward (0 items, 1 none, 2 not
    /// recorded) so every ward shows all three; `None` = random.
    pub allergy_state: Option<AllergyState>,
    /// Forces what becomes of the first fitting drug of this patient (patients 3–6 of a
    /// ward: paused, stopped, cancelled, dose changed) so every ward shows each; `None` =
    /// random.
    pub course: Option<Course>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AllergyState {
    Items,
    NoneKnown,
    NotRecorded,
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Rounds to `decimals` places.
fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// The instant of a local (Europe/Amsterdam) wall-clock time on a date.
fn local(d: NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
    Amsterdam
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .map(|x| x.with_timezone(&Utc))
}

fn hm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Amsterdam).date_naive()
}

fn nl_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam).format("%d-%m-%Y").to_string()
}

/// Truncates to whole minutes.
fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(60), 0).unwrap_or(t)
}

struct Ctx<'a, 'b> {
    rng: &'a mut ChaCha8Rng,
    sh: &'a Shared<'b>,
    out: &'a mut Vec<Entry>,
    patient_id: String,
    patient_display: String,
    encounter_id: String,
    /// Whether this patient already has a dose recorded as not given in the last day (the
    /// demo shows one per patient, so the MAR's "NIET GEGEVEN" is always on display).
    not_given_shown: bool,
}

impl Ctx<'_, '_> {
    fn id(&mut self) -> String {
        uuid(self.rng)
    }

    fn push(&mut self, id: String, resource: Value) {
        self.out.push(Entry { id, resource });
    }

    fn patient_ref(&self) -> Value {
        reference(&self.patient_id, "Patient", &self.patient_display)
    }

    fn encounter_ref(&self) -> Value {
        reference(&self.encounter_id, "Encounter", "Opname")
    }

    fn nurse(&mut self) -> Option<(String, String)> {
        self.sh.nurses.choose(self.rng).cloned()
    }
}

/// Generates one patient into `out`. Returns the slot's forced course when no drug of this
/// patient fitted it (the ward passes it on to the next patient).
pub(super) fn generate(
    rng: &mut ChaCha8Rng,
    sh: &Shared<'_>,
    slot: &Slot,
    out: &mut Vec<Entry>,
) -> Option<Course> {
    let now = sh.now;
    let gender = if rng.gen_bool(0.5) {
        Gender::Female
    } else {
        Gender::Male
    };
    // Ages skewed to the elderly, as on a general ward.
    let age = 18 + (80.0 * rng.r#gen::<f64>().max(rng.r#gen::<f64>())) as i64;
    let birth = local_date(now) - Duration::days(age * 365 + rng.gen_range(0..365));
    let name = DutchName::random(rng, gender, true);
    let patient_id = uuid(rng);
    let encounter_id = uuid(rng);
    let mut cx = Ctx {
        rng,
        sh,
        out,
        patient_display: name.full(),
        patient_id,
        encounter_id,
        not_given_shown: false,
    };
    patient_resource(&mut cx, &name, gender, birth, slot);

    // Admission: most a few days ago, some very recent.
    let hours_ago = if cx.rng.gen_bool(0.8) {
        cx.rng.gen_range(72..336)
    } else {
        cx.rng.gen_range(3..72)
    };
    let admitted =
        minute(now - Duration::hours(hours_ago) - Duration::minutes(cx.rng.gen_range(0..60)));

    // Conditions: the admission reason plus comorbidities (more with age).
    let reason_key = sh
        .specialty
        .admissions
        .choose(cx.rng)
        .copied()
        .unwrap_or("pneumonie");
    let n_comorb = match age {
        0..=49 => cx.rng.gen_range(0..=1),
        50..=74 => cx.rng.gen_range(0..=3),
        _ => cx.rng.gen_range(1..=4),
    };
    let mut cond_keys = vec![reason_key];
    for k in COMORBIDITIES.choose_multiple(cx.rng, n_comorb) {
        if !cond_keys.contains(k) {
            cond_keys.push(k);
        }
    }
    let mut reason_condition = None;
    for (i, key) in cond_keys.iter().enumerate() {
        if let Some(def) = clinical::condition(key) {
            let onset = if i == 0 {
                admitted - Duration::days(cx.rng.gen_range(0..3))
            } else {
                admitted - Duration::days(cx.rng.gen_range(200..5000))
            };
            let id = condition_resource(&mut cx, def, onset, i == 0);
            if i == 0 {
                reason_condition = Some((id, def));
            }
        }
    }
    let physician = sh.physicians.choose(cx.rng).cloned();
    encounter_resource(
        &mut cx,
        slot,
        admitted,
        physician.as_ref(),
        reason_condition,
    );

    alerts(&mut cx, age, slot.single_room, admitted);
    let state = slot
        .allergy_state
        .unwrap_or_else(|| match cx.rng.gen_range(0..100) {
            0..=29 => AllergyState::Items,
            30..=64 => AllergyState::NoneKnown,
            _ => AllergyState::NotRecorded,
        });
    allergies(&mut cx, state, admitted);
    if cx.rng.gen_bool(0.85) {
        directives(&mut cx, age, admitted, physician.as_ref());
    }
    let tags: Vec<&str> = cond_keys
        .iter()
        .filter_map(|k| clinical::condition(k).map(|c| c.tag))
        .collect();
    let chosen = choose_drugs(cx.rng, &tags);
    let has_iv = chosen.iter().any(|d| d.route == drugs::Route::Intravenous);
    let mut forced = slot.course;
    for d in chosen {
        medication(&mut cx, d, admitted, physician.as_ref(), &mut forced);
    }
    if cx.rng.gen_bool(0.3) {
        let n = cx.rng.gen_range(1..=2);
        let home: Vec<&Drug> = HOME_DRUGS.choose_multiple(cx.rng, n).collect();
        for d in home {
            medication_use(&mut cx, d, admitted);
        }
    }
    vitals(&mut cx, admitted, age);
    labs(&mut cx, admitted, gender);
    contacts(&mut cx, age);
    devices(&mut cx, admitted, has_iv, age);
    forced
}

fn patient_resource(
    cx: &mut Ctx<'_, '_>,
    name: &DutchName,
    gender: Gender,
    birth: NaiveDate,
    slot: &Slot,
) {
    let mut identifier = Vec::new();
    if let Some(bsn) = &slot.bsn {
        identifier.push(json!({"system": BSN_SYSTEM, "value": bsn}));
    }
    identifier.push(json!({
        "type": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number")]},
        "system": PATIENT_NUMBER_SYSTEM,
        "value": slot.patient_number
    }));
    let (gcode, gdisp) = match gender {
        Gender::Female => ("F", "Female"),
        Gender::Male => ("M", "Male"),
    };
    const CITIES: &[(&str, &str)] = &[
        ("Utrecht", "3511"),
        ("Amersfoort", "3811"),
        ("Zeist", "3701"),
        ("Nieuwegein", "3431"),
        ("Houten", "3991"),
        ("De Bilt", "3731"),
        ("IJsselstein", "3401"),
    ];
    const STREETS: &[&str] = &[
        "Dorpsstraat",
        "Kerkstraat",
        "Molenweg",
        "Stationsweg",
        "Julianalaan",
        "Beatrixstraat",
        "Eikenlaan",
    ];
    let (city, pc) = CITIES
        .choose(cx.rng)
        .copied()
        .unwrap_or(("Utrecht", "3511"));
    let street = STREETS.choose(cx.rng).copied().unwrap_or("Dorpsstraat");
    let house = cx.rng.gen_range(1..200).to_string();
    let letters: String = (0..2)
        .map(|_| char::from(b'A' + cx.rng.gen_range(0..26u8)))
        .collect();
    let phone = format!("+316{:08}", cx.rng.gen_range(10_000_000..99_999_999u32));
    let res = json!({
        "resourceType": "Patient",
        "id": cx.patient_id,
        "meta": meta("nl-core-Patient"),
        "identifier": identifier,
        "active": true,
        "name": name.fhir(),
        "telecom": [{
            "_system": code_spec("http://terminology.hl7.org/CodeSystem/v3-AddressUse", "MC", "Mobile Phone"),
            "system": "phone",
            "value": phone
        }],
        "gender": gender.fhir(),
        "_gender": code_spec("http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender", gcode, gdisp),
        "birthDate": date(birth),
        "deceasedBoolean": false,
        "address": [{
            "extension": [{
                "url": "http://nictiz.nl/fhir/StructureDefinition/ext-AddressInformation.AddressType",
                "valueCodeableConcept": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-AddressUse", "HP", "Primary Home")]}
            }],
            "use": "home",
            "type": "both",
            "line": [format!("{street} {house}")],
            "_line": [{"extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName", "valueString": street},
                {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber", "valueString": house}
            ]}],
            "city": city,
            "postalCode": format!("{pc} {letters}"),
            "country": "Nederland",
            "_country": code_spec("urn:iso:std:iso:3166", "NL", "Nederland")
        }]
    });
    let id = cx.patient_id.clone();
    cx.push(id, res);
}

fn condition_resource(
    cx: &mut Ctx<'_, '_>,
    def: &clinical::ConditionDef,
    onset: DateTime<Utc>,
    admission_reason: bool,
) -> String {
    let id = cx.id();
    let code = match def.snomed {
        Some(c) => concept(SNOMED, c, def.name),
        None => text_concept(def.name),
    };
    let res = json!({
        "resourceType": "Condition",
        "id": id,
        "meta": meta("nl-core-Problem"),
        "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")]},
        "verificationStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")]},
        "category": [{"coding": [coding(SNOMED, "282291009", "Diagnose")]}],
        "code": code,
        "subject": cx.patient_ref(),
        "onsetDateTime": if admission_reason { datetime(onset) } else { date(local_date(onset)) },
    });
    cx.push(id.clone(), res);
    id
}

fn encounter_resource(
    cx: &mut Ctx<'_, '_>,
    slot: &Slot,
    admitted: DateTime<Utc>,
    physician: Option<&(String, String)>,
    reason: Option<(String, &clinical::ConditionDef)>,
) {
    let sh = cx.sh;
    let mut res = json!({
        "resourceType": "Encounter",
        "id": cx.encounter_id,
        "meta": meta("nl-core-Encounter"),
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "Inpatient"},
        "serviceType": concept(SPECIALTY_SYSTEM, sh.specialty.code, sh.specialty.name),
        "subject": cx.patient_ref(),
        "period": {"start": datetime(admitted)},
        "hospitalization": {"admitSource": concept(SNOMED, "264362003", "Thuis")},
        "location": [{
            "location": reference(&slot.bed_id, "Location", &slot.bed_name),
            "status": "active",
            "physicalType": concept("http://terminology.hl7.org/CodeSystem/location-physical-type", "bd", "Bed"),
            "period": {"start": datetime(admitted)}
        }],
        "serviceProvider": reference(&sh.hospital.0, "Organization", &sh.hospital.1),
    });
    if let Some(o) = res.as_object_mut() {
        if let Some((role, disp)) = physician {
            o.insert(
                "participant".into(),
                json!([{
                    "type": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND", "attender")], "text": "Hoofdbehandelaar"}],
                    "individual": reference(role, "PractitionerRole", disp)
                }]),
            );
        }
        if let Some((cid, def)) = reason {
            let code = match def.snomed {
                Some(c) => concept(SNOMED, c, def.name),
                None => text_concept(def.name),
            };
            o.insert("reasonCode".into(), json!([code]));
            o.insert(
                "reasonReference".into(),
                json!([reference(&cid, "Condition", def.name)]),
            );
        }
    }
    let id = cx.encounter_id.clone();
    cx.push(id, res);
}

fn flag(cx: &mut Ctx<'_, '_>, def: &AlertDef, since: DateTime<Utc>, ended: Option<DateTime<Utc>>) {
    let id = cx.id();
    let code = match def.snomed {
        Some(c) => concept(SNOMED, c, def.text),
        None => text_concept(def.text),
    };
    let mut period = json!({"start": date(local_date(since))});
    if let (Some(e), Some(o)) = (ended, period.as_object_mut()) {
        o.insert("end".into(), json!(date(local_date(e))));
    }
    let res = json!({
        "resourceType": "Flag",
        "id": id,
        "meta": meta("nl-core-Alert"),
        "status": if ended.is_some() { "inactive" } else { "active" },
        "category": [{"coding": [coding(LOINC, "74018-3", "Alert")]}],
        "code": code,
        "subject": cx.patient_ref(),
        "period": period,
    });
    cx.push(id, res);
}

fn alerts(cx: &mut Ctx<'_, '_>, age: i64, single_room: bool, admitted: DateTime<Utc>) {
    let p_iso = if single_room { 0.6 } else { 0.03 };
    if cx.rng.gen_bool(p_iso)
        && let Some(def) = ISOLATION_ALERTS.choose(cx.rng)
    {
        let since = admitted - Duration::days(cx.rng.gen_range(0..900));
        flag(cx, def, since, None);
    }
    for def in OTHER_ALERTS {
        let p = if def.snomed == Some("129839007") && age >= 75 {
            0.45
        } else {
            0.07
        };
        if cx.rng.gen_bool(p) {
            let since = admitted - Duration::days(cx.rng.gen_range(0..400));
            // Now and then an alert that has ended: must not show as current.
            let ended = cx
                .rng
                .gen_bool(0.08)
                .then(|| admitted - Duration::days(cx.rng.gen_range(1..30)));
            flag(cx, def, since.min(admitted - Duration::days(31)), ended);
        }
    }
}

fn allergies(cx: &mut Ctx<'_, '_>, state: AllergyState, admitted: DateTime<Utc>) {
    let recorded = datetime(admitted + Duration::minutes(cx.rng.gen_range(20..180)));
    match state {
        AllergyState::NotRecorded => {}
        AllergyState::NoneKnown => {
            let id = cx.id();
            let res = json!({
                "resourceType": "AllergyIntolerance",
                "id": id,
                "meta": meta("nl-core-AllergyIntolerance"),
                "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")]},
                "verificationStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed")]},
                "code": {"coding": [coding(SNOMED, "716186003", "No known allergy")], "text": "Geen allergie bekend"},
                "patient": cx.patient_ref(),
                "recordedDate": recorded,
            });
            cx.push(id, res);
        }
        AllergyState::Items => {
            let n = if cx.rng.gen_bool(0.8) { 1 } else { 2 };
            let chosen: Vec<_> = ALLERGENS.choose_multiple(cx.rng, n).copied().collect();
            for a in chosen {
                let id = cx.id();
                let (crit, crit_code, crit_disp) = if cx.rng.gen_bool(0.4) {
                    ("high", "24484000", "Ernstig")
                } else {
                    ("low", "255604002", "Licht")
                };
                let reaction = REACTIONS
                    .choose(cx.rng)
                    .copied()
                    .unwrap_or(("271807003", "Exantheem"));
                let severity = if crit == "high" { "severe" } else { "mild" };
                let intolerance = a.category == "medication" && cx.rng.gen_bool(0.2);
                let code = match a.snomed {
                    Some(c) => concept(SNOMED, c, a.name),
                    None => text_concept(a.name),
                };
                let onset_year = local_date(admitted).year() - cx.rng.gen_range(1..40);
                let mut res = json!({
                    "resourceType": "AllergyIntolerance",
                    "id": id,
                    "meta": meta("nl-core-AllergyIntolerance"),
                    "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")]},
                    "verificationStatus": {"coding": [if cx.rng.gen_bool(0.85) {
                        coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed")
                    } else {
                        coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed", "Unconfirmed")
                    }]},
                    "type": if intolerance { "intolerance" } else { "allergy" },
                    "category": [a.category],
                    "criticality": crit,
                    "_criticality": code_spec(SNOMED, crit_code, crit_disp),
                    "code": code,
                    "patient": cx.patient_ref(),
                    "onsetDateTime": format!("{onset_year}"),
                    "recordedDate": recorded,
                    "reaction": [{
                        "manifestation": [concept(SNOMED, reaction.0, reaction.1)],
                        "severity": severity
                    }]
                });
                if a.name == "Pleisters"
                    && let Some(o) = res.as_object_mut()
                {
                    o.insert(
                        "note".into(),
                        json!([{"text": "Gebruik hypoallergene pleisters"}]),
                    );
                }
                cx.push(id, res);
            }
        }
    }
}

fn consent(
    cx: &mut Ctx<'_, '_>,
    treatment: (&str, &str),
    decision: &str,
    other_text: Option<&str>,
    when: DateTime<Utc>,
    physician: Option<&(String, String)>,
) {
    let id = cx.id();
    let mut actors = vec![json!({
        "role": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "CONSENTER", "consenter")]},
        "reference": cx.patient_ref()
    })];
    if let Some((role, disp)) = physician {
        actors.push(json!({
            "role": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "CONSENTER", "consenter")]},
            "reference": reference(role, "PractitionerRole", disp)
        }));
    }
    let mut provision = json!({
        "actor": actors,
        "code": [concept(SNOMED, treatment.0, treatment.1)],
    });
    if decision != "other"
        && let Some(o) = provision.as_object_mut()
    {
        o.insert("type".into(), json!(decision));
    }
    let mut res = json!({
        "resourceType": "Consent",
        "id": id,
        "meta": meta("nl-core-TreatmentDirective2"),
        "status": "active",
        "scope": {"coding": [coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment", "Treatment")]},
        "category": [{"coding": [coding(SNOMED, "129125009", "verrichting met expliciete context")]}],
        "patient": cx.patient_ref(),
        "dateTime": datetime(when),
        "policy": [{"uri": "https://wetten.overheid.nl/"}],
        "provision": provision,
    });
    if let (Some(text), Some(o)) = (other_text, res.as_object_mut()) {
        o.insert(
            "modifierExtension".into(),
            json!([{
                "url": "http://nictiz.nl/fhir/StructureDefinition/ext-TreatmentDirective2.SpecificationOther",
                "valueString": text
            }]),
        );
    }
    cx.push(id, res);
}

fn directives(
    cx: &mut Ctx<'_, '_>,
    age: i64,
    admitted: DateTime<Utc>,
    physician: Option<&(String, String)>,
) {
    let when = admitted + Duration::minutes(cx.rng.gen_range(30..600));
    let when = when.min(cx.sh.now - Duration::minutes(5));
    let p_deny = match age {
        0..=64 => 0.1,
        65..=79 => 0.35,
        _ => 0.65,
    };
    let roll: f64 = cx.rng.r#gen();
    let resus = if roll < 0.05 {
        "other"
    } else if roll < 0.05 + p_deny {
        "deny"
    } else {
        "permit"
    };
    let other_text = (resus == "other").then_some("Eerst overleg met familie en dienstdoende arts");
    consent(
        cx,
        ("89666000", "Cardiopulmonale resuscitatie"),
        resus,
        other_text,
        when,
        physician,
    );
    if resus != "permit" || cx.rng.gen_bool(0.15) {
        let d = if resus == "deny" || cx.rng.gen_bool(0.5) {
            "deny"
        } else {
            "permit"
        };
        consent(cx, ("40617009", "Beademing"), d, None, when, physician);
        let icu = if d == "deny" && cx.rng.gen_bool(0.8) {
            "deny"
        } else {
            "other"
        };
        let t = (icu == "other").then_some("IC-opname alleen na overleg met intensivist");
        consent(
            cx,
            ("305351004", "Opname op intensive care"),
            icu,
            t,
            when,
            physician,
        );
    }
}

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
fn choose_drugs(rng: &mut ChaCha8Rng, tags: &[&str]) -> Vec<&'static Drug> {
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

/// Local clock times at which a scheduled drug is given (ward default times for
/// frequency-only schedules); empty for as-needed.
fn slot_times(s: &Sched) -> Vec<&'static str> {
    match s {
        Sched::Times(t) => t.to_vec(),
        Sched::Freq {
            count,
            unit: "d",
            period: 1,
        } => match count {
            1 => vec!["08:00"],
            2 => vec!["08:00", "20:00"],
            3 => vec!["08:00", "14:00", "20:00"],
            _ => vec!["08:00", "12:00", "17:00", "22:00"],
        },
        _ => Vec::new(),
    }
}

/// What becomes of a drug therapy in the generated record, written as MP9 3.0 building
/// blocks that share one pharmaceutical-treatment identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Course {
    /// Runs as agreed.
    Runs,
    /// Stopped early (e.g. a side effect): a stop agreement (410546004).
    Stopped,
    /// Paused since some hours (e.g. before a procedure): a pause agreement (385655000).
    Paused,
    /// Agreed for later and cancelled before it started (89925002).
    Cancelled,
    /// Stopped and replaced by a new agreement with twice the dose.
    DoseChanged,
}

/// MP9 identifier systems. The `999` arcs are the test OIDs Nictiz's own examples use.
const TREATMENT_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.1.1";
const AGREEMENT_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.16076005.1";
const ADMIN_AGREEMENT_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.422037009.1";

/// The MP9 3.0 stop types.
const STOPPED: (&str, &str) = ("410546004", "stopgezet");
const PAUSED: (&str, &str) = ("385655000", "onderbroken");
const CANCELLED: (&str, &str) = ("89925002", "geannuleerd");

fn treatment_ext(treatment: &str) -> Value {
    json!({"url": "http://nictiz.nl/fhir/StructureDefinition/ext-PharmaceuticalTreatment.Identifier",
        "valueIdentifier": {"system": TREATMENT_SYSTEM, "value": treatment}})
}

fn stop_modifier(stop: (&str, &str)) -> Value {
    json!([{
        "url": "http://nictiz.nl/fhir/StructureDefinition/ext-StopType",
        "valueCodeableConcept": {"coding": [coding(SNOMED, stop.0, stop.1)]}
    }])
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

fn medication(
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

#[allow(clippy::too_many_arguments)]
fn administrations(
    cx: &mut Ctx<'_, '_>,
    treatment: &str,
    d: &Drug,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    med_id: &str,
    req_id: &str,
    dispense_id: Option<&str>,
) {
    let now = cx.sh.now;
    let from = (now - Duration::hours(ADMIN_HISTORY_HOURS)).max(start);
    let until = end.map_or(now, |e| e.min(now));
    if from >= until {
        return;
    }
    let mut planned: Vec<DateTime<Utc>> = Vec::new();
    let times = slot_times(&d.sched);
    if times.is_empty() {
        // As needed: on some days once or twice.
        let mut day = local_date(from);
        while day <= local_date(until) {
            if cx.rng.gen_bool(0.45) {
                for _ in 0..cx.rng.gen_range(1..=2) {
                    let t = NaiveTime::from_hms_opt(
                        cx.rng.gen_range(6..23),
                        cx.rng.gen_range(0..60),
                        0,
                    );
                    if let Some(at) = t.and_then(|t| local(day, t)) {
                        planned.push(at);
                    }
                }
            }
            day = match day.succ_opt() {
                Some(n) => n,
                None => break,
            };
        }
        // Every as-needed drug was given at least once in the last day (the MAR's as-needed
        // block shows a recorded dose), without drawing from the generator's sequence.
        let day_ago = now - Duration::hours(24);
        if !planned
            .iter()
            .any(|t| *t >= day_ago && *t <= now - Duration::minutes(45))
        {
            let at = now - Duration::hours(3);
            if at >= from {
                planned.push(at);
            }
        }
        planned.sort();
    } else {
        let mut day = local_date(from);
        while day <= local_date(until) {
            for t in &times {
                if let Some(at) = hm(t).and_then(|t| local(day, t)) {
                    planned.push(at);
                }
            }
            day = match day.succ_opt() {
                Some(n) => n,
                None => break,
            };
        }
    }
    for slot in planned {
        if slot < from || slot > until {
            continue;
        }
        // The most recent dose may not have been signed off yet.
        if now - slot < Duration::minutes(45) && cx.rng.gen_bool(0.5) {
            continue;
        }
        let random_not_done = !d.sched.is_as_needed() && cx.rng.gen_bool(0.04);
        // One dose per patient in the last day is recorded as not given (see Ctx).
        let forced = !random_not_done
            && !cx.not_given_shown
            && !d.sched.is_as_needed()
            && slot >= now - Duration::hours(24)
            && slot <= now - Duration::minutes(45);
        let not_done = random_not_done || forced;
        if not_done && slot >= now - Duration::hours(24) {
            cx.not_given_shown = true;
        }
        let given = if d.sched.is_as_needed() {
            slot
        } else {
            (slot + Duration::minutes(cx.rng.gen_range(-15..35))).min(until)
        };
        let nurse = cx.nurse();
        let id = cx.id();
        let mut res = json!({
            "resourceType": "MedicationAdministration",
            "id": id,
            "meta": meta("nl-core-MedicationAdministration2"),
            "extension": [
                {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-MedicationAdministration2.AgreedDateTime", "valueDateTime": datetime(slot)},
                {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-MedicationAdministration2.DeviatingAdministration", "valueBoolean": not_done},
                treatment_ext(treatment)
            ],
            "status": if not_done { "not-done" } else { "completed" },
            "category": {"coding": [coding(SNOMED, "18629005", "toediening van medicatie")]},
            "medicationReference": reference(med_id, "Medication", d.name),
            "subject": cx.patient_ref(),
            "context": cx.encounter_ref(),
            "effectiveDateTime": datetime(given),
            "request": reference(req_id, "MedicationRequest", "Medicatieafspraak"),
            "dosage": {
                "route": d.route.concept(),
                "dose": quantity(d.dose, d.unit, d.ucum)
            }
        });
        if let Some(o) = res.as_object_mut() {
            if let Some((nid, ndisp)) = nurse {
                o.insert(
                    "performer".into(),
                    json!([{"actor": reference(&nid, "Practitioner", &ndisp)}]),
                );
            }
            if let Some(disp) = dispense_id {
                o.insert(
                    "supportingInformation".into(),
                    json!([reference(disp, "MedicationDispense", "Toedieningsafspraak")]),
                );
            }
            if forced {
                o.insert(
                    "statusReason".into(),
                    json!([{"text": "Patiënt nuchter voor onderzoek"}]),
                );
            } else if not_done {
                let reason = match cx.rng.gen_range(0..3) {
                    0 => {
                        json!({"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "PREFUS", "Patient refuse")], "text": "Patiënt weigert"})
                    }
                    1 => json!({"text": "Patiënt nuchter voor onderzoek"}),
                    _ => json!({"text": "Patiënt niet op afdeling (onderzoek)"}),
                };
                o.insert("statusReason".into(), json!([reason]));
            }
        }
        cx.push(id, res);
    }
}

fn medication_use(cx: &mut Ctx<'_, '_>, d: &'static Drug, admitted: DateTime<Utc>) {
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

fn observation(
    cx: &mut Ctx<'_, '_>,
    profile: &str,
    category: (&str, &str),
    code: Value,
    at: DateTime<Utc>,
    value: Option<Value>,
    extra: Option<(&str, Value)>,
) {
    let id = cx.id();
    let mut res = json!({
        "resourceType": "Observation",
        "id": id,
        "meta": meta(profile),
        "status": "final",
        "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", category.0, category.1)]}],
        "code": code,
        "subject": cx.patient_ref(),
        "encounter": cx.encounter_ref(),
        "effectiveDateTime": datetime(at),
    });
    if let Some(o) = res.as_object_mut() {
        if let Some(v) = value {
            o.insert("valueQuantity".into(), v);
        }
        if let Some((k, v)) = extra {
            o.insert(k.into(), v);
        }
    }
    cx.push(id, res);
}

fn vitals(cx: &mut Ctx<'_, '_>, admitted: DateTime<Utc>, age: i64) {
    let now = cx.sh.now;
    let sys0 = 115.0 + (age as f64 - 40.0).max(0.0) * 0.5 + normal(cx.rng) * 12.0;
    let hr0 = 78.0 + normal(cx.rng) * 10.0;
    let t0 = 37.0 + normal(cx.rng).abs() * 0.5;
    let spo0 = 96.0 - normal(cx.rng).abs() * 2.0;
    let weight = round(72.0 + normal(cx.rng) * 14.0, 1).clamp(40.0, 160.0);
    let from = (now - Duration::hours(72)).max(admitted);
    let mut rounds = vec![admitted + Duration::minutes(20)];
    let mut day = local_date(from);
    while day <= local_date(now) {
        for t in ["07:00", "15:00", "22:00"] {
            if let Some(at) = hm(t).and_then(|t| local(day, t)) {
                let at = at + Duration::minutes(cx.rng.gen_range(0..45));
                if at > from && at <= now && at > admitted + Duration::hours(1) {
                    rounds.push(at);
                }
            }
        }
        day = match day.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    for at in rounds {
        let sys = (sys0 + normal(cx.rng) * 8.0).round();
        let dia = (sys * 0.6 + normal(cx.rng) * 5.0).round();
        let bp = |code: &str, disp: &str, v: f64| {
            json!({
                "code": {"coding": [coding(LOINC, code, disp)]},
                "valueQuantity": quantity(v, "mmHg", "mm[Hg]")
            })
        };
        observation(
            cx,
            "nl-core-BloodPressure",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "85354-9", "Blood pressure panel with all children optional")], "text": "Bloeddruk"}),
            at,
            None,
            Some((
                "component",
                json!([
                    bp("8480-6", "Systolic blood pressure", sys),
                    bp("8462-4", "Diastolic blood pressure", dia)
                ]),
            )),
        );
        let hr = (hr0 + normal(cx.rng) * 6.0).round();
        observation(
            cx,
            "nl-core-HeartRate",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "8867-4", "Heart rate")], "text": "Hartfrequentie"}),
            at,
            Some(quantity(hr, "/min", "/min")),
            None,
        );
        if cx.rng.gen_bool(0.8) {
            let t = round(t0 + normal(cx.rng) * 0.3, 1);
            observation(
                cx,
                "nl-core-BodyTemperature",
                ("vital-signs", "Vital Signs"),
                json!({"coding": [coding(LOINC, "8310-5", "Body temperature")], "text": "Temperatuur"}),
                at,
                Some(quantity(t, "°C", "Cel")),
                None,
            );
        }
        let spo = (spo0 + normal(cx.rng)).round().min(100.0);
        observation(
            cx,
            "nl-core-O2Saturation",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"), coding(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")], "text": "Saturatie"}),
            at,
            Some(quantity(spo, "%", "%")),
            None,
        );
    }
    let mut w_at = admitted + Duration::minutes(25);
    while w_at <= now {
        let w = round(weight + normal(cx.rng) * 0.4, 1);
        observation(
            cx,
            "nl-core-BodyWeight",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "29463-7", "Body weight")], "text": "Gewicht"}),
            w_at,
            Some(quantity(w, "kg", "kg")),
            None,
        );
        w_at += Duration::days(3);
    }
}

fn labs(cx: &mut Ctx<'_, '_>, admitted: DateTime<Utc>, gender: Gender) {
    let now = cx.sh.now;
    let mut draws = vec![admitted + Duration::minutes(40)];
    let mut day = local_date(admitted)
        .succ_opt()
        .unwrap_or(local_date(admitted));
    let mut k = 0;
    while day <= local_date(now) {
        if k % 2 == 1
            && let Some(at) = hm("06:30").and_then(|t| local(day, t))
            && at <= now
            && now - at < Duration::days(6)
        {
            draws.push(at + Duration::minutes(cx.rng.gen_range(0..30)));
        }
        k += 1;
        day = match day.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    let means: Vec<f64> = LABS
        .iter()
        .map(|l| l.mean + normal(cx.rng) * l.sd)
        .collect();
    for at in draws {
        for (l, m) in LABS.iter().zip(&means) {
            let v = round(
                (m + normal(cx.rng) * l.sd * 0.2).max(if l.upper_only {
                    0.5
                } else {
                    l.mean * 0.3
                }),
                l.decimals,
            );
            let (lo, hi) = match gender {
                Gender::Female => l.range_f,
                Gender::Male => l.range_m,
            };
            let interp = if v > hi {
                Some(("H", "High"))
            } else if v < lo && !l.upper_only {
                Some(("L", "Low"))
            } else {
                None
            };
            let mut range = serde_json::Map::new();
            if !l.upper_only {
                range.insert("low".into(), quantity(lo, l.unit, l.ucum));
            }
            range.insert("high".into(), quantity(hi, l.unit, l.ucum));
            let id = cx.id();
            let mut res = json!({
                "resourceType": "Observation",
                "id": id,
                "meta": meta("nl-core-LaboratoryTestResult"),
                "status": "final",
                "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")]}],
                "code": {"coding": [coding(LOINC, l.loinc, l.display)], "text": l.display},
                "subject": cx.patient_ref(),
                "encounter": cx.encounter_ref(),
                "effectiveDateTime": datetime(at),
                "valueQuantity": {"value": num(v), "unit": l.unit, "system": super::fhirout::UCUM, "code": l.ucum},
                "referenceRange": [Value::Object(range)],
            });
            if let (Some((c, disp)), Some(o)) = (interp, res.as_object_mut()) {
                o.insert(
                    "interpretation".into(),
                    json!([{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", c, disp)]}]),
                );
            }
            cx.push(id, res);
        }
    }
}

fn contacts(cx: &mut Ctx<'_, '_>, age: i64) {
    if cx.rng.gen_bool(0.1) {
        return;
    }
    let n = if cx.rng.gen_bool(0.6) { 1 } else { 2 };
    for i in 0..n {
        let (rel_code, rel_disp, gender) = match (age, cx.rng.gen_range(0..4)) {
            (0..=40, 0) => ("MTH", "moeder", Gender::Female),
            (_, 0 | 1) => (
                "SPS",
                "echtgeno(o)t(e)",
                if cx.rng.gen_bool(0.5) {
                    Gender::Female
                } else {
                    Gender::Male
                },
            ),
            (_, 2) => ("DAU", "dochter", Gender::Female),
            _ => ("SON", "zoon", Gender::Male),
        };
        let name = DutchName::random(cx.rng, gender, false);
        let (order_code, order_disp) = if i == 0 {
            ("01", "Eerste relatie/contactpersoon")
        } else {
            ("02", "Tweede relatie/contactpersoon")
        };
        let phone = format!("+316{:08}", cx.rng.gen_range(10_000_000..99_999_999u32));
        let id = cx.id();
        let res = json!({
            "resourceType": "RelatedPerson",
            "id": id,
            "meta": meta("nl-core-ContactPerson"),
            "patient": cx.patient_ref(),
            "relationship": [
                {"coding": [coding("urn:oid:2.16.840.1.113883.2.4.3.11.22.472", order_code, order_disp)]},
                {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", rel_code, rel_disp)], "text": rel_disp}
            ],
            "name": [name.fhir().into_iter().next().unwrap_or(Value::Null)],
            "telecom": [{
                "_system": code_spec("http://terminology.hl7.org/CodeSystem/v3-AddressUse", "MC", "Mobile Phone"),
                "system": "phone",
                "value": phone
            }]
        });
        cx.push(id, res);
    }
}

fn devices(cx: &mut Ctx<'_, '_>, admitted: DateTime<Utc>, has_iv: bool, age: i64) {
    for def in DEVICES {
        let p = match def.name {
            "Perifeer infuus" if has_iv => 0.95,
            "Perifeer infuus" => 0.3,
            "Pacemaker" if age >= 70 => 0.1,
            "Pacemaker" => 0.02,
            "Urinekatheter (verblijfskatheter)" => 0.15,
            _ => 0.03,
        };
        if !cx.rng.gen_bool(p) {
            continue;
        }
        let since = if def.during_admission {
            admitted + Duration::minutes(cx.rng.gen_range(30..240))
        } else {
            admitted - Duration::days(cx.rng.gen_range(200..3000))
        };
        let since = since.min(cx.sh.now);
        let dev_id = cx.id();
        let dev_type = match def.snomed {
            Some(c) => concept(SNOMED, c, def.name),
            None => text_concept(def.name),
        };
        let dev = json!({
            "resourceType": "Device",
            "id": dev_id,
            "meta": meta("nl-core-MedicalDevice.Product"),
            "type": dev_type,
            "patient": cx.patient_ref(),
            "note": [{"text": def.name}]
        });
        cx.push(dev_id.clone(), dev);
        let id = cx.id();
        let mut res = json!({
            "resourceType": "DeviceUseStatement",
            "id": id,
            "meta": meta("nl-core-MedicalDevice"),
            "status": "active",
            "subject": cx.patient_ref(),
            "timingPeriod": {"start": if def.during_admission { datetime(since) } else { date(local_date(since)) }},
            "device": reference(&dev_id, "Device", def.name),
        });
        if let (Some(site), Some(o)) = (def.body_site, res.as_object_mut()) {
            o.insert("bodySite".into(), json!({"text": site}));
        }
        cx.push(id, res);
    }
}
