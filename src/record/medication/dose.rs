//! What to give and when, as the source states it: the drug, quantities, the dosing
//! instructions with their schedule, maximum dose and "zo nodig" condition.

use crate::record::{Code, Text};
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// The drug as the source names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Drug {
    /// The drug's name as the source gives it (code text, else the preferred display); never
    /// empty for a mapped block.
    pub name: Text,
    /// The preferred coding (user-selected, else G-Standaard, else the first).
    pub code: Option<Code>,
    /// Every coding the source gives (G-Standaard, ATC, SNOMED, RxNorm, NDC, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    /// Strength, e.g. "500 mg" or "5 mg/ml".
    pub strength: Option<Text>,
    /// Pharmaceutical form (tablet, solution ...), as given.
    pub form: Option<Text>,
    /// Names of the active ingredients, at most 20.
    pub ingredients: Vec<Text>,
}

/// A quantity with its unit as text and as code (UCUM or the G-Standaard unit table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The amount, in `unit`.
    pub value: f64,
    /// The unit as people write it ("stuk", "mg").
    pub unit: Option<Text>,
    /// The unit's code system (`http://unitsofmeasure.org` for UCUM).
    pub system: Option<Text>,
    /// The unit's code ("mg", "{stuk}", "245").
    pub code: Option<Text>,
}

/// UCUM's system URI.
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";

impl Quantity {
    /// The UCUM code of the unit, when the source gives one.
    pub fn ucum(&self) -> Option<&str> {
        (self.system.as_deref() == Some(UCUM))
            .then_some(self.code.as_deref())
            .flatten()
    }
}

/// A maximum dose per period ("max. 6 stuk per dag"): derivable for PRN blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxDose {
    /// The maximum amount.
    pub quantity: Quantity,
    /// The period, e.g. 1 d (value with a UCUM time unit).
    pub per: Quantity,
}

/// When to give: the structured schedule as far as the source structures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Schedule {
    /// Fixed clock times (Timing.repeat.timeOfDay), in ward-local time.
    pub times_of_day: Vec<NaiveTime>,
    /// "3 x per 1 d" as (frequency, period, period unit as UCUM: h, d, wk ...).
    pub frequency: Option<Frequency>,
    /// Day parts / events (morning, before meals ...), as given.
    pub when: Vec<Text>,
    /// Days of week (mon, tue ...) when restricted.
    pub days_of_week: Vec<Text>,
    /// A readable rendering of the above (built by the mapper, Dutch).
    pub text: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// How often per period (Timing.repeat frequency, period and periodUnit).
pub struct Frequency {
    /// Times per period (frequency).
    pub count: u32,
    /// The upper bound when a range is given ("2-3 x per dag"); always above `count`.
    pub count_max: Option<u32>,
    /// The period's length as a number in text ("1", "0,5").
    pub period: Text,
    /// The period's UCUM unit (h, d, wk, mo, a ...).
    pub period_unit: Text,
}

/// One dosing instruction (MP9 allows several per agreement, e.g. tapering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Dosage {
    /// Dose with unit, e.g. "1 stuk", "500 mg", "1-2 stuks".
    pub dose: Option<Text>,
    /// The dose as a quantity (doseQuantity), with unit text and code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_quantity: Option<Quantity>,
    /// A dose range (doseRange): low and high.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_range: Option<(Option<Quantity>, Option<Quantity>)>,
    /// Route of administration in words.
    pub route: Option<Text>,
    /// When to give.
    pub schedule: Schedule,
    /// `Some` when "zo nodig" (as needed); the condition text when given.
    pub as_needed: Option<AsNeeded>,
    /// Maximum dose per period, when given, as text.
    pub max_dose: Option<Text>,
    /// The same maximum as quantities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_period: Option<MaxDose>,
    /// The source's own rendered text of this instruction (Dosage.text).
    pub text: Option<Text>,
    /// Order for sequenced instructions.
    pub sequence: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// "Zo nodig": give only when the condition occurs.
pub struct AsNeeded {
    /// The condition in words ("bij pijn"), when the source gives one.
    pub condition: Option<Text>,
}
