//! "None known" and "no information" statements read from a code (IPS absent/unknown,
//! SNOMED "no known …"), per section; shared by the clinical and medication mappers.

use super::context::Section;
use super::json::{cc_text, has_code};
use super::tree::Value;

const SNOMED: &str = "http://snomed.info/sct";
/// IPS absent/unknown code system.
pub(super) const IPS_ABSENT: &str = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips";

/// Statements that there are no known items, per section: (system, code, the allergy
/// category when the statement covers only part of the section).
const NONE_KNOWN: &[(Section, &str, &str, Option<&str>)] = &[
    (Section::Allergies, SNOMED, "716186003", None),
    (Section::Allergies, SNOMED, "409137002", Some("medication")),
    (Section::Allergies, SNOMED, "429625007", Some("food")),
    (Section::Allergies, SNOMED, "428607008", Some("environment")),
    (Section::Allergies, SNOMED, "428197003", Some("biologic")),
    (Section::Allergies, IPS_ABSENT, "no-known-allergies", None),
    (
        Section::Allergies,
        IPS_ABSENT,
        "no-known-medication-allergies",
        Some("medication"),
    ),
    (
        Section::Allergies,
        IPS_ABSENT,
        "no-known-environmental-allergies",
        Some("environment"),
    ),
    (
        Section::Allergies,
        IPS_ABSENT,
        "no-known-food-allergies",
        Some("food"),
    ),
    (
        Section::Medication,
        IPS_ABSENT,
        "no-known-medications",
        None,
    ),
    (Section::Medication, SNOMED, "787481004", None),
    (Section::Medication, SNOMED, "182849000", None),
    (Section::Problems, IPS_ABSENT, "no-known-problems", None),
    (Section::Problems, SNOMED, "160245001", None),
];

/// Statements that nothing is known, per section.
const NO_INFO: &[(Section, &str, &str)] = &[
    (Section::Allergies, IPS_ABSENT, "no-allergy-info"),
    (Section::Medication, IPS_ABSENT, "no-medication-info"),
    (Section::Problems, IPS_ABSENT, "no-problem-info"),
];

/// A "none known" / "no information" statement read from a code.
pub(super) struct NegationCode {
    /// True for "no information" (the section stays not recorded).
    pub no_info: bool,
    pub wording: String,
    /// The category a partial statement covers ("no known food allergy" → `food`).
    pub partial: Option<&'static str>,
}

/// If `code` states "none known" / "no information" for `section`.
pub(super) fn negation(section: Section, code: &Value) -> Option<NegationCode> {
    let wording = || cc_text(code).unwrap_or_else(|| "geen bekend".to_owned());
    for (s, sys, c, partial) in NONE_KNOWN {
        if *s == section && has_code(code, Some(sys), c) {
            return Some(NegationCode {
                no_info: false,
                wording: wording(),
                partial: *partial,
            });
        }
    }
    for (s, sys, c) in NO_INFO {
        if *s == section && has_code(code, Some(sys), c) {
            return Some(NegationCode {
                no_info: true,
                wording: wording(),
                partial: None,
            });
        }
    }
    None
}
