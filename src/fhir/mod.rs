//! FHIR R4 input: reading files into the clinical payload ([`input`]), and (to come) the
//! serde types for the subset we read and the mapper to [`crate::record`].

pub mod input;
