//! Small inline SVG icons (constant strings, the only `PreEscaped` content on the pages).
//! They are decoration next to a word, never the only carrier of meaning: every icon is
//! `aria-hidden` and always accompanied by text. Colour comes from the CSS (`currentColor`).

use maud::{Markup, PreEscaped};

/// The icons in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Icon {
    /// Triangle with exclamation mark: warning, alert, stale data.
    Warning,
    /// Circle with question mark: not recorded / unknown.
    Unknown,
    /// Circle with check mark: explicitly none.
    NoneDocumented,
    /// Filled circle with exclamation mark: allergy present.
    Allergy,
    /// Circle with a slash: do not (resuscitate).
    Deny,
    /// Heart: resuscitate.
    Permit,
    /// Two opposing arrows: conflicting data.
    Conflict,
    /// Shield: isolation.
    Isolation,
    /// Arrow down to a line: fall risk.
    Fall,
    /// Printer.
    Print,
    /// Lock: login.
    Lock,
}

const OPEN: &str = r#"<svg class="ic" aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="20" height="20">"#;

fn body(icon: Icon) -> &'static str {
    match icon {
        Icon::Warning => {
            r##"<path d="M12 2 L23 21 H1 Z" fill="currentColor"/><path d="M11 9h2v6h-2zM11 17h2v2h-2z" fill="#fff"/>"##
        }
        Icon::Unknown => {
            r##"<circle cx="12" cy="12" r="10" fill="none" stroke="currentColor" stroke-width="2.2" stroke-dasharray="3 2"/><path d="M9 9.2a3 3 0 1 1 4.2 2.8c-.8.4-1.2.9-1.2 1.8V15" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/><circle cx="12" cy="18" r="1.3" fill="currentColor"/>"##
        }
        Icon::NoneDocumented => {
            r##"<circle cx="12" cy="12" r="10" fill="none" stroke="currentColor" stroke-width="2.2"/><path d="M7 12.5l3.2 3.2L17 9" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/>"##
        }
        Icon::Allergy => {
            r##"<circle cx="12" cy="12" r="11" fill="currentColor"/><path d="M10.8 5.5h2.4v8h-2.4zM10.8 16h2.4v2.5h-2.4z" fill="#fff"/>"##
        }
        Icon::Deny => {
            r##"<circle cx="12" cy="12" r="9.5" fill="none" stroke="currentColor" stroke-width="3"/><path d="M5.5 5.5l13 13" stroke="currentColor" stroke-width="3"/>"##
        }
        Icon::Permit => {
            r##"<path d="M12 21s-8.5-5.2-8.5-11A4.8 4.8 0 0 1 12 7a4.8 4.8 0 0 1 8.5 3c0 5.8-8.5 11-8.5 11z" fill="currentColor"/>"##
        }
        Icon::Conflict => {
            r##"<path d="M3 8h13l-3.5-3.5M21 16H8l3.5 3.5" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/>"##
        }
        Icon::Isolation => {
            r##"<path d="M12 2l8 3v6c0 5-3.4 9.4-8 11-4.6-1.6-8-6-8-11V5z" fill="currentColor"/><path d="M8 12h8" stroke="#fff" stroke-width="2.4"/>"##
        }
        Icon::Fall => {
            r##"<path d="M12 3v13M6.5 11l5.5 5.5 5.5-5.5M4 21h16" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/>"##
        }
        Icon::Print => {
            r##"<path d="M6 3h12v5H6zM4 9h16a1 1 0 0 1 1 1v7h-3v4H6v-4H3v-7a1 1 0 0 1 1-1z" fill="currentColor"/><path d="M8 15h8v4H8z" fill="#fff"/>"##
        }
        Icon::Lock => {
            r##"<path d="M7 10V7a5 5 0 0 1 10 0v3" fill="none" stroke="currentColor" stroke-width="2.4"/><rect x="4" y="10" width="16" height="12" rx="2" fill="currentColor"/>"##
        }
    }
}

/// The icon as inline SVG markup.
pub(crate) fn icon(i: Icon) -> Markup {
    let mut s = String::with_capacity(400);
    s.push_str(OPEN);
    s.push_str(body(i));
    s.push_str("</svg>");
    PreEscaped(s)
}
