//! FHIR R4 input: reading files into the clinical payload ([`input`]) and mapping parsed
//! documents into the clinical model ([`crate::record`]) with an ingest report that
//! accounts for every resource ([`map_documents`], [`map_payload`]).
//!
//! The mapping rules per resource type are documented in docs/FHIR-MAPPING.md.

mod block_facts;
mod clinical;
mod context;
pub(crate) mod dates;
mod dosage;
mod drug;
mod finish;
pub mod input;
mod json;
pub(crate) mod location;
mod map;
mod medication;
pub(crate) mod names;
mod negation;
mod observation;
mod patient;
pub(crate) mod refs;
mod treatments;
mod tree;

pub use context::{MAX_ITEMS_PER_SECTION, MAX_RESULTS_PER_CODE, MapOptions};

use crate::record::WardRecord;

/// Why a payload could not be mapped at all.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// The payload is not NDJSON of FHIR resources (bad JSON, not a resource): rejected whole.
    #[error("malformed clinical payload: {0}")]
    Malformed(#[from] input::InputError),
}

/// Maps parsed documents (Bundles of type collection/searchset/transaction/document,
/// single resources) into the model.
pub fn map_documents(docs: &[input::Document], opts: &MapOptions) -> WardRecord {
    let trees: Vec<tree::Value<'_>> = docs
        .iter()
        .map(|d| tree::Value::from_json(&d.value))
        .collect();
    let values: Vec<&tree::Value<'_>> = trees.iter().collect();
    map::map(&values, opts)
}

/// Maps a clinical snapshot payload (NDJSON of documents, see [`input`]). A malformed
/// file (bad JSON, not FHIR) → `Err`, rejected whole. The documents are read as trees
/// borrowed from `payload` ([`tree`]); the record owns its strings, so nothing of the
/// payload is kept once this returns.
pub fn map_payload(payload: &[u8], opts: &MapOptions) -> Result<WardRecord, FhirError> {
    let trees = input::parse_payload_borrowed(payload)?;
    let values: Vec<&tree::Value<'_>> = trees.iter().collect();
    Ok(map::map(&values, opts))
}
