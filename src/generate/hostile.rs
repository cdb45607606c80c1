//! Hostile content for the attack suites: a normal generated ward whose every shown string
//! is replaced by an injection payload (HTML/script, attribute breaking, CSS/URL schemes,
//! template syntax, already-escaped text, bidi overrides, zero-width and look-alike
//! letters, control characters), plus one 1 MB string, one 100,000-item array and
//! (optionally) a 1,000-level deep extension — and a conservative HTML checker that tells
//! whether such content came out inert.
//!
//! Every planted string carries a unique marker `hq{kind:02}n{serial:06}z` (letters and
//! digits only, so it survives escaping and cleaning) right after its payload (right before
//! it for the 1 MB string), so a test can find where each one ended up ([`find_markers`]).
//!
//! Invariants: deterministic per seed and `now`; structural strings (resource types,
//! references, ids, systems, dates, status and terminology codes) stay valid in
//! [`Variant::Texts`] so the resources still map; [`Variant::Structural`] makes those
//! hostile too (only `resourceType` and the outer Bundle stay) to check that the mapper
//! reports rather than crashes.

use super::{GenerateOptions, generate};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The rotating payloads: (name, text). The marker is appended to each.
pub(crate) const ROTATING: &[(&str, &str)] = &[
    ("script", "<script>alert(1)</script>"),
    ("img_onerror", "\"><img src=x onerror=alert(1)>"),
    ("attr_break", "' onmouseover='x"),
    ("close_tags_svg", "</title></textarea><svg onload=alert(1)>"),
    ("javascript_url", "javascript:alert(1)"),
    ("data_url", "data:text/html,<script>"),
    ("css_url", "url(javascript:x)"),
    ("css_expression", "expression(alert(1))"),
    ("template", "{{7*7}}"),
    ("percent_encoded", "%3Cscript%3E"),
    ("already_escaped", "&lt;script&gt;"),
    (
        "bidi",
        "\u{202E}gpj.exe \u{2066}a\u{2067}b\u{2068}c\u{2069} \u{202D}d\u{202C}",
    ),
    (
        "zero_width",
        "Jo\u{200D}han\u{200B}na\u{200C} \u{2060}de Vries",
    ),
    // Cyrillic о, а, е in a Dutch-looking name.
    (
        "lookalike",
        "J\u{043E}h\u{0430}nn\u{0430} d\u{0435} Vri\u{0435}s",
    ),
    (
        "control",
        "\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\t\n\u{b}\u{c}\r\u{e}\u{f}\u{10}\u{11}\
         \u{12}\u{13}\u{14}\u{15}\u{16}\u{17}\u{18}\u{19}\u{1a}\u{1b}\u{1c}\u{1d}\u{1e}\u{1f}\
         x\u{7f}y\u{85}z",
    ),
];

/// Kind number of the 1 MB string (after the rotating kinds).
pub const HUGE_KIND: usize = ROTATING.len();
/// Size of the huge string in bytes (before the marker).
pub(crate) const HUGE_LEN: usize = 1024 * 1024;
/// Items in the long array (the second patient's given names).
pub(crate) const LONG_ARRAY: usize = 100_000;
/// Levels of the deep extension ([`Variant::DeepNesting`]).
pub const DEEP_LEVELS: usize = 1000;
/// Patients in the hostile ward.
pub const PATIENTS: usize = 8;

/// Which strings are made hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Every shown string; structural values kept valid (resources still map). Plus the
    /// 1 MB string and the 100,000-item array.
    Texts,
    /// As [`Variant::Texts`], with a placeholder where [`deep_nesting_payload`] puts a
    /// 1,000-level deep extension (third patient).
    DeepNesting,
    /// Every string but `resourceType` and the outer Bundle's `type`: ids, references,
    /// fullUrls, systems, codes, statuses and dates too.
    Structural,
}

/// The marker of planted string `serial` of `kind`.
pub fn marker(kind: usize, serial: usize) -> String {
    format!("hq{kind:02}n{serial:06}z")
}

/// The text of `kind` without its marker (the 1 MB string for [`HUGE_KIND`]).
pub(crate) fn body(kind: usize) -> String {
    match ROTATING.get(kind) {
        Some((_, text)) => (*text).to_owned(),
        None => huge_body(),
    }
}

/// The name of `kind`.
pub fn kind_name(kind: usize) -> &'static str {
    ROTATING.get(kind).map_or("huge_1mb", |(n, _)| n)
}

fn huge_body() -> String {
    let unit = "<b>x</b>\"'&";
    let mut s = String::with_capacity(HUGE_LEN + unit.len());
    while s.len() < HUGE_LEN {
        s.push_str(unit);
    }
    s.truncate(HUGE_LEN);
    s
}

/// The planted string: payload then marker (marker first for the huge string, so a cut
/// keeps it).
pub fn planted(kind: usize, serial: usize) -> String {
    if kind == HUGE_KIND {
        format!("{}{}", marker(kind, serial), huge_body())
    } else {
        format!("{}{}", body(kind), marker(kind, serial))
    }
}

/// A hostile search query (every rotating payload in one string).
pub fn hostile_query() -> String {
    ROTATING
        .iter()
        .enumerate()
        .map(|(k, (_, t))| format!("{t}{}", marker(k, 999_999)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every marker in `text`: (byte offset, kind, serial), in order.
pub fn find_markers(text: &str) -> Vec<(usize, usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (i, _) in text.match_indices("hq") {
        let Some(m) = bytes.get(i..i + 12) else {
            continue;
        };
        let digits = |r: std::ops::Range<usize>| {
            m.get(r)
                .filter(|d| d.iter().all(u8::is_ascii_digit))
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<usize>().ok())
        };
        if m.get(4) != Some(&b'n') || m.get(11) != Some(&b'z') {
            continue;
        }
        if let (Some(kind), Some(serial)) = (digits(2..4), digits(5..11)) {
            out.push((i, kind, serial));
        }
    }
    out
}

/// The generated ward (seed, `now`) with every shown string hostile ([`Variant::Texts`]).
pub fn hostile_ward(seed: u64, now: DateTime<Utc>) -> Value {
    hostile_bundle(seed, now, Variant::Texts)
}

/// The generated ward (seed, `now`) made hostile per `variant`.
pub fn hostile_bundle(seed: u64, now: DateTime<Utc>, variant: Variant) -> Value {
    let g = generate(&GenerateOptions::new(PATIENTS, seed, "A3", now));
    let mut bundle =
        g.bundles.into_iter().next().map(|(_, b)| b).unwrap_or_else(
            || json!({"resourceType": "Bundle", "type": "collection", "entry": []}),
        );
    let mut serial = 0usize;
    if let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) {
        for e in entries.iter_mut() {
            poison(e, "", None, variant, &mut serial);
        }
    }
    if variant != Variant::Structural {
        add_extremes(&mut bundle, variant, &mut serial);
    }
    bundle
}

/// Terminology the mapper matches codes against: kept valid in [`Variant::Texts`].
fn structural_system(system: &str) -> bool {
    [
        "http://terminology.hl7.org/",
        "http://snomed.info/sct",
        "http://loinc.org",
        "http://hl7.org/fhir/",
        "http://unitsofmeasure.org",
    ]
    .iter()
    .any(|p| system.starts_with(p))
}

/// Keys whose string values are structure, not shown text.
fn structural_key(key: &str, parent_system: Option<&str>) -> bool {
    const KEYS: &[&str] = &[
        "resourceType",
        "fullUrl",
        "reference",
        "id",
        "system",
        "url",
        "profile",
        "type",
        "status",
        "intent",
        "mode",
        "use",
        "gender",
        "criticality",
        "severity",
        "category",
        "priority",
        "periodUnit",
        "durationUnit",
        "timeOfDay",
        "when",
        "dayOfWeek",
        "valueCode",
        "start",
        "end",
        "date",
        "dateTime",
        "issued",
        "lastUpdated",
        "timestamp",
        "authoredOn",
        "recorded",
        "language",
        "comparator",
    ];
    if KEYS.contains(&key)
        || key.ends_with("DateTime")
        || key.ends_with("Date")
        || key.ends_with("Instant")
    {
        return true;
    }
    key == "code" && parent_system.is_some_and(structural_system)
}

fn poison(v: &mut Value, key: &str, system: Option<&str>, variant: Variant, serial: &mut usize) {
    match v {
        Value::Object(map) => {
            let own_system = map.get("system").and_then(Value::as_str).map(str::to_owned);
            for (k, child) in map.iter_mut() {
                poison(child, k, own_system.as_deref(), variant, serial);
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                poison(item, key, system, variant, serial);
            }
        }
        Value::String(s) => {
            let keep = match variant {
                Variant::Structural => key == "resourceType",
                Variant::Texts | Variant::DeepNesting => structural_key(key, system),
            };
            if !keep {
                *s = next(serial);
            }
        }
        _ => {}
    }
}

fn next(serial: &mut usize) -> String {
    let s = *serial;
    *serial = serial.saturating_add(1);
    planted(s % ROTATING.len(), s)
}

/// The Patient resources of the bundle, in order.
fn patients_mut(bundle: &mut Value) -> Vec<&mut Map<String, Value>> {
    bundle
        .get_mut("entry")
        .and_then(Value::as_array_mut)
        .map(|entries| {
            entries
                .iter_mut()
                .filter_map(|e| e.get_mut("resource").and_then(Value::as_object_mut))
                .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
                .collect()
        })
        .unwrap_or_default()
}

/// The 1 MB family name (first patient), the 100,000 given names (second patient) and,
/// for [`Variant::DeepNesting`], the placeholder of the deep extension (third patient).
fn add_extremes(bundle: &mut Value, variant: Variant, serial: &mut usize) {
    let mut pats = patients_mut(bundle).into_iter();
    if let Some(p) = pats.next() {
        let s = *serial;
        *serial = serial.saturating_add(1);
        if let Some(n) = first_name_mut(p) {
            // Without the own-name extensions, `family` is what the mapper reads.
            n.remove("_family");
            n.insert("family".into(), Value::String(planted(HUGE_KIND, s)));
        }
    }
    if let Some(p) = pats.next() {
        let given: Vec<Value> = (0..LONG_ARRAY)
            .map(|_| Value::String(next(serial)))
            .collect();
        if let Some(n) = first_name_mut(p) {
            n.insert("given".into(), Value::Array(given));
        }
    }
    if variant == Variant::DeepNesting
        && let Some(p) = pats.next()
    {
        p.insert("extension".into(), Value::String(DEEP_PLACEHOLDER.into()));
    }
}

const DEEP_PLACEHOLDER: &str = "hq-deep-extension-placeholder";

/// The clinical payload (one NDJSON line) of [`Variant::DeepNesting`]: the third patient's
/// `extension` is nested [`DEEP_LEVELS`] deep. Built as text: a `serde_json::Value` that
/// deep would overflow the stack when serialised or dropped.
pub fn deep_nesting_payload(seed: u64, now: DateTime<Utc>) -> Vec<u8> {
    let bundle = hostile_bundle(seed, now, Variant::DeepNesting);
    let text = serde_json::to_string(&bundle).unwrap_or_default();
    let url = "\"url\":\"http://example.org/fhir/StructureDefinition/hostile-deep\"";
    let leaf = serde_json::to_string(&Value::String(planted(0, 999_998))).unwrap_or_default();
    let mut deep = String::with_capacity(DEEP_LEVELS * (url.len() + 20));
    deep.push('[');
    for _ in 0..DEEP_LEVELS {
        deep.push('{');
        deep.push_str(url);
        deep.push_str(",\"extension\":[");
    }
    deep.push('{');
    deep.push_str(url);
    deep.push_str(",\"valueString\":");
    deep.push_str(&leaf);
    deep.push('}');
    for _ in 0..DEEP_LEVELS {
        deep.push_str("]}");
    }
    deep.push(']');
    let mut out = text
        .replacen(&format!("\"{DEEP_PLACEHOLDER}\""), &deep, 1)
        .into_bytes();
    out.push(b'\n');
    out
}

fn first_name_mut(p: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    p.get_mut("name")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.first_mut())
        .and_then(Value::as_object_mut)
}

/// Elements the pages may contain (anything else is a finding).
const ALLOWED_TAGS: &[&str] = &[
    "html",
    "head",
    "meta",
    "title",
    "link",
    "body",
    "header",
    "nav",
    "main",
    "footer",
    "section",
    "article",
    "aside",
    "div",
    "span",
    "p",
    "a",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "caption",
    "colgroup",
    "col",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "form",
    "input",
    "button",
    "label",
    "select",
    "option",
    "fieldset",
    "legend",
    "strong",
    "em",
    "b",
    "i",
    "small",
    "br",
    "hr",
    "abbr",
    "time",
    "mark",
    "details",
    "summary",
    "figure",
    "figcaption",
    "code",
    "kbd",
    "pre",
    "s",
    "del",
    "ins",
    "sup",
    "sub",
    "bdi",
    "output",
    "textarea",
    "svg",
    "path",
    "circle",
    "rect",
    "line",
    "polyline",
    "polygon",
    "g",
    "ellipse",
];

/// Attributes the pages may carry (anything else, and every `on*`/`style`, is a finding).
const ALLOWED_ATTRS: &[&str] = &[
    "lang",
    "charset",
    "name",
    "content",
    "rel",
    "href",
    "class",
    "id",
    "role",
    "method",
    "action",
    "type",
    "value",
    "autocomplete",
    "inputmode",
    "autofocus",
    "required",
    "for",
    "title",
    "datetime",
    "colspan",
    "rowspan",
    "scope",
    "hidden",
    "tabindex",
    "maxlength",
    "minlength",
    "pattern",
    "placeholder",
    "disabled",
    "selected",
    "checked",
    "open",
    "dir",
    "translate",
    "enterkeyhint",
    "spellcheck",
    "autocapitalize",
    "size",
    "min",
    "max",
    "step",
    "media",
    "readonly",
    "headers",
    "abbr",
    "accept-charset",
    "enctype",
    "viewbox",
    "fill",
    "stroke",
    "stroke-width",
    "stroke-linecap",
    "stroke-linejoin",
    "d",
    "cx",
    "cy",
    "r",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "width",
    "height",
    "points",
    "rx",
    "ry",
    "xmlns",
    "focusable",
    "transform",
    "fill-rule",
    "clip-rule",
    "hreflang",
    "stroke-dasharray",
    "stroke-dashoffset",
    "novalidate",
    "label",
    "rows",
    "cols",
    "wrap",
    "preserveaspectratio",
    "shape-rendering",
];

/// Characters that must never appear raw in a page.
fn dangerous_char(c: char) -> bool {
    matches!(c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
        || (c.is_control() && c != '\n' && c != '\t')
}

/// Checks a rendered page conservatively: every `<` starts a known tag (or a comment or
/// the doctype), every tag and attribute is on the allow-list, no `on*`/`style`/`src`
/// attribute, every `href`/`action` is a same-origin path (`/`, `?` or `#`, never a
/// scheme or `//`), attribute values are quoted, no raw `<` inside a value, no raw
/// bidi or control character anywhere. Returns the findings (empty: inert).
pub fn check_html(html: &str) -> Vec<String> {
    // The pages' one script element, exactly as the layout renders it (a constant; text from
    // data can never produce it raw, maud escapes '<'). Any other script is a finding.
    let html = &html.replace(crate::web::pages::AGE_SCRIPT_TAG, "");
    let mut found = Vec::new();
    if let Some(c) = html.chars().find(|&c| dangerous_char(c)) {
        found.push(format!("raw dangerous character U+{:04X}", u32::from(c)));
    }
    let b = html.as_bytes();
    let mut i = 0usize;
    let ctx = |at: usize| -> String {
        let lo = html.floor_char_boundary(at.saturating_sub(40));
        let hi = html.ceil_char_boundary(at.saturating_add(60).min(html.len()));
        html.get(lo..hi).unwrap_or("").to_owned()
    };
    while let Some(off) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'<')) {
        let start = i + off;
        i = start + 1;
        match b.get(i) {
            Some(b'!') => {
                // Doctype or comment: skip to '>' (a comment must not hide markup).
                if b.get(i..i + 3) == Some(b"!--") {
                    found.push(format!("comment in page: {}", ctx(start)));
                }
                match b.get(i..).and_then(|r| r.iter().position(|&c| c == b'>')) {
                    Some(p) => i += p + 1,
                    None => {
                        found.push("unterminated <!".into());
                        break;
                    }
                }
                continue;
            }
            Some(b'/') => {
                i += 1;
                let n = take_name(b, &mut i);
                if !ALLOWED_TAGS.contains(&n.as_str()) {
                    found.push(format!("closing tag </{n}> not allowed: {}", ctx(start)));
                }
                skip_ws(b, &mut i);
                if b.get(i) != Some(&b'>') {
                    found.push(format!("malformed closing tag: {}", ctx(start)));
                }
                continue;
            }
            Some(c) if c.is_ascii_alphabetic() => {}
            _ => {
                found.push(format!("raw '<' not starting a tag: {}", ctx(start)));
                continue;
            }
        }
        let name = take_name(b, &mut i);
        if !ALLOWED_TAGS.contains(&name.as_str()) {
            found.push(format!("element <{name}> not allowed: {}", ctx(start)));
        }
        // Attributes.
        loop {
            skip_ws(b, &mut i);
            match b.get(i) {
                None => {
                    found.push(format!("unterminated tag: {}", ctx(start)));
                    return found;
                }
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'/') if b.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break;
                }
                _ => {}
            }
            let attr_at = i;
            let attr = take_attr_name(b, &mut i);
            if attr.is_empty() {
                found.push(format!("garbage in tag <{name}>: {}", ctx(attr_at)));
                i += 1;
                continue;
            }
            if attr.starts_with("on") || attr == "style" || attr == "src" || attr == "srcdoc" {
                found.push(format!("forbidden attribute {attr}: {}", ctx(attr_at)));
            } else if !ALLOWED_ATTRS.contains(&attr.as_str())
                && !attr.starts_with("aria-")
                && !attr.starts_with("data-")
            {
                found.push(format!("attribute {attr} not allowed: {}", ctx(attr_at)));
            }
            skip_ws(b, &mut i);
            if b.get(i) != Some(&b'=') {
                continue; // boolean attribute
            }
            i += 1;
            skip_ws(b, &mut i);
            let value = match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let from = i + 1;
                    match b.get(from..).and_then(|r| r.iter().position(|&c| c == q)) {
                        Some(p) => {
                            i = from + p + 1;
                            html.get(from..from + p).unwrap_or("").to_owned()
                        }
                        None => {
                            found.push(format!("unterminated attribute value: {}", ctx(attr_at)));
                            return found;
                        }
                    }
                }
                _ => {
                    found.push(format!("unquoted attribute value: {}", ctx(attr_at)));
                    let from = i;
                    while b
                        .get(i)
                        .is_some_and(|c| !c.is_ascii_whitespace() && *c != b'>')
                    {
                        i += 1;
                    }
                    html.get(from..i).unwrap_or("").to_owned()
                }
            };
            if value.contains('<') || value.contains('>') {
                found.push(format!("raw '<' or '>' in {attr} value: {}", ctx(attr_at)));
            }
            if (attr == "href" || attr == "action" || attr == "formaction" || attr == "xlink:href")
                && !same_origin_path(&value)
            {
                found.push(format!("{attr} is not a same-origin path: {value:?}"));
            }
        }
    }
    found
}

/// True for "/x", "?q", "#id" — never "//host", a scheme, or an entity-obscured value.
fn same_origin_path(v: &str) -> bool {
    let v = v.trim_start();
    let starts_ok = (v.starts_with('/') && !v.starts_with("//") && !v.starts_with("/\\"))
        || v.starts_with('?')
        || v.starts_with('#');
    starts_ok && !v.contains('\\') && !v.to_ascii_lowercase().contains("javascript:")
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
        *i += 1;
    }
}

fn take_name(b: &[u8], i: &mut usize) -> String {
    let from = *i;
    while b.get(*i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        *i += 1;
    }
    b.get(from..*i)
        .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
        .unwrap_or_default()
}

fn take_attr_name(b: &[u8], i: &mut usize) -> String {
    let from = *i;
    while b.get(*i).is_some_and(|&c| {
        !c.is_ascii_whitespace() && !matches!(c, b'=' | b'>' | b'/' | b'"' | b'\'')
    }) {
        *i += 1;
    }
    b.get(from..*i)
        .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
        .unwrap_or_default()
}

/// HTML-escapes like maud (`&`, `<`, `>`, `"`).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// How a marker occurrence in a page was rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The payload, cleaned (dangerous characters → U+FFFD) and escaped, right at the marker.
    Escaped,
    /// The payload in raw (unescaped) form: a finding when escaping would change it.
    Raw,
    /// Made URL-safe in a same-origin link: a patient key (`/patient/KEY`) or a
    /// percent-encoded path: neutralised.
    UrlKey,
    /// Changed (cut, composed, normalised) in text content between tags: escaped by maud,
    /// but not byte-identical to the payload.
    Composed,
    /// Changed inside a tag (an attribute value) and not a URL-safe key: suspicious.
    InTag,
}

/// Classifies the marker occurrence at byte `at` of `html` for `kind`.
pub fn seen_as(html: &str, at: usize, kind: usize) -> Seen {
    let cleaned: String = body(kind)
        .chars()
        .map(|c| if dangerous_char(c) { '\u{FFFD}' } else { c })
        .collect();
    let escaped = escape(&cleaned);
    let raw = body(kind);
    if kind == HUGE_KIND {
        let after = html.get(at + 12..).unwrap_or("");
        let probe = escaped.get(..1024).unwrap_or(&escaped);
        let raw_probe = raw.get(..1024).unwrap_or(&raw);
        return if after.starts_with(probe) {
            Seen::Escaped
        } else if after.starts_with(raw_probe) {
            Seen::Raw
        } else {
            Seen::Composed
        };
    }
    let before = html.get(..at).unwrap_or("");
    if before.ends_with(&escaped) {
        return Seen::Escaped;
    }
    if escape(&raw) != raw && before.ends_with(raw.trim_start()) {
        return Seen::Raw;
    }
    let key_start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map_or(0, |i| i + 1);
    let prefix = before.get(..key_start).unwrap_or("");
    if prefix.ends_with("href=\"/patient/") || prefix.ends_with("href=\"/print/mar/") {
        return Seen::UrlKey;
    }
    let in_tag = match (before.rfind('<'), before.rfind('>')) {
        (Some(lt), Some(gt)) => lt > gt,
        (Some(_), None) => true,
        _ => false,
    };
    if !in_tag {
        return Seen::Composed;
    }
    // A same-origin link whose value up to the marker is only URL-safe characters (the
    // language link echoes the percent-encoded path asked for).
    let url_safe = before.rfind('"').is_some_and(|q| {
        let attr_ok = before
            .get(..q)
            .is_some_and(|t| t.ends_with(" href=") || t.ends_with(" action="));
        let value = before.get(q + 1..).unwrap_or("");
        attr_ok
            && value.starts_with('/')
            && value.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '%' | '+' | '-' | '_' | '.' | '~' | '/' | '?' | '=' | '&' | ';'
                    )
            })
    });
    if url_safe { Seen::UrlKey } else { Seen::InTag }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_payload_precedes_marker() {
        let p = planted(3, 42);
        assert!(p.starts_with("</title>"));
        let found = find_markers(&format!("xx{p}yy"));
        assert_eq!(found, vec![(2 + body(3).len(), 3, 42)]);
    }

    #[test]
    fn checker_flags_markup_and_passes_escaped_text() {
        assert!(check_html("<p>&lt;script&gt;</p>").is_empty());
        for bad in [
            "<p><script>x</script></p>",
            "<p><img src=x onerror=alert(1)></p>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"//evil.example/\">x</a>",
            "<p title=\"\" onmouseover=\"x\">y</p>",
            "<div style=\"x\">y</div>",
            "<p>\u{202E}x</p>",
            "<p>a < b</p>",
            "<svg onload=alert(1)>",
        ] {
            assert!(!check_html(bad).is_empty(), "{bad}");
        }
    }
}
