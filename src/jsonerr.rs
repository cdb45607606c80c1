//! serde_json errors told without the input's values, for messages that reach operator
//! logs, `/ready` and quarantine `.reason` files. serde's data errors quote what they
//! refused (`invalid type: string "Jansen"`, ``unknown variant `...` ``, ``unknown field
//! `...` ``); a refused snapshot's payload may carry patient data, so only the kind of
//! problem, what was expected (text from our own types) and the position are kept.

use serde_json::error::Category;

/// Data-error prefixes whose `expected ...` tail comes from our own types.
const QUOTING: &[&str] = &[
    "unknown variant",
    "unknown field",
    "invalid type",
    "invalid value",
    "invalid length",
];

/// Data-error prefixes that only name our own fields.
const OWN_NAMES: &[&str] = &["missing field", "duplicate field"];

/// `e` as one line naming the kind of problem, what was expected and where (line and
/// column), never a value or key taken from the input.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let at = format!("at line {} column {}", e.line(), e.column());
    match e.classify() {
        // serde_json's syntax messages are fixed texts ("expected value", "trailing
        // comma", "recursion limit exceeded" ...), never input.
        Category::Syntax | Category::Eof => e.to_string(),
        Category::Io => format!("cannot read the input {at}"),
        Category::Data => {
            let msg = e.to_string();
            if let Some(p) = OWN_NAMES.iter().find(|p| msg.starts_with(*p)) {
                // "missing field `reason` at line 1 column 20": the name is ours.
                return if msg.contains(&at) {
                    msg
                } else {
                    format!("{p} {at}")
                };
            }
            match QUOTING.iter().find(|p| msg.starts_with(*p)) {
                // The text after the LAST ", expected " is ours, whatever the quoted value
                // contained (it ends with the position).
                Some(p) => match msg.rsplit_once(", expected ") {
                    Some((_, tail)) if tail.ends_with(&at) => format!("{p}, expected {tail}"),
                    _ => format!("{p} {at}"),
                },
                None => {
                    format!("a field is missing, unknown, or has a value of the wrong type {at}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Kind {
        Standby,
        Drill,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cmd {
        mode: Kind,
        reason: String,
        count: Option<u8>,
    }

    fn err(json: &str) -> String {
        describe(&serde_json::from_str::<Cmd>(json).unwrap_err())
    }

    const SECRET: &str = "Jansen-999912345";

    #[test]
    fn data_errors_keep_the_expectation_and_position_but_never_the_value() {
        for (json, kind) in [
            (
                r#"{"mode": "Jansen-999912345", "reason": "x"}"#,
                "unknown variant, expected `standby` or `drill` at line 1 column 27",
            ),
            (
                r#"{"mode": "drill", "reason": "x", "Jansen-999912345": 1}"#,
                "unknown field, expected one of `mode`, `reason`, `count`",
            ),
            (
                r#"{"mode": "drill", "reason": ["Jansen-999912345"]}"#,
                "invalid type, expected a string",
            ),
            (
                r#"{"mode": "drill", "reason": "x", "count": 999912345}"#,
                "invalid value, expected u8",
            ),
            (r#"{"mode": "drill"}"#, "missing field `reason`"),
            (
                r#"{"mode": "drill", "reason": "a", "reason": "Jansen-999912345"}"#,
                "duplicate field `reason`",
            ),
        ] {
            let m = err(json);
            assert!(m.starts_with(kind), "{json}: {m}");
            assert!(m.contains(" at line 1 column "), "{json}: {m}");
            assert!(!m.contains("Jansen") && !m.contains("99991"), "{json}: {m}");
        }
    }

    #[test]
    fn a_value_that_mimics_the_expected_tail_does_not_get_through() {
        let json = format!(r#"{{"mode": "{SECRET}, expected {SECRET}", "reason": "x"}}"#);
        let m = err(&json);
        assert!(!m.contains("Jansen"), "{m}");
        assert!(
            m.starts_with("unknown variant, expected `standby` or `drill`"),
            "{m}"
        );
    }

    #[test]
    fn syntax_errors_name_the_problem_and_the_position_only() {
        for json in [
            "Jansen-999912345 was here",
            r#"{"mode": "Jansen-999912345",}"#,
            r#"{"mode": "Jansen-999912345"#,
            "{\"mode\": \"Jansen\u{1}999912345\"}",
        ] {
            let m = err(json);
            assert!(m.contains("line 1 column"), "{json}: {m}");
            assert!(!m.contains("Jansen") && !m.contains("99991"), "{json}: {m}");
        }
    }
}
