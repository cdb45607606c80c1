//! MP9 3.0 vocabulary shared by agreements and administrations: the identifier systems,
//! the stop-type codes, the pharmaceutical-treatment extension and the stop modifier.

use super::super::fhirout::{SNOMED, coding};
use serde_json::{Value, json};

/// MP9 identifier systems. The `999` arcs are the test OIDs Nictiz's own examples use.
const TREATMENT_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.1.1";
pub(super) const AGREEMENT_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.16076005.1";
pub(super) const ADMIN_AGREEMENT_SYSTEM: &str =
    "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.422037009.1";

/// The MP9 3.0 stop types.
pub(super) const STOPPED: (&str, &str) = ("410546004", "stopgezet");
pub(super) const PAUSED: (&str, &str) = ("385655000", "onderbroken");
pub(super) const CANCELLED: (&str, &str) = ("89925002", "geannuleerd");

pub(super) fn treatment_ext(treatment: &str) -> Value {
    json!({"url": "http://nictiz.nl/fhir/StructureDefinition/ext-PharmaceuticalTreatment.Identifier",
        "valueIdentifier": {"system": TREATMENT_SYSTEM, "value": treatment}})
}

pub(super) fn stop_modifier(stop: (&str, &str)) -> Value {
    json!([{
        "url": "http://nictiz.nl/fhir/StructureDefinition/ext-StopType",
        "valueCodeableConcept": {"coding": [coding(SNOMED, stop.0, stop.1)]}
    }])
}
