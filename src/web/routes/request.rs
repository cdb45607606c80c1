//! HTTP as the routes see it: the bounded request ([`Req`]), the response before the
//! security headers ([`Resp`]), query and form parsing, patient keys in URLs, and the
//! `Origin`/`Sec-Fetch-Site` check on POSTs. No state, no pages.

use crate::config::Language;
use crate::web::headers::Caching;
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use std::collections::HashMap;
use std::net::IpAddr;

/// Largest request body accepted (forms only).
pub const MAX_BODY: usize = 16 * 1024;

/// Longest query string accepted.
pub const MAX_QUERY: usize = 2048;

/// Longest search text used.
pub const MAX_SEARCH: usize = crate::record::summary::SEARCH_MAX_CHARS;

/// Longest patient key accepted in a URL.
pub const MAX_KEY: usize = 128;

/// Default number of days on a MAR print.
pub const MAR_DAYS: u32 = 3;

/// Most days on one MAR print.
pub const MAR_DAYS_MAX: u32 = 7;

/// A request as the routes see it (the body already read and bounded).
#[derive(Debug)]
pub struct Req {
    /// The HTTP method.
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    /// The query string without `?`, still encoded.
    pub query: Option<String>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The client's address (the lockout and the access log use it).
    pub peer: IpAddr,
    /// The body, at most [`MAX_BODY`] bytes.
    pub body: Bytes,
}

/// A response before the security headers are added.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: StatusCode,
    /// Headers the route sets (content type, location ...).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Whether a browser may keep it (`no-store` for every page and answer with data or state).
    pub caching: Caching,
}

impl Resp {
    pub(super) fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Resp {
            status,
            headers,
            body: body.into(),
            caching: Caching::NoStore,
        }
    }

    /// A plain-text answer.
    pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
        Resp::new(status, "text/plain; charset=utf-8", body)
    }

    pub(super) fn redirect(location: &'static str) -> Resp {
        let mut r = Resp::text(StatusCode::SEE_OTHER, "");
        r.headers
            .insert(header::LOCATION, HeaderValue::from_static(location));
        r
    }

    /// Adds `Retry-After` (seconds).
    pub(super) fn retry_after(mut self, secs: u64) -> Resp {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            self.headers.insert(header::RETRY_AFTER, v);
        }
        self
    }

    pub(super) fn cookie(mut self, value: &str) -> Resp {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(header::SET_COOKIE, v);
        }
        self
    }
}

/// Short UI messages in both languages.
pub(super) fn msg(lang: Language, nl: &'static str, en: &'static str) -> &'static str {
    match lang {
        Language::Nl => nl,
        Language::En => en,
    }
}

/// The parsed query string (first value of each name; bounded).
pub(super) fn query_params(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = q {
        for (k, v) in form_urlencoded::parse(q.as_bytes()).take(16) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    out
}

/// A parsed form body. Duplicate fields are refused (no parameter pollution).
pub(super) fn parse_form(req: &Req) -> Result<HashMap<String, String>, StatusCode> {
    let ct = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let mut out = HashMap::new();
    for (i, (k, v)) in form_urlencoded::parse(&req.body).enumerate() {
        if i >= 16 {
            return Err(StatusCode::BAD_REQUEST);
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(StatusCode::BAD_REQUEST);
        }
    }
    Ok(out)
}

/// Decodes a percent-encoded patient key from one path segment. None when it is not a
/// single segment of valid, bounded UTF-8 without control characters.
pub(super) fn decode_key(seg: &str) -> Option<String> {
    if seg.is_empty() || seg.len() > MAX_KEY * 3 || seg.contains('/') {
        return None;
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    let k = String::from_utf8(out).ok()?;
    valid_key(&k).then_some(k)
}

/// Whether a (decoded) patient key is plausible: bounded, no control characters.
pub(super) fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY && !k.chars().any(char::is_control)
}

/// Refuses cross-site POSTs by the headers browsers send.
pub(super) fn check_origin(req: &Req) -> Result<(), &'static str> {
    let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused");
    }
    // With `Referrer-Policy: no-referrer` browsers send `Origin: null` on our own form
    // posts; that says nothing either way (the CSRF token still decides).
    if let Some(origin) = h("origin").filter(|o| *o != "null") {
        let host = h("host").unwrap_or("");
        let same = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host));
        if !same {
            return Err("cross-origin request refused");
        }
    }
    Ok(())
}
