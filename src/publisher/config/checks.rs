//! Syntax checks of single config values: a FHIR base URL, a FHIR id, a token, a remote
//! path inside the SFTP chroot, an `user@host[:port]` SFTP target. Each returns the message
//! the config error shows.

/// `http(s)://host[:port]/path` without query or fragment; returned without a trailing `/`.
pub(crate) fn check_base_url(s: &str) -> Result<String, String> {
    let uri: hyper::Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(format!("{s:?} must start with https:// (or http://)")),
    }
    if uri.authority().is_none() {
        return Err(format!("{s:?} has no host"));
    }
    if uri.query().is_some() || s.contains('#') {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?} contains spaces or control characters"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// A FHIR logical id: 1–64 of `A-Za-z0-9-.`.
pub(crate) fn check_fhir_id(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "{s:?} is not a FHIR id (1 to 64 letters, digits, '-' or '.')"
        ));
    }
    Ok(())
}

/// A token part (system or code) for a search: printable, bounded.
pub(super) fn check_token(s: &str) -> Result<(), String> {
    if s.len() > 512 || s.chars().any(|c| c.is_control() || c == '|' || c == ',') {
        return Err(format!(
            "{s:?} must be at most 512 characters without control characters, '|' or ','"
        ));
    }
    Ok(())
}

/// An absolute path inside the box's chroot, plain characters only (it goes into an sftp
/// batch file).
pub(super) fn check_remote_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/')
        || s.len() > 256
        || s.split('/').any(|c| c == "..")
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{s:?} must be an absolute path of letters, digits, '/', '-', '_' and '.'"
        ));
    }
    Ok(s.to_owned())
}

/// `user@host[:port]` (host: a name, IPv4 or `[IPv6]`).
pub(super) fn parse_sftp(s: &str) -> Result<(String, String, u16), String> {
    let bad = || format!("{s:?} must be USER@HOST or USER@HOST:PORT (e.g. inbox@10.1.2.30)");
    let (user, rest) = s.split_once('@').ok_or_else(bad)?;
    if user.is_empty()
        || user.len() > 32
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || user.starts_with('-')
    {
        return Err(bad());
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 22,
            None => return Err(bad()),
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        (h.to_owned(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
            None => (rest.to_owned(), 22),
        }
    };
    if host.is_empty()
        || host.len() > 253
        || host.starts_with('-')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
        || port == 0
    {
        return Err(bad());
    }
    Ok((user.to_owned(), host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sftp_targets_parse_ports_and_ipv6() {
        assert_eq!(
            parse_sftp("inbox@[fd00::1]:2222").unwrap(),
            ("inbox".into(), "fd00::1".into(), 2222)
        );
        assert_eq!(
            parse_sftp("inbox@box-a3.ward.local:2200").unwrap(),
            ("inbox".into(), "box-a3.ward.local".into(), 2200)
        );
        assert!(parse_sftp("inbox@").is_err());
        assert!(parse_sftp("inbox@h:0").is_err());
        assert!(parse_sftp("in box@h").is_err());
    }
}
