//! The borrowed JSON tree the mapper reads: one [`Value`] per payload document whose
//! strings and member names point into the payload bytes (copied only when the JSON escapes
//! them), objects as small vectors of members, parsed by `serde_json` (its recursion limit
//! and number parsing) through a hand-written `serde::Deserialize`.
//!
//! Why not `serde_json::Value`: that tree copies every string and member name into its own
//! allocation and keeps each object in a `BTreeMap`, so mapping a ward spent most of its
//! time in malloc/free (docs/PERFORMANCE.md). This tree reads the same JSON with the same
//! meaning — a member that appears twice takes its last value, as `serde_json::Value` does —
//! at a fraction of the allocations.
//!
//! Lenient by construction: the accessors (`get`, `as_str`, …) answer `None` for a wrongly
//! typed element, so a wrong type makes that element absent, never a failed ward.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// One JSON value borrowed from the input.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Value<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// Members in input order (duplicates kept; lookups take the last).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The member `key` of an object (the last one when it appears twice).
    pub(crate) fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when this is a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, when this is a boolean.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, when this is a number.
    pub(crate) fn as_number(&self) -> Option<&serde_json::Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The number as an unsigned integer, when it is one.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(serde_json::Number::as_u64)
    }

    /// The number as a float, when this is a number.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(serde_json::Number::as_f64)
    }

    /// True for an object.
    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// True for a string.
    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// Borrows a `serde_json::Value` (for callers that hold parsed documents already).
    pub(crate) fn from_json(v: &'a serde_json::Value) -> Value<'a> {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(Cow::Borrowed(s)),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Parses one JSON document borrowing from `bytes`.
    #[cfg(test)]
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Value<'a>, serde_json::Error> {
        Value::parse_with(bytes, &mut Scratch::default())
    }

    /// Parses one JSON document borrowing from `bytes`, building containers on `scratch`
    /// (reused across documents, so each array or object is allocated once at its exact
    /// size instead of growing). UTF-8 is checked once for the whole document; invalid
    /// UTF-8 is left to serde_json so its error names the place.
    pub(crate) fn parse_with(
        bytes: &'a [u8],
        scratch: &mut Scratch<'a>,
    ) -> Result<Value<'a>, serde_json::Error> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return serde_json::from_slice(bytes);
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let v = Seed(scratch).deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }
}

/// Reusable stacks for [`Value::parse_with`].
#[derive(Debug, Default)]
pub(crate) struct Scratch<'a> {
    items: Vec<Value<'a>>,
    members: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Seed(&mut Scratch::default()).deserialize(d)
    }
}

struct Seed<'s, 'de>(&'s mut Scratch<'de>);

impl<'de> DeserializeSeed<'de> for Seed<'_, 'de> {
    type Value = Value<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        d.deserialize_any(ValueVisitor(self.0))
    }
}

struct ValueVisitor<'s, 'de>(&'s mut Scratch<'de>);

impl<'de> Visitor<'de> for ValueVisitor<'_, 'de> {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value<'de>, E> {
        // serde_json never hands a non-finite float; Null mirrors serde_json::Value if it did.
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s)))
    }
    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        Seed(self.0).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let start = self.0.items.len();
        while let Some(v) = seq.next_element_seed(Seed(&mut *self.0))? {
            self.0.items.push(v);
        }
        // Drain is exact-size: one allocation of the final length.
        Ok(Value::Array(self.0.items.drain(start..).collect()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let start = self.0.members.len();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(Seed(&mut *self.0))?;
            self.0.members.push((k, v));
        }
        Ok(Value::Object(self.0.members.drain(start..).collect()))
    }
}

/// Reads a member name borrowed when the JSON does not escape it (`Cow`'s own
/// `Deserialize` always copies).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

/// Test helper: `serde_json::json!` read as a borrowed tree (the JSON is leaked, which a
/// test process can afford, so the tree may live as long as the test needs).
#[cfg(test)]
macro_rules! tree_json {
    ($($t:tt)+) => {
        $crate::fhir::tree::Value::from_json(Box::leak(Box::new(serde_json::json!($($t)+))))
    };
}
#[cfg(test)]
pub(crate) use tree_json;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_names_borrow_unless_escaped() {
        let src = br#"{"a": "plain", "b\u0062": "esc\"aped", "n": [1, -2, 0.5, true, null]}"#;
        let v = Value::parse(src).unwrap();
        let Value::Object(m) = &v else {
            panic!("object")
        };
        assert!(matches!(m[0].0, Cow::Borrowed("a")));
        assert!(matches!(m[0].1, Value::String(Cow::Borrowed("plain"))));
        assert!(matches!(m[1].0, Cow::Owned(ref s) if s == "bb"));
        assert_eq!(v.get("bb").and_then(Value::as_str), Some("esc\"aped"));
        let Some(Value::Array(n)) = v.get("n") else {
            panic!("array")
        };
        assert_eq!(n[0].as_u64(), Some(1));
        assert_eq!(n[1].as_f64(), Some(-2.0));
        assert_eq!(n[2].as_f64(), Some(0.5));
        assert_eq!(n[3].as_bool(), Some(true));
        assert_eq!(n[4], Value::Null);
    }

    #[test]
    fn reads_like_serde_json_value() {
        // The last of a duplicated member wins, wrong types answer None, and the tree
        // borrowed from a serde_json::Value is the same as the one parsed directly.
        let src = br#"{"id": "x", "id": "y", "active": "yes", "q": {"value": 1e2}}"#;
        let v = Value::parse(src).unwrap();
        assert_eq!(v.get("id").and_then(Value::as_str), Some("y"));
        assert_eq!(v.get("active").and_then(Value::as_bool), None);
        let sj: serde_json::Value = serde_json::from_slice(src).unwrap();
        assert_eq!(sj["id"], "y");
        let q = Value::from_json(&sj["q"]);
        assert_eq!(v.get("q"), Some(&q));
        assert!(Value::parse(b"{\"a\": ").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(
            Value::parse(deep.as_bytes()).is_err(),
            "recursion limit kept"
        );
    }
}
