//! Flattening input documents into resources and resolving references between them.
//!
//! Every resource becomes one [`Entry`]: top-level resources, each `entry.resource` of a
//! Bundle (any type: collection, searchset, transaction, document, batch; nested Bundles up
//! to [`MAX_BUNDLE_DEPTH`]) and each `contained` resource (linked to its container).
//! Bundles themselves are containers and are not counted as resources.
//!
//! Reference styles resolved ([`Index::resolve`]):
//! - `#id`: a contained resource of the referring resource (or of its container);
//! - `urn:uuid:…` / `urn:oid:…`: the entry with that `fullUrl`;
//! - absolute `http(s)://…/Type/id[/_history/v]`: the entry with that `fullUrl`, else the
//!   resource with that trailing `Type/id`;
//! - relative `Type/id[/_history/v]`: first against the referring entry's fullUrl base
//!   (`https://host/fhir/` + `Type/id`), then any resource with that `Type/id` (the same
//!   input document preferred);
//! - `identifier` only (Patient): a Patient carrying that identifier system and value.
//!
//! A reference with only `display` does not resolve; callers use the display for names.

use super::json::{arr, str_at};
use super::tree::Value;
use std::collections::HashMap;

/// Deepest Bundle nesting unpacked.
pub(crate) const MAX_BUNDLE_DEPTH: usize = 4;
/// Most resources read from one payload.
pub(crate) const MAX_RESOURCES: usize = 2_000_000;

/// One resource of the input.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub rtype: &'a str,
    pub id: Option<&'a str>,
    pub full_url: Option<&'a str>,
    pub res: &'a Value<'a>,
    /// Index of the input document it came from.
    pub doc: usize,
    /// For a contained resource: the index of its container entry.
    pub container: Option<usize>,
}

impl Entry<'_> {
    /// "Type/id" or the fullUrl, for the report.
    pub(crate) fn label(&self) -> Option<String> {
        match (self.id, self.full_url) {
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(u)) => Some(u.to_owned()),
            _ => None,
        }
    }
}

/// Something in the input that is not a usable resource (reported as invalid).
#[derive(Debug)]
pub(crate) struct Malformed {
    pub rtype: String,
    pub id: Option<String>,
    pub detail: String,
}

/// All resources of the input with lookup tables.
#[derive(Debug, Default)]
pub(crate) struct Index<'a> {
    pub entries: Vec<Entry<'a>>,
    pub malformed: Vec<Malformed>,
    by_full_url: HashMap<&'a str, usize>,
    by_type_id: HashMap<(&'a str, &'a str), Vec<usize>>,
    contained: HashMap<(usize, &'a str), usize>,
    by_identifier: HashMap<(&'a str, &'a str), Vec<usize>>,
}

/// Splits "…/Type/id[/_history/v]" into (Type, id) from the end of a URL or path.
pub(crate) fn type_id(reference: &str) -> Option<(&str, &str)> {
    let path = match reference.find("/_history/") {
        Some(i) => reference.get(..i)?,
        None => reference,
    };
    let mut it = path.rsplit('/');
    let id = it.next()?;
    let rtype = it.next()?;
    let valid_type = rtype.len() <= 64
        && rtype.starts_with(|c: char| c.is_ascii_uppercase())
        && rtype.chars().all(|c| c.is_ascii_alphanumeric());
    let valid_id = !id.is_empty() && id.len() <= 64;
    (valid_type && valid_id).then_some((rtype, id))
}

impl<'a> Index<'a> {
    /// Flattens documents into entries.
    pub(crate) fn build(docs: impl IntoIterator<Item = &'a Value<'a>>) -> Index<'a> {
        let mut ix = Index::default();
        for (doc, v) in docs.into_iter().enumerate() {
            ix.add(v, None, doc, 0);
        }
        ix
    }

    fn add(&mut self, v: &'a Value, full_url: Option<&'a str>, doc: usize, depth: usize) {
        if self.entries.len() >= MAX_RESOURCES {
            return;
        }
        let Some(rtype) = v.get("resourceType").and_then(Value::as_str) else {
            self.malformed.push(Malformed {
                rtype: "(unknown)".into(),
                id: full_url.map(str::to_owned),
                detail: "no resourceType".into(),
            });
            return;
        };
        if rtype == "Bundle" {
            if depth >= MAX_BUNDLE_DEPTH {
                self.malformed.push(Malformed {
                    rtype: "Bundle".into(),
                    id: str_at(v, "id").map(str::to_owned),
                    detail: format!("Bundles nested deeper than {MAX_BUNDLE_DEPTH}"),
                });
                return;
            }
            for e in arr(v, "entry") {
                let fu = str_at(e, "fullUrl");
                let method = e.get("request").and_then(|r| str_at(r, "method"));
                match e.get("resource") {
                    Some(r) if r.is_object() => {
                        if matches!(method, Some("DELETE")) {
                            self.malformed.push(Malformed {
                                rtype: r
                                    .get("resourceType")
                                    .and_then(Value::as_str)
                                    .unwrap_or("(unknown)")
                                    .chars()
                                    .take(64)
                                    .collect(),
                                id: fu.map(str::to_owned),
                                detail: "transaction DELETE entry".into(),
                            });
                        } else {
                            self.add(r, fu, doc, depth + 1);
                        }
                    }
                    _ => self.malformed.push(Malformed {
                        rtype: "(Bundle.entry)".into(),
                        id: fu.map(str::to_owned),
                        detail: "Bundle entry without a resource object".into(),
                    }),
                }
            }
            return;
        }
        if !valid_type_name(rtype) {
            self.malformed.push(Malformed {
                rtype: "(unknown)".into(),
                id: full_url.map(str::to_owned),
                detail: "resourceType is not a FHIR type name".into(),
            });
            return;
        }
        let id = match v.get("id") {
            None => None,
            Some(Value::String(s)) if valid_id(s) => Some(&**s),
            Some(_) => {
                self.malformed.push(Malformed {
                    rtype: rtype.to_owned(),
                    id: full_url.map(str::to_owned),
                    detail: "id is not a valid FHIR id".into(),
                });
                return;
            }
        };
        let idx = self.entries.len();
        self.entries.push(Entry {
            rtype,
            id,
            full_url,
            res: v,
            doc,
            container: None,
        });
        if let Some(fu) = full_url {
            self.by_full_url.entry(fu).or_insert(idx);
        }
        if let Some(id) = id {
            self.by_type_id.entry((rtype, id)).or_default().push(idx);
        }
        for ident in arr(v, "identifier").iter().take(32) {
            if let (Some(sys), Some(val)) = (str_at(ident, "system"), str_at(ident, "value")) {
                self.by_identifier.entry((sys, val)).or_default().push(idx);
            }
        }
        for c in arr(v, "contained") {
            let ctype = c.get("resourceType").and_then(Value::as_str);
            let cid = c.get("id").and_then(Value::as_str);
            match (ctype, cid) {
                (Some(t), Some(i)) if valid_type_name(t) && valid_id(i) && t != "Bundle" => {
                    self.contained.entry((idx, i)).or_insert(self.entries.len());
                    self.entries.push(Entry {
                        rtype: t,
                        id: Some(i),
                        full_url: None,
                        res: c,
                        doc,
                        container: Some(idx),
                    });
                }
                _ => self.malformed.push(Malformed {
                    rtype: ctype
                        .filter(|t| valid_type_name(t))
                        .unwrap_or("(contained)")
                        .to_owned(),
                    id: id.map(|i| format!("{rtype}/{i}#")),
                    detail: "contained resource without valid resourceType and id".into(),
                }),
            }
        }
    }

    /// The entry at `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&Entry<'a>> {
        self.entries.get(i)
    }

    /// Resolves a Reference element as seen from entry `from`.
    pub(crate) fn resolve(&self, from: usize, reference: &Value) -> Option<usize> {
        if let Some(r) = str_at(reference, "reference") {
            return self.resolve_str(from, r);
        }
        // identifier-only reference: match a Patient (or other typed resource) identifier.
        let ident = reference.get("identifier")?;
        let system = str_at(ident, "system")?;
        let value = str_at(ident, "value")?;
        let wanted_type = str_at(reference, "type").unwrap_or("Patient");
        self.by_identifier
            .get(&(system, value))?
            .iter()
            .copied()
            .find(|&i| {
                self.entries
                    .get(i)
                    .is_some_and(|e| e.container.is_none() && e.rtype == wanted_type)
            })
    }

    /// Resolves a Reference element to a resource of one of `types`: a literal reference
    /// (of any of those types), else its `identifier` (MP9 links building blocks by
    /// identifier only: `priorPrescription`, `supportingInformation`, `derivedFrom`).
    pub(crate) fn resolve_among(
        &self,
        from: usize,
        reference: &Value,
        types: &[&str],
    ) -> Option<usize> {
        if let Some(r) = str_at(reference, "reference") {
            let t = self.resolve_str(from, r)?;
            return self
                .entries
                .get(t)
                .is_some_and(|e| types.contains(&e.rtype))
                .then_some(t);
        }
        let ident = reference.get("identifier")?;
        self.with_identifier(ident, types)
    }

    /// The first top-level resource of one of `types` carrying the Identifier `ident`
    /// (system and value).
    pub(crate) fn with_identifier(&self, ident: &Value, types: &[&str]) -> Option<usize> {
        let system = str_at(ident, "system")?;
        let value = str_at(ident, "value")?;
        self.by_identifier
            .get(&(system, value))?
            .iter()
            .copied()
            .find(|&i| {
                self.entries
                    .get(i)
                    .is_some_and(|e| e.container.is_none() && types.contains(&e.rtype))
            })
    }

    /// Resolves a reference string as seen from entry `from`.
    pub(crate) fn resolve_str(&self, from: usize, r: &str) -> Option<usize> {
        let from_entry = self.entries.get(from)?;
        if let Some(local) = r.strip_prefix('#') {
            let container = from_entry.container.unwrap_or(from);
            return self.contained.get(&(container, local)).copied();
        }
        if r.starts_with("urn:") {
            return self.by_full_url.get(r).copied();
        }
        if r.contains("://") {
            if let Some(&i) = self.by_full_url.get(r) {
                return Some(i);
            }
            let (t, id) = type_id(r)?;
            return self.by_type_id(t, id, from_entry.doc);
        }
        let (t, id) = type_id(r)?;
        // Relative to the referring entry's base URL.
        if let Some(fu) = from_entry.full_url
            && fu.contains("://")
            && let Some((ft, fid)) = type_id(fu)
        {
            let suffix_len = ft.len() + 1 + fid.len();
            if let Some(base) = fu.len().checked_sub(suffix_len).and_then(|n| fu.get(..n)) {
                let url = format!("{base}{t}/{id}");
                if let Some(&i) = self.by_full_url.get(url.as_str()) {
                    return Some(i);
                }
            }
        }
        self.by_type_id(t, id, from_entry.doc)
    }

    fn by_type_id(&self, t: &str, id: &str, doc: usize) -> Option<usize> {
        let v = self.by_type_id.get(&(t, id))?;
        v.iter()
            .copied()
            .find(|&i| {
                self.entries
                    .get(i)
                    .is_some_and(|e| e.doc == doc && e.container.is_none())
            })
            .or_else(|| {
                v.iter()
                    .copied()
                    .find(|&i| self.entries.get(i).is_some_and(|e| e.container.is_none()))
            })
    }
}

fn valid_type_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphanumeric())
}

/// FHIR ids are `[A-Za-z0-9.-]{1,64}`; exports are not always conformant, so anything
/// up to 64 characters without whitespace, control characters, '/', '#' or '|' is taken
/// (dropping a Patient over an underscore would hide it). Keys are sanitised separately.
fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '/' | '#' | '|'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::tree::tree_json as json;

    #[test]
    fn type_id_takes_the_trailing_segments_without_history() {
        assert_eq!(type_id("Patient/p1"), Some(("Patient", "p1")));
        assert_eq!(
            type_id("https://x.org/fhir/Patient/p1/_history/3"),
            Some(("Patient", "p1"))
        );
        assert_eq!(type_id("p1"), None);
        assert_eq!(type_id("patient/p1"), None);
    }

    #[test]
    fn resolves_every_reference_style() {
        let docs = vec![json!({
            "resourceType": "Bundle", "type": "collection",
            "entry": [
                {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "p1",
                    "identifier": [{"system": "urn:x", "value": "42"}]}},
                {"fullUrl": "https://h.nl/fhir/Medication/m1", "resource": {"resourceType": "Medication", "id": "m1"}},
                {"fullUrl": "https://h.nl/fhir/MedicationRequest/r1", "resource": {
                    "resourceType": "MedicationRequest", "id": "r1",
                    "contained": [{"resourceType": "Medication", "id": "c1"}]}}
            ]
        })];
        let ix = Index::build(&docs);
        assert_eq!(ix.entries.len(), 4);
        let from = 2;
        assert_eq!(ix.resolve_str(from, "urn:uuid:aaa"), Some(0));
        assert_eq!(ix.resolve_str(from, "Medication/m1"), Some(1));
        assert_eq!(
            ix.resolve_str(from, "https://h.nl/fhir/Medication/m1"),
            Some(1)
        );
        assert_eq!(
            ix.resolve_str(from, "https://other.org/Medication/m1"),
            Some(1)
        );
        assert_eq!(ix.resolve_str(from, "#c1"), Some(3));
        assert_eq!(ix.resolve_str(0, "#c1"), None);
        assert_eq!(
            ix.resolve(
                from,
                &json!({"identifier": {"system": "urn:x", "value": "42"}})
            ),
            Some(0)
        );
        assert_eq!(ix.resolve(from, &json!({"display": "Jan"})), None);
        assert_eq!(ix.resolve_str(from, "Patient/unknown"), None);
    }
}
