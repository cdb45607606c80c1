//! Small, panic-free accessors over the parsed tree for the FHIR subset we read. (Every
//! string they give is bounded when it becomes part of the record: `record::Text`.)
//!
//! The mapper reads FHIR through these helpers rather than through full serde types: FHIR
//! JSON in the wild carries many optional and extended elements, and the mapper must keep
//! going (reporting, not panicking) whatever shape one resource has.

use super::tree::Value;
use crate::record::Code;
use crate::record::IntoText;

/// A string member, trimmed, non-empty.
pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An array member (empty when absent or not an array).
pub(super) fn arr<'a>(v: &'a Value<'a>, key: &str) -> &'a [Value<'a>] {
    match v.get(key) {
        Some(Value::Array(a)) => a.as_slice(),
        _ => &[],
    }
}

/// An object member.
pub(super) fn obj<'a>(v: &'a Value<'a>, key: &str) -> Option<&'a Value<'a>> {
    v.get(key).filter(|x| x.is_object())
}

/// The codings of a CodeableConcept.
pub(super) fn codings<'a>(cc: &'a Value<'a>) -> &'a [Value<'a>] {
    arr(cc, "coding")
}

/// True when a CodeableConcept (or a Coding) carries `system|code` (system `None` = any).
pub(super) fn has_code(cc: &Value, system: Option<&str>, code: &str) -> bool {
    let one = |c: &Value| {
        str_at(c, "code") == Some(code) && system.is_none_or(|s| str_at(c, "system") == Some(s))
    };
    one(cc) || codings(cc).iter().any(one)
}

/// True when any coding's code is in `codes` (any system).
pub(super) fn has_any_code(cc: &Value, codes: &[&str]) -> bool {
    codes.iter().any(|c| has_code(cc, None, c))
}

/// The readable text of a CodeableConcept: `text`, else the first coding display, else
/// the first code.
pub(super) fn cc_text(cc: &Value) -> Option<String> {
    if let Some(t) = str_at(cc, "text") {
        return Some(t.to_owned());
    }
    let cs = codings(cc);
    cs.iter()
        .find_map(|c| str_at(c, "display"))
        .or_else(|| cs.iter().find_map(|c| str_at(c, "code")))
        .map(str::to_owned)
}

/// The first coding of a CodeableConcept as a model [`Code`].
pub(super) fn cc_code(cc: &Value) -> Option<Code> {
    let c = codings(cc).first()?;
    let code = Code {
        system: str_at(c, "system").map(str::to_owned).text(),
        code: str_at(c, "code").map(str::to_owned).text(),
        display: str_at(c, "display").map(str::to_owned).text(),
    };
    (code.code.is_some() || code.display.is_some()).then_some(code)
}

/// Most codings kept per concept.
pub(super) const MAX_CODINGS: usize = 20;

/// Every coding of a CodeableConcept with a code or a display, as model [`Code`]s.
pub(super) fn cc_codes(cc: &Value) -> Vec<Code> {
    codings(cc)
        .iter()
        .take(MAX_CODINGS)
        .map(|c| Code {
            system: str_at(c, "system").map(str::to_owned).text(),
            code: str_at(c, "code").map(str::to_owned).text(),
            display: str_at(c, "display").map(str::to_owned).text(),
        })
        .filter(|c| c.code.is_some() || c.display.is_some())
        .collect()
}

/// A Quantity as a model [`Quantity`](crate::record::Quantity) (value, unit text, unit code).
pub(super) fn quantity_of(q: &Value) -> Option<crate::record::Quantity> {
    let value = q.get("value")?.as_f64().filter(|v| v.is_finite())?;
    Some(crate::record::Quantity {
        value,
        unit: str_at(q, "unit").map(str::to_owned).text(),
        system: str_at(q, "system").map(str::to_owned).text(),
        code: str_at(q, "code").map(str::to_owned).text(),
    })
}

/// A Coding's display or code.
pub(super) fn coding_text(c: &Value) -> Option<String> {
    str_at(c, "display")
        .or_else(|| str_at(c, "code"))
        .map(str::to_owned)
}

/// Extensions of an element with the given URL (exact match).
pub(super) fn extensions<'a>(
    v: &'a Value<'a>,
    url: &'a str,
) -> impl Iterator<Item = &'a Value<'a>> + 'a {
    arr(v, "extension")
        .iter()
        .filter(move |e| str_at(e, "url") == Some(url))
}

/// The first extension whose URL ends with `suffix` (Nictiz URLs differ in prefix by
/// release; the suffix names the element).
pub(super) fn ext_suffix<'a>(v: &'a Value<'a>, suffix: &str) -> Option<&'a Value<'a>> {
    arr(v, "extension")
        .iter()
        .find(|e| str_at(e, "url").is_some_and(|u| u.ends_with(suffix)))
}

/// Like [`ext_suffix`] over `modifierExtension`.
pub(super) fn modext_suffix<'a>(v: &'a Value<'a>, suffix: &str) -> Option<&'a Value<'a>> {
    arr(v, "modifierExtension")
        .iter()
        .find(|e| str_at(e, "url").is_some_and(|u| u.ends_with(suffix)))
}

/// The text of notes (Annotation[]), joined.
pub(super) fn notes(v: &Value) -> Option<String> {
    let parts: Vec<&str> = arr(v, "note")
        .iter()
        .filter_map(|n| str_at(n, "text"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// Formats a decimal the Dutch way ("0,5", "1", "2,25").
pub(super) fn number(n: &serde_json::Number) -> String {
    let s = if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        // Keep the source's own digits: serde_json's Display of a float is shortest-exact.
        n.to_string()
    };
    s.replace('.', ",")
}

/// The unit of a Quantity as people write it: `unit`, else the UCUM code without the
/// annotation braces ("{stuk}" → "stuk").
pub(super) fn quantity_unit(q: &Value) -> Option<String> {
    str_at(q, "unit")
        .or_else(|| str_at(q, "code"))
        .map(|u| u.trim_start_matches('{').trim_end_matches('}').to_owned())
        .filter(|u| !u.is_empty() && u != "1")
}

/// A Quantity as text ("500 mg", "1 stuk", "< 5 mmol/l").
pub(super) fn quantity(q: &Value) -> Option<String> {
    let value = match q.get("value") {
        Some(Value::Number(n)) => number(n),
        _ => return None,
    };
    let comparator = str_at(q, "comparator").map(|c| format!("{c} "));
    let unit = quantity_unit(q);
    Some(match unit {
        Some(u) => format!("{}{value} {u}", comparator.unwrap_or_default()),
        None => format!("{}{value}", comparator.unwrap_or_default()),
    })
}

/// A Range as text ("1-2 stuk").
pub(super) fn range(r: &Value) -> Option<String> {
    let low = r.get("low");
    let high = r.get("high");
    let num = |q: Option<&Value>| match q.and_then(|q| q.get("value")) {
        Some(Value::Number(n)) => Some(number(n)),
        _ => None,
    };
    let unit = high
        .and_then(quantity_unit)
        .or_else(|| low.and_then(quantity_unit));
    let text = match (num(low), num(high)) {
        (Some(l), Some(h)) => format!("{l}-{h}"),
        (Some(l), None) => format!("≥ {l}"),
        (None, Some(h)) => format!("≤ {h}"),
        (None, None) => return None,
    };
    Some(match unit {
        Some(u) => format!("{text} {u}"),
        None => text,
    })
}

/// A Ratio as text ("5 mg/ml", "4 stuk per 1 dag").
pub(super) fn ratio(r: &Value) -> Option<String> {
    let n = quantity(r.get("numerator")?)?;
    match r.get("denominator") {
        Some(d) => {
            let one = matches!(d.get("value"), Some(Value::Number(x)) if x.as_f64() == Some(1.0));
            match (one, quantity_unit(d), quantity(d)) {
                (true, Some(u), _) => Some(format!("{n}/{u}")),
                (_, _, Some(dt)) => Some(format!("{n}/{dt}")),
                _ => Some(n),
            }
        }
        None => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::tree::tree_json as json;

    #[test]
    fn quantities_use_dutch_decimal_comma_and_strip_annotation_braces() {
        assert_eq!(
            quantity(&json!({"value": 0.5, "code": "{stuk}"})).as_deref(),
            Some("0,5 stuk")
        );
        assert_eq!(
            range(&json!({"low": {"value": 1}, "high": {"value": 2, "unit": "stuks"}})).as_deref(),
            Some("1-2 stuks")
        );
        assert_eq!(
            ratio(&json!({"numerator": {"value": 5, "unit": "mg"}, "denominator": {"value": 1, "unit": "ml"}}))
                .as_deref(),
            Some("5 mg/ml")
        );
    }
}
