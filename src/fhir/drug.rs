//! The drug of a medication resource: `medicationCodeableConcept` or the referenced
//! Medication (G-Standaard codes preferred, strength, form and ingredients).

use super::context::Ctx;
use super::json::{self, arr, cc_text, obj, ratio, str_at};
use super::tree::Value;
use crate::record::Drug;
use crate::record::{IntoText, Text};

/// The drug of a resource: medicationCodeableConcept or the referenced Medication.
pub(super) fn drug(cx: &Ctx<'_, '_>, i: usize, res: &Value) -> Option<Drug> {
    if let Some(cc) = obj(res, "medicationCodeableConcept") {
        return Some(Drug {
            name: drug_name(cc)?.text(),
            code: preferred_code(cc),
            codes: json::cc_codes(cc),
            strength: None,
            form: None,
            ingredients: Vec::new(),
        });
    }
    let r = res.get("medicationReference")?;
    match cx.ix.resolve(i, r).and_then(|m| cx.entry(m)) {
        Some(m) if m.rtype == "Medication" => {
            let code = obj(m.res, "code");
            let name = code
                .and_then(drug_name)
                .or_else(|| str_at(r, "display").map(str::to_owned))?;
            let ingredients = arr(m.res, "ingredient");
            let strength = ingredients
                .iter()
                .filter_map(|g| g.get("strength").and_then(ratio))
                .collect::<Vec<_>>();
            let names = ingredients
                .iter()
                .filter_map(|g| {
                    g.get("itemCodeableConcept").and_then(cc_text).or_else(|| {
                        g.get("itemReference")
                            .and_then(|r| str_at(r, "display"))
                            .map(str::to_owned)
                    })
                })
                .take(20)
                .map(Text::new)
                .collect();
            Some(Drug {
                name: name.text(),
                code: code.and_then(preferred_code),
                codes: code.map(json::cc_codes).unwrap_or_default(),
                strength: (!strength.is_empty()).then(|| strength.join(" + ")).text(),
                form: m.res.get("form").and_then(cc_text).text(),
                ingredients: names,
            })
        }
        _ => Some(Drug {
            name: str_at(r, "display")?.to_owned().text(),
            ..Drug::default()
        }),
    }
}

fn is_g_standaard(c: &Value) -> bool {
    str_at(c, "system").is_some_and(|s| s.starts_with("urn:oid:2.16.840.1.113883.2.4.4."))
}

/// Name of a drug: the text, else the user-selected coding, else a G-Standaard coding,
/// else the first display, else the first code with its system's name ("NDC 0069-0105-68").
fn drug_name(cc: &Value) -> Option<String> {
    if let Some(t) = str_at(cc, "text") {
        return Some(t.to_owned());
    }
    let cs = json::codings(cc);
    cs.iter()
        .find(|c| c.get("userSelected").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            cs.iter()
                .find(|c| is_g_standaard(c) && str_at(c, "display").is_some())
        })
        .and_then(|c| str_at(c, "display"))
        .map(str::to_owned)
        .or_else(|| {
            cs.iter()
                .find_map(|c| str_at(c, "display"))
                .map(str::to_owned)
        })
        .or_else(|| {
            json::cc_codes(cc)
                .iter()
                .find_map(crate::record::Code::labelled)
        })
}

fn preferred_code(cc: &Value) -> Option<crate::record::Code> {
    let cs = json::codings(cc);
    let c = cs
        .iter()
        .find(|c| c.get("userSelected").and_then(Value::as_bool) == Some(true))
        .or_else(|| cs.iter().find(|c| is_g_standaard(c)))
        .or_else(|| cs.first())?;
    Some(crate::record::Code {
        system: str_at(c, "system").map(str::to_owned).text(),
        code: str_at(c, "code").map(str::to_owned).text(),
        display: str_at(c, "display").map(str::to_owned).text(),
    })
}
