//! The URLs the pages link to and post to, in one place so that routes and pages agree.
//! Patient keys are percent-encoded into the path; nothing from a record ever becomes a
//! URL scheme (every link is site-relative, starting with one "/").

/// Ward overview (GET, `?q=` to search).
pub(crate) const HOME: &str = "/";
/// Login form (GET) and login (POST: `user`, `code`, `csrf`).
pub(crate) const LOGIN: &str = "/login";
/// Logout (POST: `csrf`).
pub(crate) const LOGOUT: &str = "/logout";
/// Status page (standby, `it` role).
pub(crate) const STATUS: &str = "/status";
/// Coordinator page (GET).
pub(crate) const COORDINATOR: &str = "/coordinator";
/// Mode switch (POST: `mode`, `reason`, `csrf`).
pub(crate) const MODE: &str = "/mode";
/// Guest code issue (POST: `name`, `role`, `csrf`).
pub(crate) const GUEST_CODE: &str = "/guest-code";
/// Guest code revocation (POST: `user`, `csrf`).
pub(crate) const GUEST_CODE_REVOKE: &str = "/guest-code/revoke";
/// Lifting a login lockout (POST: `target` = `user:ID` or `address:IP`, `csrf`).
pub(crate) const LOCKOUT_LIFT: &str = "/lockout/lift";
/// Printable ward list.
pub(crate) const PRINT_WARD: &str = "/print/ward";
/// Printable MAR for all patients.
pub(crate) const PRINT_MAR_ALL: &str = "/print/mar";
/// Printable blank MAR for a new admission.
pub(crate) const PRINT_BLANK_MAR: &str = "/print/mar-blank";
/// The stylesheet.
pub(crate) const STYLESHEET: &str = "/static/style.css";
/// The small script that keeps the data age on an open page current (optional: every page
/// is complete without it).
pub(crate) const AGE_SCRIPT: &str = "/static/age.js";

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        // Never produce an empty or dot segment (which would change the path).
        out = out.replace('.', "%2E");
        if out.is_empty() {
            out.push_str("%00");
        }
    }
    out
}

/// The patient page.
pub fn patient(key: &str) -> String {
    format!("/patient/{}", encode_segment(key))
}

/// The printable MAR of one patient.
pub fn patient_mar(key: &str) -> String {
    format!("/patient/{}/mar", encode_segment(key))
}

/// The printable A4 sheet of identification labels of one patient.
pub(crate) fn patient_labels(key: &str) -> String {
    format!("/patient/{}/labels", encode_segment(key))
}

/// The current path with `?lang=xx`, or "/" when the path is not a plain site-relative
/// path (a hostile path must not turn the switch into an open redirect or a script URL).
pub(crate) fn with_lang(path: &str, lang: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 512
        && path.bytes().all(|b| {
            b.is_ascii_graphic() && b != b'\\' && b != b'"' && b != b'\'' && b != b'<' && b != b'>'
        });
    let path = if ok { path } else { "/" };
    format!("{path}?lang={lang}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_key_cannot_escape_the_path() {
        assert_eq!(patient("a/../b"), "/patient/a%2F..%2Fb");
        assert_eq!(patient(".."), "/patient/%2E%2E");
        assert_eq!(patient(""), "/patient/%00");
        assert_eq!(patient("\"><x"), "/patient/%22%3E%3Cx");
    }

    #[test]
    fn language_link_keeps_only_a_plain_local_path() {
        assert_eq!(with_lang("/patient/p1?x=1", "en"), "/patient/p1?lang=en");
        assert_eq!(with_lang("//evil.example/x", "en"), "/?lang=en");
        assert_eq!(with_lang("javascript:alert(1)", "en"), "/?lang=en");
        assert_eq!(with_lang("/a\\b", "nl"), "/?lang=nl");
    }
}
