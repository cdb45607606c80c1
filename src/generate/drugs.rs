//! The drug catalogue of the synthetic ward: common Dutch hospital drugs with a G-Standaard-
//! style product name, a dose, route and schedule, and how to write them as MP9 dosage
//! instructions (Timing with timeOfDay or frequency, as-needed with a condition, maximum per
//! period) plus the rendered Dutch dosage text (ext-RenderedDosageInstruction).
//!
//! **The product codes are FAKE.** They sit in the G-Standaard PRK (prescription code) system
//! (`urn:oid:2.16.840.1.113883.2.4.4.10`) so that mappers treat them like real ones, but all
//! are 8-digit numbers starting with `9990`, a range chosen not to collide with real PRK
//! codes. The ATC codes next to them are the real, public WHO codes of the ingredient.
//! Never use this data for anything but tests and demos.

use super::fhirout::{SNOMED, UCUM, coding, num, quantity};
use serde_json::{Value, json};

/// G-Standaard PRK (prescriptiecode) code system; the codes used here are fake (see above).
pub(super) const PRK: &str = "urn:oid:2.16.840.1.113883.2.4.4.10";
/// G-Standaard thesaurus 0007 (routes of administration).
pub(super) const GSTD_ROUTE: &str = "urn:oid:2.16.840.1.113883.2.4.4.9";
/// NHG table 25 (as-needed conditions), as in the MP9 examples.
pub(super) const NHG_TABLE25: &str =
    "https://referentiemodel.nhg.org/tabellen/nhg-tabel-25-gebruiksvoorschrift#aanvullend-numeriek";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Oral,
    Intravenous,
    Subcutaneous,
    Inhalation,
    Rectal,
}

impl Route {
    /// Dutch display.
    pub(super) fn text(self) -> &'static str {
        match self {
            Route::Oral => "oraal",
            Route::Intravenous => "intraveneus",
            Route::Subcutaneous => "subcutaan",
            Route::Inhalation => "inhalatie",
            Route::Rectal => "rectaal",
        }
    }

    /// The route as a CodeableConcept: the G-Standaard code where it is well known, and the
    /// SNOMED CT route qualifier.
    pub(super) fn concept(self) -> Value {
        let (gstd, sct, sct_display) = match self {
            Route::Oral => (Some("9"), "26643006", "Oral route"),
            Route::Rectal => (Some("12"), "37161004", "Rectal route"),
            Route::Intravenous => (None, "47625008", "Intravenous route"),
            Route::Subcutaneous => (None, "34206005", "Subcutaneous route"),
            Route::Inhalation => (None, "447694001", "Respiratory tract route"),
        };
        let mut codings = Vec::new();
        if let Some(c) = gstd {
            codings.push(coding(GSTD_ROUTE, c, &self.text().to_uppercase()));
        }
        codings.push(coding(SNOMED, sct, sct_display));
        json!({"coding": codings, "text": self.text()})
    }
}

/// When a drug is given.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sched {
    /// Fixed local clock times ("08:00").
    Times(&'static [&'static str]),
    /// n times per period without fixed times.
    Freq {
        count: u32,
        period: u32,
        unit: &'static str,
    },
    /// Zo nodig: condition text, optional NHG table-25 code, max times per day.
    AsNeeded {
        condition: &'static str,
        nhg: Option<&'static str>,
        max_per_day: u32,
    },
}

impl Sched {
    pub(super) fn is_as_needed(&self) -> bool {
        matches!(self, Sched::AsNeeded { .. })
    }
}

/// A catalogue entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Drug {
    pub key: &'static str,
    /// G-Standaard-style product name.
    pub name: &'static str,
    /// FAKE PRK code (see the module documentation).
    pub code: &'static str,
    pub ingredient: &'static str,
    pub strength: &'static str,
    pub form: &'static str,
    pub route: Route,
    /// Dose per administration in `unit`.
    pub dose: f64,
    /// Dose unit as shown and as UCUM code.
    pub unit: &'static str,
    pub ucum: &'static str,
    /// What the dose means, e.g. "1000 mg" for 2 tablets of 500 mg.
    pub dose_note: Option<&'static str>,
    pub sched: Sched,
    /// Condition keys (see `clinical::CONDITIONS`) this drug is typical for; empty = general.
    pub tags: &'static [&'static str],
    /// A course of this many days (antibiotics, prednisolon); 0 = continuous.
    pub course_days: u32,
}

#[allow(clippy::too_many_arguments)] // a table row: every column is needed
const fn drug(
    key: &'static str,
    name: &'static str,
    code: &'static str,
    ingredient: &'static str,
    strength: &'static str,
    form: &'static str,
    route: Route,
    dose: (f64, &'static str, &'static str, Option<&'static str>),
    sched: Sched,
    tags: &'static [&'static str],
    course_days: u32,
) -> Drug {
    Drug {
        key,
        name,
        code,
        ingredient,
        strength,
        form,
        route,
        dose: dose.0,
        unit: dose.1,
        ucum: dose.2,
        dose_note: dose.3,
        sched,
        tags,
        course_days,
    }
}

const STUK: (&str, &str) = ("stuk", "{stuk}");

const fn stuks(
    n: f64,
    note: Option<&'static str>,
) -> (f64, &'static str, &'static str, Option<&'static str>) {
    (n, STUK.0, STUK.1, note)
}

const fn mg(n: f64) -> (f64, &'static str, &'static str, Option<&'static str>) {
    (n, "mg", "mg", None)
}

/// Drugs prescribed on the ward (medication agreements).
pub(super) const WARD_DRUGS: &[Drug] = &[
    drug(
        "paracetamol",
        "PARACETAMOL TABLET 500MG",
        "99900011",
        "paracetamol",
        "500 mg",
        "tablet",
        Route::Oral,
        stuks(2.0, Some("1000 mg")),
        Sched::Times(&["08:00", "13:00", "18:00", "22:00"]),
        &[],
        0,
    ),
    drug(
        "paracetamol-zn",
        "PARACETAMOL TABLET 500MG",
        "99900011",
        "paracetamol",
        "500 mg",
        "tablet",
        Route::Oral,
        stuks(2.0, Some("1000 mg")),
        Sched::AsNeeded {
            condition: "Bij pijn of koorts",
            nhg: Some("1028"),
            max_per_day: 4,
        },
        &[],
        0,
    ),
    drug(
        "paracetamol-supp",
        "PARACETAMOL ZETPIL 1000MG",
        "99900028",
        "paracetamol",
        "1000 mg",
        "zetpil",
        Route::Rectal,
        stuks(1.0, Some("1000 mg")),
        Sched::AsNeeded {
            condition: "Bij koorts, als oraal niet lukt",
            nhg: None,
            max_per_day: 3,
        },
        &[],
        0,
    ),
    drug(
        "nadroparine",
        "NADROPARINE INJVLST 9500IE/ML WWSP 0,3ML",
        "99900035",
        "nadroparine",
        "2850 IE",
        "injectievloeistof",
        Route::Subcutaneous,
        stuks(1.0, Some("2850 IE")),
        Sched::Times(&["18:00"]),
        &[],
        0,
    ),
    drug(
        "pantoprazol",
        "PANTOPRAZOL TABLET MSR 40MG",
        "99900042",
        "pantoprazol",
        "40 mg",
        "tablet maagsapresistent",
        Route::Oral,
        stuks(1.0, Some("40 mg")),
        Sched::Times(&["08:00"]),
        &[],
        0,
    ),
    drug(
        "omeprazol",
        "OMEPRAZOL CAPSULE MSR 20MG",
        "99900059",
        "omeprazol",
        "20 mg",
        "capsule maagsapresistent",
        Route::Oral,
        stuks(1.0, Some("20 mg")),
        Sched::Times(&["08:00"]),
        &[],
        0,
    ),
    drug(
        "metoprolol",
        "METOPROLOLSUCCINAAT TABLET MGA 50MG",
        "99900066",
        "metoprolol",
        "50 mg",
        "tablet met gereguleerde afgifte",
        Route::Oral,
        stuks(1.0, Some("50 mg")),
        Sched::Times(&["08:00"]),
        &["af", "hartfalen", "mi", "hypertensie"],
        0,
    ),
    drug(
        "furosemide",
        "FUROSEMIDE TABLET 40MG",
        "99900073",
        "furosemide",
        "40 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("40 mg")),
        Sched::Times(&["08:00", "14:00"]),
        &["hartfalen", "ckd"],
        0,
    ),
    drug(
        "furosemide-iv",
        "FUROSEMIDE INJVLST 10MG/ML AMPUL 4ML",
        "99900080",
        "furosemide",
        "10 mg/ml",
        "injectievloeistof",
        Route::Intravenous,
        mg(40.0),
        Sched::Times(&["08:00", "14:00"]),
        &["hartfalen"],
        0,
    ),
    drug(
        "kaliumchloride",
        "KALIUMCHLORIDE TABLET MGA 600MG",
        "99900097",
        "kaliumchloride",
        "600 mg",
        "tablet met gereguleerde afgifte",
        Route::Oral,
        stuks(1.0, Some("600 mg")),
        Sched::Times(&["08:00", "20:00"]),
        &["hartfalen"],
        0,
    ),
    drug(
        "apixaban",
        "APIXABAN TABLET 5MG",
        "99900103",
        "apixaban",
        "5 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("5 mg")),
        Sched::Times(&["08:00", "20:00"]),
        &["af", "longembolie"],
        0,
    ),
    drug(
        "amoxiclav-iv",
        "AMOXICILLINE/CLAVULAANZUUR INJPDR 1000/200MG",
        "99900110",
        "amoxicilline/clavulaanzuur",
        "1000/200 mg",
        "poeder voor injectievloeistof",
        Route::Intravenous,
        stuks(1.0, Some("1000/200 mg")),
        Sched::Times(&["06:00", "14:00", "22:00"]),
        &["pneumonie", "uwi", "sepsis", "cholecystitis"],
        5,
    ),
    drug(
        "amoxiclav",
        "AMOXICILLINE/CLAVULAANZUUR TABLET 500/125MG",
        "99900127",
        "amoxicilline/clavulaanzuur",
        "500/125 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("500/125 mg")),
        Sched::Freq {
            count: 3,
            period: 1,
            unit: "d",
        },
        &["pneumonie", "uwi"],
        7,
    ),
    drug(
        "ceftriaxon",
        "CEFTRIAXON INJPDR 2000MG",
        "99900134",
        "ceftriaxon",
        "2000 mg",
        "poeder voor injectievloeistof",
        Route::Intravenous,
        mg(2000.0),
        Sched::Times(&["14:00"]),
        &["pneumonie", "sepsis", "uwi"],
        5,
    ),
    drug(
        "flucloxacilline",
        "FLUCLOXACILLINE INJPDR 1000MG",
        "99900141",
        "flucloxacilline",
        "1000 mg",
        "poeder voor injectievloeistof",
        Route::Intravenous,
        mg(1000.0),
        Sched::Times(&["00:00", "04:00", "08:00", "12:00", "16:00", "20:00"]),
        &["cellulitis"],
        7,
    ),
    drug(
        "morfine-zn",
        "MORFINE INJVLST 10MG/ML AMPUL 1ML",
        "99900158",
        "morfine",
        "10 mg/ml",
        "injectievloeistof",
        Route::Subcutaneous,
        mg(5.0),
        Sched::AsNeeded {
            condition: "Bij pijn (NRS > 4)",
            nhg: Some("1028"),
            max_per_day: 6,
        },
        &["heupfractuur", "cholecystitis", "mi"],
        0,
    ),
    drug(
        "oxazepam-zn",
        "OXAZEPAM TABLET 10MG",
        "99900165",
        "oxazepam",
        "10 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("10 mg")),
        Sched::AsNeeded {
            condition: "Bij onrust of slapeloosheid",
            nhg: None,
            max_per_day: 2,
        },
        &[],
        0,
    ),
    drug(
        "temazepam-zn",
        "TEMAZEPAM CAPSULE 10MG",
        "99900172",
        "temazepam",
        "10 mg",
        "capsule",
        Route::Oral,
        stuks(1.0, Some("10 mg")),
        Sched::AsNeeded {
            condition: "Bij slapeloosheid",
            nhg: None,
            max_per_day: 1,
        },
        &[],
        0,
    ),
    drug(
        "haloperidol-zn",
        "HALOPERIDOL TABLET 1MG",
        "99900189",
        "haloperidol",
        "1 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("1 mg")),
        Sched::AsNeeded {
            condition: "Bij onrust door delier",
            nhg: None,
            max_per_day: 3,
        },
        &["delier", "dementie"],
        0,
    ),
    drug(
        "insuline-aspart",
        "INSULINE ASPART INJVLST 100E/ML PENFILL 3ML",
        "99900196",
        "insuline aspart",
        "100 E/ml",
        "injectievloeistof",
        Route::Subcutaneous,
        (6.0, "E", "[iU]", None),
        Sched::Times(&["07:30", "12:00", "17:30"]),
        &["dm2"],
        0,
    ),
    drug(
        "insuline-glargine",
        "INSULINE GLARGINE INJVLST 100E/ML PEN 3ML",
        "99900202",
        "insuline glargine",
        "100 E/ml",
        "injectievloeistof",
        Route::Subcutaneous,
        (16.0, "E", "[iU]", None),
        Sched::Times(&["22:00"]),
        &["dm2"],
        0,
    ),
    drug(
        "metformine",
        "METFORMINE TABLET 500MG",
        "99900219",
        "metformine",
        "500 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("500 mg")),
        Sched::Times(&["08:00", "18:00"]),
        &["dm2"],
        0,
    ),
    drug(
        "amlodipine",
        "AMLODIPINE TABLET 5MG",
        "99900226",
        "amlodipine",
        "5 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("5 mg")),
        Sched::Times(&["08:00"]),
        &["hypertensie"],
        0,
    ),
    drug(
        "salbutamol-zn",
        "SALBUTAMOL AEROSOL 100UG/DO",
        "99900233",
        "salbutamol",
        "100 µg/dosis",
        "aerosol",
        Route::Inhalation,
        (2.0, "dosis", "{dosis}", None),
        Sched::AsNeeded {
            condition: "Bij benauwdheid",
            nhg: None,
            max_per_day: 8,
        },
        &["copd"],
        0,
    ),
    drug(
        "tiotropium",
        "TIOTROPIUM INHALATIEPOEDER 18UG CAPSULE",
        "99900240",
        "tiotropium",
        "18 µg",
        "inhalatiepoeder",
        Route::Inhalation,
        stuks(1.0, Some("18 µg")),
        Sched::Times(&["08:00"]),
        &["copd"],
        0,
    ),
    drug(
        "prednisolon",
        "PREDNISOLON TABLET 5MG",
        "99900257",
        "prednisolon",
        "5 mg",
        "tablet",
        Route::Oral,
        stuks(6.0, Some("30 mg")),
        Sched::Times(&["08:00"]),
        &["copd"],
        5,
    ),
    drug(
        "macrogol",
        "MACROGOL/ELEKTROLYTEN POEDER V DRANK IN SACHET",
        "99900264",
        "macrogol",
        "13,7 g",
        "poeder voor drank",
        Route::Oral,
        (1.0, "sachet", "{sachet}", None),
        Sched::Times(&["08:00"]),
        &["heupfractuur"],
        0,
    ),
    drug(
        "lactulose",
        "LACTULOSE STROOP 670MG/ML",
        "99900271",
        "lactulose",
        "670 mg/ml",
        "stroop",
        Route::Oral,
        (15.0, "ml", "mL", None),
        Sched::Freq {
            count: 2,
            period: 1,
            unit: "d",
        },
        &["dementie"],
        0,
    ),
    drug(
        "metoclopramide-zn",
        "METOCLOPRAMIDE TABLET 10MG",
        "99900288",
        "metoclopramide",
        "10 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("10 mg")),
        Sched::AsNeeded {
            condition: "Bij misselijkheid",
            nhg: None,
            max_per_day: 3,
        },
        &["cholecystitis"],
        0,
    ),
    drug(
        "acetylsalicylzuur",
        "ACETYLSALICYLZUUR TABLET 80MG",
        "99900295",
        "acetylsalicylzuur",
        "80 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("80 mg")),
        Sched::Times(&["08:00"]),
        &["cva", "mi"],
        0,
    ),
    drug(
        "clopidogrel",
        "CLOPIDOGREL TABLET 75MG",
        "99900301",
        "clopidogrel",
        "75 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("75 mg")),
        Sched::Times(&["08:00"]),
        &["cva", "mi"],
        0,
    ),
    drug(
        "atorvastatine",
        "ATORVASTATINE TABLET 40MG",
        "99900318",
        "atorvastatine",
        "40 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("40 mg")),
        Sched::Times(&["20:00"]),
        &["cva", "mi"],
        0,
    ),
    drug(
        "ferrofumaraat",
        "FERROFUMARAAT TABLET 200MG",
        "99900325",
        "ferrofumaraat",
        "200 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("200 mg")),
        Sched::Freq {
            count: 1,
            period: 1,
            unit: "d",
        },
        &["anemie"],
        0,
    ),
];

/// Drugs patients bring from home (medication use, MedicationStatement).
pub(super) const HOME_DRUGS: &[Drug] = &[
    drug(
        "calcium-vitd",
        "CALCIUMCARBONAAT/COLECALCIFEROL KAUWTABLET 1,25G/800IE",
        "99900332",
        "calciumcarbonaat/colecalciferol",
        "1,25 g/800 IE",
        "kauwtablet",
        Route::Oral,
        stuks(1.0, None),
        Sched::Times(&["08:00"]),
        &[],
        0,
    ),
    drug(
        "levothyroxine",
        "LEVOTHYROXINE TABLET 50UG",
        "99900349",
        "levothyroxine",
        "50 µg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("50 µg")),
        Sched::Times(&["07:00"]),
        &[],
        0,
    ),
    drug(
        "simvastatine",
        "SIMVASTATINE TABLET 40MG",
        "99900356",
        "simvastatine",
        "40 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("40 mg")),
        Sched::Times(&["20:00"]),
        &[],
        0,
    ),
    drug(
        "paracetamol-thuis",
        "PARACETAMOL TABLET 500MG",
        "99900011",
        "paracetamol",
        "500 mg",
        "tablet",
        Route::Oral,
        stuks(1.0, Some("500 mg")),
        Sched::AsNeeded {
            condition: "Bij pijn",
            nhg: Some("1028"),
            max_per_day: 6,
        },
        &[],
        0,
    ),
];

/// Looks a ward drug up by key.
pub(super) fn ward_drug(key: &str) -> Option<&'static Drug> {
    WARD_DRUGS.iter().find(|d| d.key == key)
}

/// The Medication resource (nl-core-PharmaceuticalProduct) for a catalogue drug.
pub(super) fn medication_resource(d: &Drug, id: &str) -> Value {
    let mut coding =
        vec![json!({"system": PRK, "code": d.code, "display": d.name, "userSelected": true})];
    if let Some((code, display)) = atc(d) {
        coding.push(json!({"system": ATC, "code": code, "display": display}));
    }
    json!({
        "resourceType": "Medication",
        "id": id,
        "meta": super::fhirout::meta("nl-core-PharmaceuticalProduct"),
        "code": {
            "coding": coding,
            "text": d.name
        },
        "form": {"text": d.form},
        "ingredient": [ingredient(d)]
    })
}

/// The WHO ATC code system.
pub(super) const ATC: &str = "http://www.whocc.no/atc";

/// The (real, public) WHO ATC code of a catalogue drug, by its key.
pub(super) fn atc(d: &Drug) -> Option<(&'static str, &'static str)> {
    let base = d.key.split('-').next().unwrap_or(d.key);
    Some(match (base, d.key) {
        (_, "amoxiclav" | "amoxiclav-iv") => ("J01CR02", "amoxicilline en enzymremmer"),
        (_, "calcium-vitd") => ("A12AX", "calcium, combinaties met vitamine D"),
        (_, "insuline-aspart") => ("A10AB05", "insuline aspart"),
        (_, "insuline-glargine") => ("A10AE04", "insuline glargine"),
        ("paracetamol", _) => ("N02BE01", "paracetamol"),
        ("nadroparine", _) => ("B01AB06", "nadroparine"),
        ("pantoprazol", _) => ("A02BC02", "pantoprazol"),
        ("omeprazol", _) => ("A02BC01", "omeprazol"),
        ("metoprolol", _) => ("C07AB02", "metoprolol"),
        ("furosemide", _) => ("C03CA01", "furosemide"),
        ("kaliumchloride", _) => ("A12BA01", "kaliumchloride"),
        ("apixaban", _) => ("B01AF02", "apixaban"),
        ("ceftriaxon", _) => ("J01DD04", "ceftriaxon"),
        ("flucloxacilline", _) => ("J01CF05", "flucloxacilline"),
        ("morfine", _) => ("N02AA01", "morfine"),
        ("oxazepam", _) => ("N05BA04", "oxazepam"),
        ("temazepam", _) => ("N05CD07", "temazepam"),
        ("haloperidol", _) => ("N05AD01", "haloperidol"),
        ("metformine", _) => ("A10BA02", "metformine"),
        ("amlodipine", _) => ("C08CA01", "amlodipine"),
        ("salbutamol", _) => ("R03AC02", "salbutamol"),
        ("tiotropium", _) => ("R03BB04", "tiotropium"),
        ("prednisolon", _) => ("H02AB06", "prednisolon"),
        ("macrogol", _) => ("A06AD65", "macrogol, combinaties"),
        ("lactulose", _) => ("A06AD11", "lactulose"),
        ("metoclopramide", _) => ("A03FA01", "metoclopramide"),
        ("acetylsalicylzuur", _) => ("B01AC06", "acetylsalicylzuur"),
        ("clopidogrel", _) => ("B01AC04", "clopidogrel"),
        ("atorvastatine", _) => ("C10AA05", "atorvastatine"),
        ("ferrofumaraat", _) => ("B03AA02", "ferrofumaraat"),
        ("levothyroxine", _) => ("H03AA01", "levothyroxine"),
        ("simvastatine", _) => ("C10AA01", "simvastatine"),
        _ => return None,
    })
}

/// The active ingredient, with its strength as a Ratio when the strength is a simple
/// "500 mg" (per piece) or "10 mg/ml".
fn ingredient(d: &Drug) -> Value {
    let mut ing = json!({"itemCodeableConcept": {"text": d.ingredient}, "isActive": true});
    if let (Some(r), Some(o)) = (strength_ratio(d.strength), ing.as_object_mut()) {
        o.insert("strength".into(), r);
    }
    ing
}

fn ucum_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "mg" => "mg",
        "µg" => "ug",
        "g" => "g",
        "IE" | "E" => "[iU]",
        "ml" => "mL",
        _ => return None,
    })
}

fn strength_ratio(s: &str) -> Option<Value> {
    let (value, unit) = s.split_once(' ')?;
    let v: f64 = value.replace(',', ".").parse().ok()?;
    let (num_unit, den_unit) = match unit.split_once('/') {
        Some((n, d)) => (n, d),
        None => (unit, "stuk"),
    };
    let nu = ucum_unit(num_unit)?;
    let den = if den_unit == "stuk" {
        quantity(1.0, "stuk", "{stuk}")
    } else {
        quantity(1.0, den_unit, ucum_unit(den_unit)?)
    };
    Some(json!({"numerator": quantity(v, num_unit, nu), "denominator": den}))
}

/// Dose as people write it: "2 stuks (1000 mg)", "5 mg", "16 E".
pub(super) fn dose_text(d: &Drug) -> String {
    let v = fmt_num(d.dose);
    let unit = if d.unit == "stuk" && d.dose != 1.0 {
        "stuks"
    } else {
        d.unit
    };
    match d.dose_note {
        Some(n) => format!("{v} {unit} ({n})"),
        None => format!("{v} {unit}"),
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}").replace('.', ",")
    }
}

fn times_list(times: &[&str]) -> String {
    match times {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} en {last}", rest.join(", ")),
    }
}

fn maal(n: u32) -> String {
    format!("{n} maal")
}

/// The schedule part of the rendered text, e.g. "3 maal per dag om 06:00, 14:00 en 22:00".
pub(super) fn schedule_text(s: &Sched) -> String {
    match s {
        Sched::Times(t) => format!("{} per dag om {}", maal(t.len() as u32), times_list(t)),
        Sched::Freq {
            count,
            period,
            unit,
        } => {
            let per = match (*period, *unit) {
                (1, "d") => "per dag".to_string(),
                (1, "wk") => "per week".to_string(),
                (p, "h") => format!("per {p} uur"),
                (p, u) => format!("per {p} {u}"),
            };
            format!("{} {per}", maal(*count))
        }
        Sched::AsNeeded {
            condition,
            max_per_day,
            ..
        } => {
            format!(
                "zo nodig, {}, maximaal {} per dag",
                condition.to_lowercase(),
                maal(*max_per_day)
            )
        }
    }
}

/// The rendered dosage instruction (MP9 ext-RenderedDosageInstruction), Dutch.
pub(super) fn rendered(d: &Drug, start: &str, end: Option<&str>) -> String {
    let period = match end {
        Some(e) => format!("Van {start} tot en met {e}"),
        None => format!("Vanaf {start}"),
    };
    format!(
        "{period}: {} {}, {}",
        schedule_text(&d.sched),
        dose_text(d),
        d.route.text()
    )
}

/// The FHIR Dosage (one instruction) for a drug.
pub(super) fn dosage(d: &Drug, text: &str) -> Value {
    let mut repeat = serde_json::Map::new();
    match d.sched {
        Sched::Times(t) => {
            repeat.insert("frequency".into(), json!(t.len()));
            repeat.insert("period".into(), json!(1));
            repeat.insert("periodUnit".into(), json!("d"));
            let tod: Vec<String> = t.iter().map(|x| format!("{x}:00")).collect();
            repeat.insert("timeOfDay".into(), json!(tod));
        }
        Sched::Freq {
            count,
            period,
            unit,
        } => {
            repeat.insert("frequency".into(), json!(count));
            repeat.insert("period".into(), json!(period));
            repeat.insert("periodUnit".into(), json!(unit));
        }
        Sched::AsNeeded { max_per_day, .. } => {
            repeat.insert("frequencyMax".into(), json!(max_per_day));
            repeat.insert("period".into(), json!(1));
            repeat.insert("periodUnit".into(), json!("d"));
        }
    }
    let mut out = json!({
        "sequence": 1,
        "text": text,
        "route": d.route.concept(),
        "doseAndRate": [{"doseQuantity": quantity(d.dose, d.unit, d.ucum)}],
    });
    if let Some(o) = out.as_object_mut() {
        if !repeat.is_empty() {
            o.insert("timing".into(), json!({"repeat": Value::Object(repeat)}));
        }
        if let Sched::AsNeeded {
            condition,
            nhg,
            max_per_day,
        } = d.sched
        {
            let concept = match nhg {
                Some(c) => {
                    json!({"coding": [coding(NHG_TABLE25, c, condition)], "text": condition})
                }
                None => json!({"text": condition}),
            };
            o.insert("asNeededCodeableConcept".into(), concept);
            o.insert(
                "maxDosePerPeriod".into(),
                json!({
                    "numerator": {"value": num(d.dose * f64::from(max_per_day)), "unit": d.unit, "system": UCUM, "code": d.ucum},
                    "denominator": {"value": 1, "unit": "dag", "system": UCUM, "code": "d"}
                }),
            );
        }
    }
    out
}
