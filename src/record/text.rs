//! [`Text`]: the only string type the record holds. Every text of a record comes from a
//! snapshot (names, displays, codes, notes, statements) and is hostile: a 1 MB family name
//! or 100,000 given names must not reach a page or the generation file unbounded. A `Text`
//! can only be built bounded — its constructors cut at a character boundary after
//! [`Text::MAX_CHARS`] characters and append [`Text::CUT_MARKER`] — and it re-bounds when
//! it is read back from a generation (the file is data too). So a new text field in the
//! record is bounded by its type, not by a list to maintain; [`cut_texts`] counts the cut
//! ones for the ingest report by walking the record's own serialisation.

use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// A string of at most [`Text::MAX_CHARS`] characters, or a cut one: its first
/// `MAX_CHARS` characters followed by [`Text::CUT_MARKER`]. The field is private, so no
/// `Text` exists that was not bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    /// Most characters kept from a source string; longer ones are cut and marked.
    pub const MAX_CHARS: usize = 10_000;
    /// Appended to a cut text, so the reader sees that something is missing.
    pub const CUT_MARKER: &'static str = " […afgekapt]";

    /// Bounds `s`; the flag says whether it was cut (for the ingest report's count).
    pub fn bounded(s: impl Into<String>) -> (Text, bool) {
        let mut s = s.into();
        // A string of at most MAX_CHARS bytes has at most MAX_CHARS characters.
        if s.len() <= Self::MAX_CHARS {
            return (Text(s), false);
        }
        match s.char_indices().nth(Self::MAX_CHARS) {
            None => (Text(s), false),
            Some((at, _)) => {
                s.truncate(at);
                s.push_str(Self::CUT_MARKER);
                (Text(s), true)
            }
        }
    }

    /// The empty text (usable in constants).
    pub const fn empty() -> Text {
        Text(String::new())
    }

    /// Bounds `s` (see [`Text::bounded`]) when whether it was cut does not matter.
    pub fn new(s: impl Into<String>) -> Text {
        Text::bounded(s).0
    }

    /// Appends `s` (e.g. a further statement after "; "), bounding the result again;
    /// returns whether that cut.
    pub fn push_str(&mut self, s: &str) -> bool {
        let mut whole = std::mem::take(&mut self.0);
        whole.push_str(s);
        let (t, cut) = Text::bounded(whole);
        *self = t;
        cut
    }

    /// Whether this text was cut. Exact: an uncut text has at most `MAX_CHARS` characters,
    /// a cut one `MAX_CHARS` plus the marker.
    pub fn was_cut(&self) -> bool {
        was_cut(&self.0)
    }

    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bounded string, for callers that need ownership.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Turns the mapper's owned strings (alone, optional or in a list) into bounded texts:
/// `str_at(v, "code").map(str::to_owned).text()`.
pub(crate) trait IntoText {
    /// The same shape with [`Text`] for `String`.
    type Out;
    /// Bounds every string (see [`Text::bounded`]).
    fn text(self) -> Self::Out;
}

impl IntoText for String {
    type Out = Text;
    fn text(self) -> Text {
        Text::new(self)
    }
}

impl IntoText for &str {
    type Out = Text;
    fn text(self) -> Text {
        Text::new(self)
    }
}

impl IntoText for Option<String> {
    type Out = Option<Text>;
    fn text(self) -> Option<Text> {
        self.map(Text::new)
    }
}

impl IntoText for Option<&str> {
    type Out = Option<Text>;
    fn text(self) -> Option<Text> {
        self.map(Text::new)
    }
}

impl IntoText for Vec<String> {
    type Out = Vec<Text>;
    fn text(self) -> Vec<Text> {
        self.into_iter().map(Text::new).collect()
    }
}

fn was_cut(s: &str) -> bool {
    s.len() > Text::MAX_CHARS && s.chars().count() > Text::MAX_CHARS
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Text {
    /// Bounds the string (see [`Text::bounded`]).
    fn from(s: String) -> Text {
        Text::new(s)
    }
}

impl From<&str> for Text {
    /// Bounds the string (see [`Text::bounded`]).
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<&String> for Text {
    /// Bounds the string (see [`Text::bounded`]).
    fn from(s: &String) -> Text {
        Text::new(s.as_str())
    }
}

impl FromIterator<char> for Text {
    /// Collects, then bounds (see [`Text::bounded`]).
    fn from_iter<I: IntoIterator<Item = char>>(iter: I) -> Text {
        Text::new(iter.into_iter().collect::<String>())
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.0
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.0
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        *self == other.0
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    /// Bounds again what it reads: a generation file is data, not a promise.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        String::deserialize(d).map(Text::new)
    }
}

/// How many cut texts `value` holds (the ingest report says so per patient). It walks the
/// value's serialisation, so every text field counts, including one added tomorrow; every
/// string of a record is a [`Text`], so one over [`Text::MAX_CHARS`] characters is a cut one.
pub fn cut_texts<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = CutCounter(0);
    // The counter never fails; an error could only come from a foreign Serialize impl.
    match value.serialize(&mut counter) {
        Ok(()) | Err(CountError) => counter.0,
    }
}

/// A serializer that writes nothing and counts the strings longer than a text may be.
struct CutCounter(usize);

/// The counter's error type (serde requires one; nothing in the record produces it).
#[derive(Debug)]
struct CountError;

impl fmt::Display for CountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value could not be walked")
    }
}

impl std::error::Error for CountError {}

impl ser::Error for CountError {
    fn custom<M: fmt::Display>(_: M) -> CountError {
        CountError
    }
}

macro_rules! ignore {
    ($($name:ident: $t:ty),* $(,)?) => {
        $(fn $name(self, _: $t) -> Result<(), CountError> { Ok(()) })*
    };
}

impl Serializer for &mut CutCounter {
    type Ok = ();
    type Error = CountError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    ignore!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str,
    );

    fn serialize_str(self, v: &str) -> Result<(), CountError> {
        if was_cut(v) {
            self.0 = self.0.saturating_add(1);
        }
        Ok(())
    }
    fn serialize_none(self) -> Result<(), CountError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), CountError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CountError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), CountError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), CountError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), CountError> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, CountError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, CountError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CountError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CountError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, CountError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CountError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CountError> {
        Ok(self)
    }
}

macro_rules! compound {
    ($($tr:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$tr for &mut CutCounter {
            type Ok = ();
            type Error = CountError;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CountError> {
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), CountError> {
                Ok(())
            }
        })*
    };
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for &mut CutCounter {
    type Ok = ();
    type Error = CountError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), CountError> {
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CountError> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CountError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut CutCounter {
    type Ok = ();
    type Error = CountError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), CountError> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CountError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut CutCounter {
    type Ok = ();
    type Error = CountError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), CountError> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CountError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[test]
    fn short_text_is_kept_as_is() {
        assert_eq!(Text::bounded("kort"), (Text::new("kort"), false));
        let exact = "é".repeat(Text::MAX_CHARS);
        let (t, cut) = Text::bounded(exact.clone());
        assert!(!cut);
        assert_eq!(t, exact);
        assert!(!t.was_cut());
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary_with_marker() {
        let long = format!("{}{}", "ü".repeat(Text::MAX_CHARS), "x".repeat(5));
        let (t, cut) = Text::bounded(long);
        assert!(cut);
        assert!(t.was_cut());
        assert!(t.ends_with(Text::CUT_MARKER));
        assert_eq!(
            t.chars().count(),
            Text::MAX_CHARS + Text::CUT_MARKER.chars().count()
        );
        // Bounding a cut text again changes nothing.
        assert_eq!(Text::new(t.as_str()), t);
    }

    #[test]
    fn appending_bounds_again() {
        let mut t = Text::new("a".repeat(Text::MAX_CHARS - 1));
        assert!(!t.push_str("b"));
        assert!(t.push_str("; c"));
        assert!(t.was_cut());
    }

    #[test]
    fn deserializing_bounds_what_the_file_says() {
        let json = serde_json::to_string(&"y".repeat(3 * Text::MAX_CHARS)).unwrap();
        let t: Text = serde_json::from_str(&json).unwrap();
        assert!(t.was_cut());
        assert_eq!(serde_json::to_string(&Text::new("z")).unwrap(), "\"z\"");
    }

    #[test]
    fn cut_texts_counts_every_cut_string_in_a_structure() {
        #[derive(Serialize)]
        struct Inner {
            a: Option<Text>,
            b: Vec<Text>,
        }
        #[derive(Serialize)]
        enum E {
            V { t: Text },
        }
        #[derive(Serialize)]
        struct Outer {
            x: Text,
            inner: Inner,
            e: E,
            map: std::collections::BTreeMap<Text, Text>,
        }
        let long = || Text::new("q".repeat(Text::MAX_CHARS + 1));
        let v = Outer {
            x: long(),
            inner: Inner {
                a: Some(long()),
                b: vec![Text::new("kort"), long()],
            },
            e: E::V { t: long() },
            map: [(Text::new("k"), long())].into_iter().collect(),
        };
        assert_eq!(cut_texts(&v), 5);
        assert_eq!(cut_texts(&Text::new("kort")), 0);
    }
}
