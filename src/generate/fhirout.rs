//! Small FHIR R4 JSON building blocks for the generator: deterministic `urn:uuid:` ids,
//! references in the nl-core style (reference + type + display), codings, quantities and
//! date-times in RFC 3339 with the Europe/Amsterdam offset, and the collection Bundle.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Europe::Amsterdam;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

pub(super) const SNOMED: &str = "http://snomed.info/sct";
pub(super) const LOINC: &str = "http://loinc.org";
pub(super) const UCUM: &str = "http://unitsofmeasure.org";

/// A resource placed in a bundle: its id (a UUID) and the JSON.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub id: String,
    pub resource: Value,
}

/// A version-4-shaped UUID drawn from the (seeded) generator, so ids are deterministic.
pub(super) fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

/// A reference by `urn:uuid:` with type and display, as the nl-core examples write them.
pub(super) fn reference(id: &str, rtype: &str, display: &str) -> Value {
    json!({"reference": format!("urn:uuid:{id}"), "type": rtype, "display": display})
}

/// `meta.profile` with one nl-core profile.
pub(super) fn meta(profile: &str) -> Value {
    json!({"profile": [format!("http://nictiz.nl/fhir/StructureDefinition/{profile}")]})
}

pub(super) fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

/// A CodeableConcept with one coding and the display as text.
pub(super) fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [coding(system, code, display)], "text": display})
}

/// A CodeableConcept with text only (sources often have uncoded free text).
pub(super) fn text_concept(text: &str) -> Value {
    json!({"text": text})
}

/// A UCUM quantity.
pub(super) fn quantity(value: f64, unit: &str, code: &str) -> Value {
    json!({"value": num(value), "unit": unit, "system": UCUM, "code": code})
}

/// A JSON number without a spurious ".0" for whole values.
pub(super) fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        json!(v as i64)
    } else {
        json!((v * 100.0).round() / 100.0)
    }
}

/// An instant as a FHIR dateTime with the Dutch offset of that moment, e.g.
/// "2026-11-22T08:00:00+01:00".
pub(super) fn datetime(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub(super) fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The nl-core `ext-CodeSpecification` extension holding an extra coding on a primitive.
pub(super) fn code_spec(system: &str, code: &str, display: &str) -> Value {
    json!({"extension": [{
        "url": "http://nictiz.nl/fhir/StructureDefinition/ext-CodeSpecification",
        "valueCodeableConcept": {"coding": [coding(system, code, display)]}
    }]})
}

/// A collection Bundle of the entries, every fullUrl a `urn:uuid:`.
pub(super) fn bundle(id: &str, now: DateTime<Utc>, entries: Vec<Entry>) -> Value {
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|e| json!({"fullUrl": format!("urn:uuid:{}", e.id), "resource": e.resource}))
        .collect();
    json!({
        "resourceType": "Bundle",
        "id": id,
        "meta": {"lastUpdated": datetime(now)},
        "type": "collection",
        "timestamp": datetime(now),
        "entry": entry,
    })
}
