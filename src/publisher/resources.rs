//! The resources gathered for one ward, keyed by `Type/id` and bounded; references between
//! them; and paging through a searchset (`next` links, same origin only).
//!
//! Every resource read per patient must belong to one of the patients asked for (its
//! patient field refers to one of them): a server that ignores a search parameter would
//! otherwise put another patient's data on this ward's box. Such an answer fails the ward.

use super::client::{FetchError, FhirClient};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Most resources one ward may gather (the box maps at most 2 000 000 per snapshot).
pub(crate) const MAX_RESOURCES: usize = 500_000;
/// Most pages followed for one search.
const MAX_PAGES: usize = 10_000;

/// `(resourceType, id)`.
pub(crate) type Key = (String, String);

/// Why a ward could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("more than {MAX_RESOURCES} resources for one ward; not published")]
    TooMany,
}

impl ReadError {
    /// A short stable code for metrics and the status page.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ReadError::Fetch(f) => f.code(),
            ReadError::Invalid { .. } => "invalid_answer",
            ReadError::TooMany => "too_many_resources",
        }
    }

    pub(crate) fn invalid(what: &str, detail: impl Into<String>) -> ReadError {
        ReadError::Invalid {
            what: what.to_owned(),
            detail: detail.into(),
        }
    }
}

/// The resources of one ward, in a stable order (type, id).
#[derive(Debug, Default, Clone)]
pub(crate) struct ResourceSet {
    map: BTreeMap<Key, Value>,
}

impl ResourceSet {
    /// Adds a resource (a later copy of the same `Type/id` replaces the earlier one).
    /// Resources without a usable type and id are refused.
    pub(crate) fn insert(&mut self, r: Value, what: &str) -> Result<(), ReadError> {
        let key = key_of(&r).ok_or_else(|| {
            ReadError::invalid(what, "a resource without resourceType or a valid id")
        })?;
        if !self.map.contains_key(&key) && self.map.len() >= MAX_RESOURCES {
            return Err(ReadError::TooMany);
        }
        self.map.insert(key, r);
        Ok(())
    }

    pub(crate) fn contains(&self, k: &Key) -> bool {
        self.map.contains_key(k)
    }

    pub(crate) fn get(&self, k: &Key) -> Option<&Value> {
        self.map.get(k)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.map.iter()
    }

    /// Moves all of `other` in.
    pub(crate) fn extend(&mut self, other: ResourceSet, what: &str) -> Result<(), ReadError> {
        for (_, v) in other.map {
            self.insert(v, what)?;
        }
        Ok(())
    }

    /// Resources of one type.
    pub(crate) fn of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = (&'a Key, &'a Value)> {
        self.map.iter().filter(move |(k, _)| k.0 == t)
    }

    /// The snapshot payload: one resource per line (NDJSON), in key order, so the same
    /// data always gives the same bytes.
    pub(crate) fn to_ndjson(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for v in self.map.values() {
            // A Value always serialises.
            if let Ok(line) = serde_json::to_vec(v) {
                out.extend_from_slice(&line);
                out.push(b'\n');
            }
        }
        out
    }
}

/// A FHIR id as the spec allows it (so it can go into a URL path unescaped).
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A resource type name (letters only, starting upper case).
fn valid_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.bytes().all(|b| b.is_ascii_alphabetic())
}

/// `(resourceType, id)` of a resource.
pub(crate) fn key_of(r: &Value) -> Option<Key> {
    let t = r.get("resourceType")?.as_str()?;
    let id = r.get("id")?.as_str()?;
    (valid_type(t) && valid_id(id)).then(|| (t.to_owned(), id.to_owned()))
}

/// The target of a literal reference on this server: `Type/id`, `Type/id/_history/n`, or
/// an absolute URL under `base` (the source's FHIR base). Contained (`#x`), `urn:` and
/// other servers' references give `None`.
pub(crate) fn ref_target(reference: &str, base: &str) -> Option<Key> {
    let rel = if reference.starts_with("http://") || reference.starts_with("https://") {
        reference.strip_prefix(base)?.strip_prefix('/')?
    } else {
        reference
    };
    let mut parts = rel.split('/');
    let t = parts.next()?;
    let id = parts.next()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, None, None) => {}
        (Some("_history"), Some(_), None) => {}
        _ => return None,
    }
    (valid_type(t) && valid_id(id)).then(|| (t.to_owned(), id.to_owned()))
}

/// Every literal reference string anywhere in `v` (`{"reference": "..."}` objects).
pub(crate) fn references(v: &Value, out: &mut Vec<String>) {
    references_depth(v, out, 0);
}

fn references_depth(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("reference") {
                out.push(r.clone());
            }
            for (k, x) in m {
                // Contained resources included: what they refer to is needed as well.
                if k != "reference" {
                    references_depth(x, out, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                references_depth(x, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// The element that names a patient-bound resource's patient.
pub(crate) fn patient_field(resource_type: &str) -> Option<&'static str> {
    Some(match resource_type {
        "AllergyIntolerance" | "Consent" | "RelatedPerson" | "Device" => "patient",
        "Flag"
        | "Condition"
        | "MedicationRequest"
        | "MedicationDispense"
        | "MedicationStatement"
        | "MedicationAdministration"
        | "Observation"
        | "DeviceUseStatement"
        | "Encounter" => "subject",
        _ => return None,
    })
}

/// The patient id a patient-bound resource belongs to, if it names one on this server.
pub(crate) fn patient_of(r: &Value, base: &str) -> Option<String> {
    let t = r.get("resourceType")?.as_str()?;
    let field = patient_field(t)?;
    let reference = r.get(field)?.get("reference")?.as_str()?;
    match ref_target(reference, base)? {
        (pt, id) if pt == "Patient" => Some(id),
        _ => None,
    }
}

/// Reads a whole search: the first page at `path` and every `next` page, adding each
/// `match` (and `include`) resource to `sink` after `accept` approved it.
pub(crate) async fn search_all(
    client: &FhirClient,
    path: &str,
    what: &str,
    sink: &mut ResourceSet,
    mut accept: impl FnMut(&Value) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut next = Some(path.to_owned());
    let mut pages = 0usize;
    let mut seen_links = BTreeSet::new();
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(ReadError::invalid(
                what,
                format!("more than {MAX_PAGES} pages"),
            ));
        }
        let bundle = client.get_json(&url, what).await?;
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(ReadError::invalid(what, "the answer is not a Bundle"));
        }
        for e in bundle
            .get("entry")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let mode = e
                .get("search")
                .and_then(|s| s.get("mode"))
                .and_then(Value::as_str)
                .unwrap_or("match");
            let Some(r) = e.get("resource") else { continue };
            if mode == "outcome"
                || r.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome")
            {
                continue;
            }
            accept(r)?;
            sink.insert(r.clone(), what)?;
        }
        next = bundle
            .get("link")
            .and_then(Value::as_array)
            .and_then(|links| {
                links
                    .iter()
                    .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
            })
            .and_then(|l| l.get("url"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(n) = &next
            && !seen_links.insert(n.clone())
        {
            return Err(ReadError::invalid(
                what,
                "the next link repeats (a paging loop)",
            ));
        }
    }
    Ok(())
}

/// `Patient/a,Patient/b,…` for a search parameter.
pub(crate) fn patient_refs(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("Patient/{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A query string from pairs (form-encoded).
pub(crate) fn query(path: &str, pairs: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    format!("{path}?{q}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "https://epd.example.org/fhir";

    #[test]
    fn references_resolve_relative_versioned_and_absolute_on_this_server_only() {
        assert_eq!(
            ref_target("Patient/p1", BASE),
            Some(("Patient".into(), "p1".into()))
        );
        assert_eq!(
            ref_target("Medication/m.1/_history/3", BASE),
            Some(("Medication".into(), "m.1".into()))
        );
        assert_eq!(
            ref_target("https://epd.example.org/fhir/Location/w", BASE),
            Some(("Location".into(), "w".into()))
        );
        for other in [
            "https://elsewhere.org/fhir/Location/w",
            "#contained",
            "urn:uuid:5b2a8a3e-0001-4000-8000-000000000001",
            "Patient/../x",
            "Patient/a b",
            "patient/p1",
            "Patient/p1/extra",
        ] {
            assert_eq!(ref_target(other, BASE), None, "{other}");
        }
    }

    #[test]
    fn patient_of_reads_the_right_field_per_type() {
        let a = json!({"resourceType": "AllergyIntolerance", "id": "a", "patient": {"reference": "Patient/p1"}});
        let o = json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p2"}});
        let g =
            json!({"resourceType": "Observation", "id": "g", "subject": {"reference": "Group/x"}});
        assert_eq!(patient_of(&a, BASE).as_deref(), Some("p1"));
        assert_eq!(patient_of(&o, BASE).as_deref(), Some("p2"));
        assert_eq!(patient_of(&g, BASE), None);
    }

    #[test]
    fn all_references_are_found_including_contained() {
        let r = json!({"resourceType": "MedicationRequest", "id": "m",
            "medicationReference": {"reference": "Medication/x"},
            "contained": [{"resourceType": "Medication", "id": "c", "manufacturer": {"reference": "Organization/o"}}],
            "requester": {"reference": "Practitioner/d", "display": "Dr"}});
        let mut out = Vec::new();
        references(&r, &mut out);
        out.sort();
        assert_eq!(
            out,
            vec!["Medication/x", "Organization/o", "Practitioner/d"]
        );
    }

    #[test]
    fn payload_is_sorted_ndjson_and_later_copies_replace_earlier() {
        let mut s = ResourceSet::default();
        s.insert(json!({"resourceType": "Patient", "id": "b"}), "t")
            .unwrap();
        s.insert(
            json!({"resourceType": "Encounter", "id": "e", "status": "planned"}),
            "t",
        )
        .unwrap();
        s.insert(
            json!({"resourceType": "Encounter", "id": "e", "status": "in-progress"}),
            "t",
        )
        .unwrap();
        assert!(
            s.insert(json!({"resourceType": "Patient", "id": "a/b"}), "t")
                .is_err()
        );
        let text = String::from_utf8(s.to_ndjson()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("in-progress"), "{text}");
        assert!(lines[1].contains("\"Patient\""), "{text}");
    }
}
