//! The one-line view of a patient for the ward overview and search results, derived from
//! the full record so that the overview can never disagree with the patient page.

use super::{Decision, DirectiveKind, Listed, Moment, PatientRecord};
use serde::{Deserialize, Serialize};

/// Status of a section in the overview, keeping "not recorded" apart from "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionFlag {
    NotRecorded,
    NoneDocumented,
    Present,
}

/// Resuscitation policy as the overview shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResuscitationSummary {
    /// No resuscitation directive in the data: unknown, ask / follow hospital protocol.
    NotRecorded,
    Permit,
    Deny,
    /// Conditional or otherwise: read the patient page.
    Other,
    /// More than one active resuscitation directive that disagree.
    Conflicting,
}

/// One row of the ward overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientSummary {
    pub key: String,
    pub name: String,
    pub sort_key: String,
    pub birth_date: Option<Moment>,
    pub patient_number: Option<String>,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    pub alerts: SectionFlag,
    /// Short texts of the alerts (e.g. "MRSA", "Valrisico").
    pub alert_texts: Vec<String>,
    pub allergies: SectionFlag,
    pub allergy_texts: Vec<String>,
    pub resuscitation: ResuscitationSummary,
}

fn flag<T>(l: &Listed<T>) -> SectionFlag {
    match l {
        Listed::NotRecorded => SectionFlag::NotRecorded,
        Listed::NoneDocumented { .. } => SectionFlag::NoneDocumented,
        Listed::Items { .. } => SectionFlag::Present,
    }
}

impl From<&PatientRecord> for PatientSummary {
    fn from(p: &PatientRecord) -> Self {
        let mut resus = ResuscitationSummary::NotRecorded;
        for d in p.directives.items() {
            if d.kind != DirectiveKind::Resuscitation {
                continue;
            }
            let this = match d.decision {
                Decision::Permit => ResuscitationSummary::Permit,
                Decision::Deny => ResuscitationSummary::Deny,
                Decision::Other => ResuscitationSummary::Other,
            };
            resus = match resus {
                ResuscitationSummary::NotRecorded => this,
                prev if prev == this => prev,
                _ => ResuscitationSummary::Conflicting,
            };
        }
        PatientSummary {
            key: p.key.clone(),
            name: p.identity.name.display.clone(),
            sort_key: p.identity.name.sort_key.clone(),
            birth_date: p.identity.birth_date,
            patient_number: p.identity.patient_number.clone(),
            ward: p.location.ward.clone(),
            room: p.location.room.clone(),
            bed: p.location.bed.clone(),
            alerts: flag(&p.alerts),
            alert_texts: p.alerts.items().iter().map(|a| a.text.clone()).collect(),
            allergies: flag(&p.allergies),
            allergy_texts: p
                .allergies
                .items()
                .iter()
                .map(|a| a.substance.clone())
                .collect(),
            resuscitation: resus,
        }
    }
}
