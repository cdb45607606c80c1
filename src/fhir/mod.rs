//! FHIR R4 input: reading files into the clinical payload ([`input`]) and mapping parsed
//! documents into the clinical model ([`crate::record`]) with an ingest report that
//! accounts for every resource ([`map_documents`], [`map_payload`]).
//!
//! The mapping rules per resource type are documented in docs/FHIR-MAPPING.md.

mod clinical;
pub mod dates;
mod dosage;
pub mod input;
mod json;
pub mod location;
mod map;
mod medication;
pub mod names;
mod observation;
pub mod refs;
mod treatments;

pub use map::{MAX_ITEMS_PER_SECTION, MAX_RESULTS_PER_CODE, MapOptions};

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
    let values: Vec<&serde_json::Value> = docs.iter().map(|d| &d.value).collect();
    map::map(&values, opts)
}

/// Maps a clinical snapshot payload (NDJSON of documents, see [`input`]). A malformed
/// file (bad JSON, not FHIR) → `Err`, rejected whole.
pub fn map_payload(payload: &[u8], opts: &MapOptions) -> Result<WardRecord, FhirError> {
    let docs = input::parse_payload(payload)?;
    Ok(map_documents(&docs, opts))
}
