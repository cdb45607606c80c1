//! Cookies: the session and pre-login cookie names (with `__Host-` over TLS), reading a
//! named cookie from the request, and the Set-Cookie values that set and clear one.

/// Name of the session cookie over plain HTTP (demo and tests on loopback).
pub(crate) const SESSION_COOKIE: &str = "noodepd_session";
/// Name of the pre-login cookie over plain HTTP.
pub(crate) const PRE_COOKIE: &str = "noodepd_pre";

/// The session cookie's name: with the `__Host-` prefix over TLS (the browser then refuses
/// it unless it is Secure, for this host only and Path=/), plain over HTTP (where browsers
/// would drop a `__Host-` cookie).
pub(crate) fn session_cookie(tls: bool) -> &'static str {
    if tls {
        "__Host-noodepd_session"
    } else {
        SESSION_COOKIE
    }
}

/// The pre-login cookie's name (see [`session_cookie`]).
pub(crate) fn pre_cookie(tls: bool) -> &'static str {
    if tls {
        "__Host-noodepd_pre"
    } else {
        PRE_COOKIE
    }
}

/// The value of cookie `name` in the request's Cookie headers (first occurrence).
pub(crate) fn cookie<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .take(64)
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A Set-Cookie value: HttpOnly, SameSite=Strict, Path=/, Secure over TLS.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        s.push_str(&format!("; Max-Age={a}"));
    }
    if secure {
        s.push_str("; Secure");
    }
    s
}

/// A Set-Cookie value that deletes the cookie.
pub(crate) fn clear_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", Some(0), secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing_takes_the_named_cookie() {
        let mut h = hyper::HeaderMap::new();
        h.append("cookie", "a=1; noodepd_session=abc".parse().unwrap());
        h.append("cookie", "lang=en".parse().unwrap());
        assert_eq!(cookie(&h, "noodepd_session"), Some("abc"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "x"), None);
    }

    #[test]
    fn host_prefixed_cookie_names_over_tls_only() {
        assert_eq!(session_cookie(true), "__Host-noodepd_session");
        assert_eq!(session_cookie(false), "noodepd_session");
        let c = set_cookie(session_cookie(true), "v", None, true);
        assert!(c.contains("Path=/") && c.contains("Secure") && !c.contains("Domain"));
    }
}
