//! Clinical catalogues of the synthetic ward: specialties, admission diagnoses and
//! comorbidities, allergies, alerts, treatment-directive topics, devices and lab tests.
//!
//! SNOMED CT / LOINC codes are given where they are well known; entries we could not verify
//! carry text only (`code: None`), which real sources also do and which the mapper must
//! handle. All data built from these lists is synthetic.

/// A specialty (AGB/Vektis specialisme code, `urn:oid:2.16.840.1.113883.2.4.6.7`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Specialty {
    pub code: &'static str,
    pub name: &'static str,
    /// Condition keys typical as admission reason on such a ward.
    pub admissions: &'static [&'static str],
}

pub(super) const SPECIALTY_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.6.7";

pub(super) const SPECIALTIES: &[Specialty] = &[
    Specialty {
        code: "0313",
        name: "Interne geneeskunde",
        admissions: &[
            "pneumonie",
            "uwi",
            "sepsis",
            "dehydratie",
            "anemie",
            "cellulitis",
        ],
    },
    Specialty {
        code: "0320",
        name: "Cardiologie",
        admissions: &["hartfalen", "af", "mi", "syncope"],
    },
    Specialty {
        code: "0322",
        name: "Longziekten",
        admissions: &["copd-exacerbatie", "pneumonie", "longembolie"],
    },
    Specialty {
        code: "0303",
        name: "Heelkunde",
        admissions: &[
            "heupfractuur",
            "cholecystitis",
            "appendicitis",
            "cellulitis",
        ],
    },
    Specialty {
        code: "0330",
        name: "Neurologie",
        admissions: &["cva", "delier", "syncope"],
    },
    Specialty {
        code: "0335",
        name: "Klinische geriatrie",
        admissions: &["delier", "heupfractuur", "dehydratie", "uwi"],
    },
];

/// A condition (nl-core-Problem).
#[derive(Debug, Clone, Copy)]
pub(super) struct ConditionDef {
    pub key: &'static str,
    pub name: &'static str,
    pub snomed: Option<&'static str>,
    /// Drug tags this condition triggers (usually the key itself).
    pub tag: &'static str,
}

const fn cond(
    key: &'static str,
    name: &'static str,
    snomed: Option<&'static str>,
    tag: &'static str,
) -> ConditionDef {
    ConditionDef {
        key,
        name,
        snomed,
        tag,
    }
}

pub(super) const CONDITIONS: &[ConditionDef] = &[
    cond("pneumonie", "Pneumonie", Some("233604007"), "pneumonie"),
    cond("hartfalen", "Hartfalen", Some("84114007"), "hartfalen"),
    cond("af", "Atriumfibrilleren", Some("49436004"), "af"),
    cond("copd", "COPD", Some("13645005"), "copd"),
    cond(
        "copd-exacerbatie",
        "Exacerbatie COPD",
        Some("195951007"),
        "copd",
    ),
    cond("dm2", "Diabetes mellitus type 2", Some("44054006"), "dm2"),
    cond(
        "hypertensie",
        "Hypertensie",
        Some("38341003"),
        "hypertensie",
    ),
    cond("ckd", "Chronische nierschade", Some("709044004"), "ckd"),
    cond("uwi", "Urineweginfectie", Some("68566005"), "uwi"),
    cond(
        "cellulitis",
        "Cellulitis onderbeen",
        Some("128045006"),
        "cellulitis",
    ),
    cond(
        "heupfractuur",
        "Collumfractuur heup",
        Some("5913000"),
        "heupfractuur",
    ),
    cond("cva", "Herseninfarct", Some("422504002"), "cva"),
    cond("mi", "Acuut myocardinfarct", Some("22298006"), "mi"),
    cond("delier", "Delier", Some("2776000"), "delier"),
    cond("dementie", "Dementie", Some("52448006"), "dementie"),
    cond("sepsis", "Sepsis", Some("91302008"), "sepsis"),
    cond(
        "longembolie",
        "Longembolie",
        Some("59282003"),
        "longembolie",
    ),
    cond(
        "cholecystitis",
        "Cholecystitis",
        Some("76581006"),
        "cholecystitis",
    ),
    cond(
        "appendicitis",
        "Appendicitis",
        Some("74400008"),
        "cholecystitis",
    ),
    cond("anemie", "Anemie", Some("271737000"), "anemie"),
    cond("dehydratie", "Dehydratie", Some("34095006"), "dehydratie"),
    cond("syncope", "Syncope", Some("271594007"), "syncope"),
    cond("artrose", "Coxartrose", None, "artrose"),
];

/// Chronic conditions patients carry besides the admission reason.
pub(super) const COMORBIDITIES: &[&str] = &[
    "hypertensie",
    "dm2",
    "af",
    "copd",
    "hartfalen",
    "ckd",
    "dementie",
    "artrose",
    "anemie",
];

pub(super) fn condition(key: &str) -> Option<&'static ConditionDef> {
    CONDITIONS.iter().find(|c| c.key == key)
}

/// An allergen.
#[derive(Debug, Clone, Copy)]
pub(super) struct AllergenDef {
    pub name: &'static str,
    pub snomed: Option<&'static str>,
    /// FHIR AllergyIntolerance.category.
    pub category: &'static str,
}

pub(super) const ALLERGENS: &[AllergenDef] = &[
    AllergenDef {
        name: "Penicilline",
        snomed: Some("764146007"),
        category: "medication",
    },
    AllergenDef {
        name: "Amoxicilline",
        snomed: Some("372687004"),
        category: "medication",
    },
    AllergenDef {
        name: "Ibuprofen",
        snomed: Some("387207008"),
        category: "medication",
    },
    AllergenDef {
        name: "Diclofenac",
        snomed: Some("7034005"),
        category: "medication",
    },
    AllergenDef {
        name: "Codeïne",
        snomed: Some("387494007"),
        category: "medication",
    },
    AllergenDef {
        name: "Morfine",
        snomed: Some("373529000"),
        category: "medication",
    },
    AllergenDef {
        name: "Latex",
        snomed: Some("111088007"),
        category: "environment",
    },
    AllergenDef {
        name: "Bijengif",
        snomed: Some("288328004"),
        category: "environment",
    },
    AllergenDef {
        name: "Pinda",
        snomed: Some("256349002"),
        category: "food",
    },
    AllergenDef {
        name: "Jodiumhoudend contrastmiddel",
        snomed: None,
        category: "medication",
    },
    AllergenDef {
        name: "Pleisters",
        snomed: None,
        category: "environment",
    },
];

/// A reaction (manifestation) with its SNOMED code.
pub(super) const REACTIONS: &[(&str, &str)] = &[
    ("271807003", "Exantheem"),
    ("126485001", "Urticaria"),
    ("39579001", "Anafylaxie"),
    ("41291007", "Angio-oedeem"),
    ("16932000", "Misselijkheid en braken"),
    ("267036007", "Dyspneu"),
    ("418290006", "Jeuk"),
];

/// An alert (nl-core-Alert, FHIR Flag). Isolation alerts are listed apart.
#[derive(Debug, Clone, Copy)]
pub(super) struct AlertDef {
    pub text: &'static str,
    pub snomed: Option<&'static str>,
}

pub(super) const ISOLATION_ALERTS: &[AlertDef] = &[
    AlertDef {
        text: "Drager van meticillineresistente Staphylococcus aureus",
        snomed: Some("432415000"),
    },
    AlertDef {
        text: "BRMO-drager (ESBL) — contactisolatie",
        snomed: None,
    },
    AlertDef {
        text: "Druppelisolatie (influenza)",
        snomed: None,
    },
    AlertDef {
        text: "Strikte isolatie (verdenking COVID-19)",
        snomed: None,
    },
];

pub(super) const OTHER_ALERTS: &[AlertDef] = &[
    AlertDef {
        text: "Verhoogd valrisico",
        snomed: Some("129839007"),
    },
    AlertDef {
        text: "Verhoogd risico op delier",
        snomed: None,
    },
    AlertDef {
        text: "Niet prikken of bloeddruk meten linkerarm (shunt)",
        snomed: None,
    },
    AlertDef {
        text: "Slechthorend — duidelijk en rustig spreken",
        snomed: None,
    },
    AlertDef {
        text: "Slikproblemen — medicatie vermalen in overleg met apotheek",
        snomed: None,
    },
];

/// A device (nl-core-MedicalDevice + Product).
#[derive(Debug, Clone, Copy)]
pub(super) struct DeviceDef {
    pub name: &'static str,
    pub snomed: Option<&'static str>,
    pub body_site: Option<&'static str>,
    /// Placed during this admission (else: since long before, like a pacemaker).
    pub during_admission: bool,
}

pub(super) const DEVICES: &[DeviceDef] = &[
    DeviceDef {
        name: "Perifeer infuus",
        snomed: None,
        body_site: Some("Onderarm links"),
        during_admission: true,
    },
    DeviceDef {
        name: "Urinekatheter (verblijfskatheter)",
        snomed: Some("20568009"),
        body_site: None,
        during_admission: true,
    },
    DeviceDef {
        name: "Pacemaker",
        snomed: Some("14106009"),
        body_site: None,
        during_admission: false,
    },
    DeviceDef {
        name: "Centraal veneuze katheter",
        snomed: Some("52124006"),
        body_site: Some("Vena jugularis interna rechts"),
        during_admission: true,
    },
    DeviceDef {
        name: "Maagsonde",
        snomed: None,
        body_site: None,
        during_admission: true,
    },
];

/// A lab test with its LOINC code, unit and reference ranges (female, male).
#[derive(Debug, Clone, Copy)]
pub(super) struct LabDef {
    pub loinc: &'static str,
    pub display: &'static str,
    pub unit: &'static str,
    pub ucum: &'static str,
    pub range_f: (f64, f64),
    pub range_m: (f64, f64),
    /// Typical value spread (mean, sd) over the ward population.
    pub mean: f64,
    pub sd: f64,
    pub decimals: u32,
    /// Only an upper limit (CRP).
    pub upper_only: bool,
}

pub(super) const LABS: &[LabDef] = &[
    LabDef {
        loinc: "59260-0",
        display: "Hemoglobine",
        unit: "mmol/l",
        ucum: "mmol/L",
        range_f: (7.5, 10.0),
        range_m: (8.5, 11.0),
        mean: 7.9,
        sd: 1.1,
        decimals: 1,
        upper_only: false,
    },
    LabDef {
        loinc: "14682-9",
        display: "Kreatinine",
        unit: "µmol/l",
        ucum: "umol/L",
        range_f: (45.0, 90.0),
        range_m: (60.0, 110.0),
        mean: 95.0,
        sd: 35.0,
        decimals: 0,
        upper_only: false,
    },
    LabDef {
        loinc: "2823-3",
        display: "Kalium",
        unit: "mmol/l",
        ucum: "mmol/L",
        range_f: (3.5, 5.0),
        range_m: (3.5, 5.0),
        mean: 4.1,
        sd: 0.5,
        decimals: 1,
        upper_only: false,
    },
    LabDef {
        loinc: "2951-2",
        display: "Natrium",
        unit: "mmol/l",
        ucum: "mmol/L",
        range_f: (135.0, 145.0),
        range_m: (135.0, 145.0),
        mean: 138.0,
        sd: 4.0,
        decimals: 0,
        upper_only: false,
    },
    LabDef {
        loinc: "14749-6",
        display: "Glucose",
        unit: "mmol/l",
        ucum: "mmol/L",
        range_f: (4.0, 7.8),
        range_m: (4.0, 7.8),
        mean: 7.0,
        sd: 2.2,
        decimals: 1,
        upper_only: false,
    },
    LabDef {
        loinc: "1988-5",
        display: "CRP",
        unit: "mg/l",
        ucum: "mg/L",
        range_f: (0.0, 10.0),
        range_m: (0.0, 10.0),
        mean: 60.0,
        sd: 55.0,
        decimals: 0,
        upper_only: true,
    },
];
