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
//!
//! Split by job: `ctx` (the shared vocabulary and context), `person` (Patient, Conditions,
//! Encounter), `safety` (alerts, allergies, directives), `medication` (MP9 treatments, with
//! the shared `mp9` vocabulary and `administrations`), `observations` (vitals, labs),
//! `contacts` (contact persons, devices). This file generates one patient through them.

mod administrations;
mod contacts;
mod ctx;
mod medication;
mod mp9;
mod observations;
mod person;
mod safety;

pub(super) use ctx::{AllergyState, Course, Shared, Slot};
pub use ctx::{BSN_SYSTEM, PATIENT_NUMBER_SYSTEM};

use super::clinical::{self, COMORBIDITIES};
use super::drugs::{self, Drug, HOME_DRUGS};
use super::fhirout::{Entry, uuid};
use super::names::{DutchName, Gender};
use chrono::Duration;
use contacts::{contacts, devices};
use ctx::*;
use medication::{choose_drugs, medication, medication_use};
use observations::{labs, vitals};
use person::{condition_resource, encounter_resource, patient_resource};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use safety::{alerts, allergies, directives};

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
