//! Security headers, set on every response the server produces (pages, errors, redirects,
//! /health, /metrics and the stylesheet alike): a strict Content-Security-Policy with no
//! script but our own `/static/age.js` (same origin, no inline script), no framing, no
//! referrer, no sniffing, no caching of anything but the static assets
//! (`Cache-Control: no-store` plus `Pragma: no-cache` and `Expires: 0` for HTTP/1.0 caches
//! and old browsers), and HSTS when the connection is TLS.
//!
//! hyper answers a request it cannot parse (400) or whose head is too large (431) itself,
//! before any of our code runs, so those answers carry none of these headers; they have no
//! body and close the connection (see docs/THREAT-MODEL.md).

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

/// The Content-Security-Policy: nothing but our own stylesheet and script file (the live
/// data age; no inline script), inline images, and forms posting to ourselves.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Features no page of ours uses.
pub(crate) const PERMISSIONS_POLICY: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()";
/// HSTS for one year.
pub(crate) const HSTS: &str = "max-age=31536000";

/// Whether a response may be cached by the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// `no-store` (every page, every answer with data or state).
    NoStore,
    /// A static asset without patient data (the stylesheet).
    Public,
}

/// Sets every security header on `headers` (replacing any value already there).
pub(crate) fn apply(headers: &mut HeaderMap, tls: bool, caching: Caching) {
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(headers, "permissions-policy", PERMISSIONS_POLICY);
    match caching {
        Caching::NoStore => {
            set(headers, "cache-control", "no-store");
            set(headers, "pragma", "no-cache");
            set(headers, "expires", "0");
        }
        Caching::Public => {
            set(headers, "cache-control", "public, max-age=3600");
            headers.remove("pragma");
            headers.remove("expires");
        }
    }
    if tls {
        set(headers, "strict-transport-security", HSTS);
    } else {
        headers.remove("strict-transport-security");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_only_over_tls_and_no_store_by_default() {
        let mut h = HeaderMap::new();
        apply(&mut h, false, Caching::NoStore);
        assert!(h.get("strict-transport-security").is_none());
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["pragma"], "no-cache");
        assert_eq!(h["expires"], "0");
        assert_eq!(h["content-security-policy"], CSP);
        let mut h = HeaderMap::new();
        apply(&mut h, true, Caching::Public);
        assert_eq!(h["strict-transport-security"], HSTS);
        assert_eq!(h["cache-control"], "public, max-age=3600");
    }
}
