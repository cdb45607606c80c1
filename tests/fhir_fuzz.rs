//! Hostile input: arbitrary JSON shaped like FHIR (known element names, wrong types, odd
//! dates, dangling references) never panics the mapper, and the report always balances.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, Utc};
use noodepd::fhir::input::Document;
use noodepd::fhir::{self, MapOptions};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

const TYPES: &[&str] = &[
    "Patient",
    "Encounter",
    "Location",
    "AllergyIntolerance",
    "Flag",
    "Consent",
    "Condition",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "MedicationAdministration",
    "Medication",
    "Observation",
    "RelatedPerson",
    "Device",
    "DeviceUseStatement",
    "Composition",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Immunization",
    "Bundle",
];

const KEYS: &[&str] = &[
    "id",
    "status",
    "subject",
    "patient",
    "reference",
    "code",
    "coding",
    "system",
    "display",
    "text",
    "category",
    "criticality",
    "clinicalStatus",
    "verificationStatus",
    "name",
    "family",
    "given",
    "_family",
    "_given",
    "extension",
    "modifierExtension",
    "url",
    "valueString",
    "valuePeriod",
    "valueDuration",
    "start",
    "end",
    "period",
    "effectiveDateTime",
    "effectivePeriod",
    "birthDate",
    "identifier",
    "value",
    "type",
    "medicationReference",
    "medicationCodeableConcept",
    "dosageInstruction",
    "dosage",
    "timing",
    "repeat",
    "frequency",
    "frequencyMax",
    "periodUnit",
    "timeOfDay",
    "when",
    "dayOfWeek",
    "doseAndRate",
    "doseQuantity",
    "doseRange",
    "low",
    "high",
    "unit",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "provision",
    "actor",
    "location",
    "partOf",
    "physicalType",
    "class",
    "contained",
    "entry",
    "resource",
    "fullUrl",
    "component",
    "valueQuantity",
    "section",
    "emptyReason",
    "reaction",
    "manifestation",
    "ingredient",
    "strength",
    "numerator",
    "denominator",
    "maxDosePerPeriod",
    "request",
    "sequence",
    "authoredOn",
    "dateTime",
    "resourceType",
];

const STRINGS: &[&str] = &[
    "",
    "active",
    "inactive",
    "entered-in-error",
    "stopped",
    "in-progress",
    "IMP",
    "bd",
    "ro",
    "wa",
    "permit",
    "deny",
    "Patient/p1",
    "Patient/p2",
    "urn:uuid:x",
    "#c1",
    "Location/l1",
    "http://a.b/fhir/Patient/p1",
    "2026-11-22",
    "2026-11-22T05:00:00Z",
    "2021-02-30",
    "1934",
    "2015-13",
    "08:00:00",
    "25:00:00",
    "mon",
    "d",
    "wk",
    "mo",
    "716186003",
    "89666000",
    "http://snomed.info/sct",
    "p1",
    "c1",
    "l1",
    "high",
    "{stuk}",
    "MRSA",
    "\u{0}",
    "é€𝄞",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1.0e12f64..1.0e12).prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
    ]
}

fn fhirish() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 120, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_owned(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn resource() -> impl Strategy<Value = Value> {
    (prop::sample::select(TYPES), fhirish()).prop_map(|(t, body)| {
        let mut m = match body {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("extension".into(), other);
                m
            }
        };
        m.insert("resourceType".into(), json!(t));
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn arbitrary_fhirish_input_never_panics_and_balances(
        docs in prop::collection::vec(resource(), 1..12)
    ) {
        let docs: Vec<Document> = docs
            .into_iter()
            .map(|value| Document { path: PathBuf::from("fuzz.json"), line: None, value })
            .collect();
        let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z").unwrap().into();
        let r = fhir::map_documents(&docs, &MapOptions::new(now, "fuzz"));
        prop_assert!(r.report.is_balanced());
        for p in &r.patients {
            prop_assert!(!p.key.is_empty() && p.key.len() <= 64);
            prop_assert!(p.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
    }
}
