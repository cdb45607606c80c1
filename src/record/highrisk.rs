//! High-risk medication (*hoog-risicomedicatie*): which drugs the MAR and the patient page
//! mark, decided by the drug's WHO ATC code and nothing else.
//!
//! The groups are the Dutch hospital high-risk groups named in issue 14 and in the VMS
//! Veiligheidsprogramma theme *High Risk Medicatie* (anticoagulants, insulins, opioids,
//! concentrated potassium, methotrexate and other cytostatics, digoxin), completed with the
//! parenteral concentrates and neuromuscular blockers of ISMP's *High-Alert Medications in
//! Acute Care Settings* (2018) that have their own ATC code. The list is a table
//! ([`GROUPS`]), documented in docs/FHIR-MAPPING.md ("High-risk medication").
//!
//! Platelet aggregation inhibitors (B01AC: acetylsalicylic acid, clopidogrel) are not
//! marked, except the intravenous glycoprotein IIb/IIIa inhibitors: B01A as a whole would
//! mark nearly every cardiac patient's aspirin and so blunt the marker. A drug without an
//! ATC code is not marked: the marker's absence never means "safe" (the MAR legend says so).

use super::Code;
use super::medication::Drug;

/// A high-risk group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum HighRisk {
    Anticoagulant,
    Insulin,
    Opioid,
    ConcentratedElectrolyte,
    Methotrexate,
    Cytostatic,
    Digoxin,
    NeuromuscularBlocker,
}

/// ATC prefixes (matched on the code's start) and their group; the first match wins, so
/// the specific codes come before the groups that contain them.
pub(crate) const GROUPS: &[(&str, HighRisk)] = &[
    // Antithrombotics without the oral platelet inhibitors (see the module documentation).
    ("B01AA", HighRisk::Anticoagulant),   // vitamin K antagonists
    ("B01AB", HighRisk::Anticoagulant),   // heparins (incl. LMWH)
    ("B01AC13", HighRisk::Anticoagulant), // abciximab
    ("B01AC16", HighRisk::Anticoagulant), // eptifibatide
    ("B01AC17", HighRisk::Anticoagulant), // tirofiban
    ("B01AD", HighRisk::Anticoagulant),   // thrombolytics
    ("B01AE", HighRisk::Anticoagulant),   // direct thrombin inhibitors
    ("B01AF", HighRisk::Anticoagulant),   // direct factor Xa inhibitors
    ("B01AX", HighRisk::Anticoagulant),   // other antithrombotics (fondaparinux)
    ("A10A", HighRisk::Insulin),
    ("N02A", HighRisk::Opioid),
    ("N01AH", HighRisk::Opioid), // opioid anaesthetics (fentanyl iv, remifentanil)
    ("N07BC", HighRisk::Opioid), // methadone, buprenorphine in addiction
    ("A12BA", HighRisk::ConcentratedElectrolyte), // potassium
    ("B05XA01", HighRisk::ConcentratedElectrolyte), // potassium chloride concentrate
    ("B05XA03", HighRisk::ConcentratedElectrolyte), // sodium chloride concentrate
    ("B05XA05", HighRisk::ConcentratedElectrolyte), // magnesium sulfate concentrate
    ("L01BA01", HighRisk::Methotrexate),
    ("L04AX03", HighRisk::Methotrexate),
    ("L01", HighRisk::Cytostatic),
    ("C01AA05", HighRisk::Digoxin),
    ("M03A", HighRisk::NeuromuscularBlocker),
];

fn is_atc(c: &Code) -> bool {
    matches!(
        c.system.as_deref().map(str::trim),
        Some("http://www.whocc.no/atc" | "urn:oid:2.16.840.1.113883.6.73")
    )
}

/// The group of one ATC code, if it is high-risk.
pub(crate) fn group_of_atc(code: &str) -> Option<HighRisk> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() < 3 {
        return None;
    }
    GROUPS
        .iter()
        .find(|(prefix, _)| c.starts_with(prefix))
        .map(|(_, g)| *g)
}

/// The high-risk group of a drug by any of its ATC codings.
pub(crate) fn high_risk(drug: &Drug) -> Option<HighRisk> {
    drug.code
        .iter()
        .chain(drug.codes.iter())
        .filter(|c| is_atc(c))
        .filter_map(|c| c.code.as_deref())
        .filter_map(group_of_atc)
        .min()
}

/// True when the drug is an insulin (its MAR rows get room for the glucose value).
pub(crate) fn is_insulin(drug: &Drug) -> bool {
    high_risk(drug) == Some(HighRisk::Insulin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drug(system: &str, code: &str) -> Drug {
        Drug {
            name: "x".into(),
            codes: vec![Code {
                system: Some(system.into()),
                code: Some(code.into()),
                display: None,
            }],
            ..Drug::default()
        }
    }

    #[test]
    fn the_groups_of_the_issue_are_marked() {
        let atc = "http://www.whocc.no/atc";
        for (code, g) in [
            ("B01AB06", HighRisk::Anticoagulant), // nadroparine
            ("B01AF02", HighRisk::Anticoagulant), // apixaban
            ("B01AA07", HighRisk::Anticoagulant), // acenocoumarol
            ("A10AB05", HighRisk::Insulin),
            ("A10AE04", HighRisk::Insulin),
            ("N02AA01", HighRisk::Opioid), // morfine
            ("A12BA01", HighRisk::ConcentratedElectrolyte),
            ("B05XA01", HighRisk::ConcentratedElectrolyte),
            ("L01BA01", HighRisk::Methotrexate),
            ("L04AX03", HighRisk::Methotrexate),
            ("L01XA01", HighRisk::Cytostatic), // cisplatin
            ("C01AA05", HighRisk::Digoxin),
        ] {
            assert_eq!(high_risk(&drug(atc, code)), Some(g), "{code}");
        }
        assert_eq!(
            high_risk(&drug("urn:oid:2.16.840.1.113883.6.73", "n02aa01")),
            Some(HighRisk::Opioid)
        );
    }

    #[test]
    fn ordinary_drugs_and_other_code_systems_are_not_marked() {
        let atc = "http://www.whocc.no/atc";
        for code in [
            "N02BE01", "B01AC06", "B01AC04", "C07AB02", "A10BA02", "B05", "",
        ] {
            assert_eq!(high_risk(&drug(atc, code)), None, "{code}");
        }
        // An ATC-looking code in another system is not an ATC code.
        assert_eq!(high_risk(&drug("http://snomed.info/sct", "A10AB05")), None);
        assert!(is_insulin(&drug(atc, "A10AB05")));
        assert!(!is_insulin(&drug(atc, "B01AB06")));
    }
}
