//! HumanName (nl-core / zib NameInformation) → [`PersonName`] as the Dutch write it.
//!
//! - Surname parts come from the `family` extensions humanname-own-prefix / own-name /
//!   partner-prefix / partner-name; naamgebruik (name usage) from the
//!   humanname-assembly-order extension: NL1 own name, NL2 partner name, NL3 partner then
//!   own, NL4 own then partner. Without an assembly order and with a `family` string, that
//!   string is shown as given; without either, own-partner.
//! - Given names vs initials from iso21090-EN-qualifier on each `given`: BR/CL/unqualified
//!   are given names, IN initials.
//! - Without the Dutch extensions, a leading lowercase voorvoegsel ("van der", "de", ...)
//!   in `family` is split off.
//!
//! `display` is "Johanna Petronella Maria van Putten-van der Giessen"; `sort_key` is the
//! first shown surname without its prefix, then given names (or initials), then the prefix:
//! "Putten-van der Giessen, Johanna Petronella Maria van".

use super::json::{arr, str_at};
use super::tree::Value;
use crate::record::IntoText;
use crate::record::PersonName;

const EXT_OWN_PREFIX: &str = "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix";
const EXT_OWN_NAME: &str = "http://hl7.org/fhir/StructureDefinition/humanname-own-name";
const EXT_PARTNER_PREFIX: &str = "http://hl7.org/fhir/StructureDefinition/humanname-partner-prefix";
const EXT_PARTNER_NAME: &str = "http://hl7.org/fhir/StructureDefinition/humanname-partner-name";
const EXT_ASSEMBLY: &str = "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order";
const EXT_QUALIFIER: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier";

/// Dutch voorvoegsels, longest first.
const PREFIXES: &[&str] = &[
    "van der", "van den", "van de", "van het", "van 't", "in 't", "in de", "in het", "op de",
    "op den", "op het", "uit de", "uit den", "uit het", "aan de", "aan den", "bij de", "'t", "van",
    "de", "den", "der", "het", "ter", "ten", "te", "op", "in", "uit",
];

fn ext_string<'a>(v: Option<&'a Value>, url: &str) -> Option<&'a str> {
    let v = v?;
    arr(v, "extension")
        .iter()
        .find(|e| str_at(e, "url") == Some(url))
        .and_then(|e| str_at(e, "valueString").or_else(|| str_at(e, "valueCode")))
}

fn assembly_order(name: &Value) -> Option<String> {
    arr(name, "extension")
        .iter()
        .find(|e| str_at(e, "url") == Some(EXT_ASSEMBLY))
        .and_then(|e| {
            str_at(e, "valueCode").map(str::to_owned).or_else(|| {
                e.get("valueCodeableConcept")
                    .and_then(|cc| arr(cc, "coding").first())
                    .and_then(|c| str_at(c, "code"))
                    .map(str::to_owned)
            })
        })
}

/// Splits a leading lowercase voorvoegsel off a surname ("van der Giessen").
fn split_prefix(family: &str) -> (Option<String>, String) {
    for p in PREFIXES {
        if let Some(rest) = family.strip_prefix(p)
            && let Some(rest) = rest.strip_prefix(' ')
            && !rest.trim().is_empty()
        {
            return (Some((*p).to_owned()), rest.trim().to_owned());
        }
    }
    (None, family.to_owned())
}

fn join(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{p} {name}"),
        _ => name.to_owned(),
    }
}

/// Chooses the name to show: official, else usual, else the first that is not old.
pub(crate) fn pick<'a>(names: &'a [Value<'a>]) -> Option<&'a Value<'a>> {
    let usable = |n: &&Value| !matches!(str_at(n, "use"), Some("old") | Some("anonymous"));
    names
        .iter()
        .filter(usable)
        .find(|n| str_at(n, "use") == Some("official"))
        .or_else(|| names.iter().filter(usable).find(|n| has_family_or_given(n)))
        .or_else(|| names.first())
}

fn has_family_or_given(n: &Value) -> bool {
    str_at(n, "family").is_some() || !arr(n, "given").is_empty()
}

/// Maps one HumanName.
pub(crate) fn person_name(name: &Value) -> PersonName {
    let family_ext = name.get("_family");
    let own_prefix = ext_string(family_ext, EXT_OWN_PREFIX).map(str::to_owned);
    let own_name = ext_string(family_ext, EXT_OWN_NAME).map(str::to_owned);
    let partner_prefix = ext_string(family_ext, EXT_PARTNER_PREFIX).map(str::to_owned);
    let partner_name = ext_string(family_ext, EXT_PARTNER_NAME).map(str::to_owned);
    let family = str_at(name, "family");

    let mut given = Vec::new();
    let mut initials = Vec::new();
    let quals = arr(name, "_given");
    for (i, g) in arr(name, "given").iter().enumerate() {
        let Some(g) = g.as_str().map(str::trim).filter(|g| !g.is_empty()) else {
            continue;
        };
        let q = quals
            .get(i)
            .and_then(|q| ext_string(Some(q), EXT_QUALIFIER));
        if q == Some("IN") {
            initials.push(g.to_owned());
        } else {
            given.push(g.to_owned());
        }
    }
    let initials = (!initials.is_empty()).then(|| {
        initials
            .iter()
            .map(|i| {
                if i.ends_with('.') {
                    i.clone()
                } else {
                    format!("{i}.")
                }
            })
            .collect::<String>()
    });

    // Surname components (prefix, name) in display order.
    let (own_prefix, own_name) = match (own_name, family) {
        (Some(n), _) => (own_prefix, Some(n)),
        (None, Some(f)) if partner_name.is_none() => {
            let (p, n) = split_prefix(f);
            (own_prefix.or(p), Some(n))
        }
        (None, _) => (own_prefix, None),
    };
    let own = own_name.as_deref().map(|n| (own_prefix.as_deref(), n));
    let partner = partner_name
        .as_deref()
        .map(|n| (partner_prefix.as_deref(), n));
    let order = assembly_order(name);
    let parts: Vec<(Option<&str>, &str)> = match (order.as_deref(), own, partner) {
        (Some("NL2"), _, Some(p)) => vec![p],
        (Some("NL3"), Some(o), Some(p)) => vec![p, o],
        (Some("NL1"), Some(o), _) => vec![o],
        (_, Some(o), Some(p)) => vec![o, p],
        (_, Some(o), None) => vec![o],
        (_, None, Some(p)) => vec![p],
        (_, None, None) => vec![],
    };
    let surname_display =
        if (order.is_none() && family.is_some() && partner.is_some()) || parts.is_empty() {
            family.map(str::to_owned)
        } else {
            Some(
                parts
                    .iter()
                    .map(|(p, n)| join(*p, n))
                    .collect::<Vec<_>>()
                    .join("-"),
            )
        };

    let first_names = if !given.is_empty() {
        Some(given.join(" "))
    } else {
        initials.clone()
    };
    let display = match (&first_names, &surname_display) {
        (Some(f), Some(s)) => format!("{f} {s}"),
        (Some(f), None) => f.clone(),
        (None, Some(s)) => s.clone(),
        (None, None) => str_at(name, "text").unwrap_or_default().to_owned(),
    };

    // Sort key: first shown surname without prefix, the rest of the surname, given, prefix.
    let sort_key = match parts.split_first() {
        Some(((prefix, first), rest)) => {
            let mut s = (*first).to_owned();
            for (p, n) in rest {
                s.push('-');
                s.push_str(&join(*p, n));
            }
            let mut out = s;
            out.push(',');
            if let Some(f) = &first_names {
                out.push(' ');
                out.push_str(f);
            }
            if let Some(p) = prefix {
                out.push(' ');
                out.push_str(p);
            }
            out
        }
        None => display.clone(),
    };

    PersonName {
        display: display.text(),
        sort_key: sort_key.text(),
        given: given.text(),
        initials: initials.text(),
        prefix: own_prefix.text(),
        surname: own_name.text(),
        partner_prefix: partner_prefix.text(),
        partner_surname: partner_name.text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::tree::tree_json as json;

    fn nl(own_p: &str, own: &str, pp: &str, pn: &str, order: Option<&str>) -> Value<'static> {
        let mut v = serde_json::json!({
            "family": "ignored when extensions present",
            "_family": {"extension": [
                {"url": EXT_OWN_PREFIX, "valueString": own_p},
                {"url": EXT_OWN_NAME, "valueString": own},
                {"url": EXT_PARTNER_PREFIX, "valueString": pp},
                {"url": EXT_PARTNER_NAME, "valueString": pn}
            ]},
            "given": ["Johanna"]
        });
        if let Some(o) = order {
            v["extension"] = serde_json::json!([{"url": EXT_ASSEMBLY, "valueCode": o}]);
        }
        Value::from_json(Box::leak(Box::new(v)))
    }

    #[test]
    fn naamgebruik_orders_own_and_partner_names() {
        let n = person_name(&nl("de", "Vries", "van", "Dijk", Some("NL4")));
        assert_eq!(n.display, "Johanna de Vries-van Dijk");
        assert_eq!(n.sort_key, "Vries-van Dijk, Johanna de");
        let n = person_name(&nl("de", "Vries", "van", "Dijk", Some("NL1")));
        assert_eq!(n.display, "Johanna de Vries");
        assert_eq!(n.sort_key, "Vries, Johanna de");
        let n = person_name(&nl("de", "Vries", "van", "Dijk", Some("NL2")));
        assert_eq!(n.display, "Johanna van Dijk");
        let n = person_name(&nl("de", "Vries", "van", "Dijk", Some("NL3")));
        assert_eq!(n.display, "Johanna van Dijk-de Vries");
        assert_eq!(n.sort_key, "Dijk-de Vries, Johanna van");
    }

    #[test]
    fn initials_are_kept_apart_from_given_names() {
        let n = person_name(&json!({
            "family": "Bakker",
            "given": ["D."],
            "_given": [{"extension": [{"url": EXT_QUALIFIER, "valueCode": "IN"}]}]
        }));
        assert_eq!(n.display, "D. Bakker");
        assert!(n.given.is_empty());
        assert_eq!(n.initials.as_deref(), Some("D."));
    }

    #[test]
    fn plain_family_splits_a_lowercase_prefix() {
        let n = person_name(&json!({"family": "van der Berg", "given": ["Piet"]}));
        assert_eq!(n.display, "Piet van der Berg");
        assert_eq!(n.sort_key, "Berg, Piet van der");
        let n = person_name(&json!({"family": "DeLarosa", "given": ["Martha"]}));
        assert_eq!(n.sort_key, "DeLarosa, Martha");
    }
}
