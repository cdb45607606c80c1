//! The ingest report: for every input resource, whether it ended up in the model and if
//! not, why. Nothing is silently lost. Plain data; produced by the FHIR mapper, kept with
//! each generation and shown by `preview` and to IT staff.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a resource is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotShownReason {
    /// A resource type the appliance does not show.
    UnsupportedType,
    /// status = entered-in-error.
    EnteredInError,
    /// Outside the time window (administrations older than 72 h, old observations ...).
    OutsideTimeWindow,
    /// No longer active (stopped/completed medication, inactive flag ...).
    Inactive,
    /// A reference the mapper could not resolve (e.g. subject not in the snapshot).
    UnresolvedReference,
    /// The resource is malformed or misses a required element.
    Invalid,
    /// A second copy of a resource already mapped (same type and id).
    Duplicate,
    /// Used only to resolve references of other resources (Medication, Location,
    /// Practitioner, Organization ...), not shown on its own.
    ReferencedOnly,
    /// A FHIR version or profile generation whose shape is not read (e.g. an STU3 resource
    /// of a type only read in its R4 shape).
    UnsupportedVersion,
}

/// One resource that is not shown, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotShown {
    /// The FHIR resource type ("Observation").
    pub resource_type: String,
    /// The resource id (or fullUrl when there is no id); never patient-identifying text.
    pub id: Option<String>,
    /// Why it is not shown.
    pub reason: NotShownReason,
    /// A short technical detail ("subject Patient/123 not in snapshot").
    pub detail: String,
}

/// Counts per resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    /// Resources of this type in the input (Bundle entries and contained resources).
    pub input: u64,
    /// Of those, mapped into the record.
    pub mapped: u64,
    /// Of those, not shown (each listed with its reason); `input = mapped + not_shown`.
    pub not_shown: u64,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Per resource type: how many came in, how many are shown, how many are not.
    pub by_type: BTreeMap<String, TypeCounts>,
    /// Every resource not shown, with its reason.
    pub not_shown: Vec<NotShown>,
    /// Warnings about the data that do not drop a resource (conflicts, odd values).
    pub warnings: Vec<String>,
}

impl IngestReport {
    /// Counts one input resource of `resource_type` as mapped into the model.
    pub(crate) fn mapped(&mut self, resource_type: &str) {
        let c = self.by_type.entry(resource_type.to_owned()).or_default();
        c.input += 1;
        c.mapped += 1;
    }

    /// Counts one input resource as not shown, with the reason.
    pub(crate) fn not_shown(
        &mut self,
        resource_type: &str,
        id: Option<&str>,
        reason: NotShownReason,
        detail: impl Into<String>,
    ) {
        let c = self.by_type.entry(resource_type.to_owned()).or_default();
        c.input += 1;
        c.not_shown += 1;
        self.not_shown.push(NotShown {
            resource_type: resource_type.to_owned(),
            id: id.map(str::to_owned),
            reason,
            detail: detail.into(),
        });
    }

    /// Total input resources.
    pub fn total_input(&self) -> u64 {
        self.by_type.values().map(|c| c.input).sum()
    }

    /// True when every input resource is accounted for (mapped + not shown = input).
    pub fn is_balanced(&self) -> bool {
        self.by_type
            .values()
            .all(|c| c.mapped + c.not_shown == c.input)
            && self.not_shown.len() as u64
                == self.by_type.values().map(|c| c.not_shown).sum::<u64>()
    }
}
