//! TLS for the web server: a rustls `ServerConfig` (ring provider, TLS 1.2 and 1.3, AEAD
//! suites with forward secrecy only, the server's cipher order, no client authentication,
//! ALPN http/1.1) built from the configured PEM certificate chain and
//! key, and swappable at run time. The integrator calls [`TlsReloader::reload`] on SIGHUP;
//! a reload that fails keeps the certificate in service and returns the error, so a bad
//! file dropped in place never takes the ward view down.
//!
//! Expiry: the leaf certificate's `notAfter` is read (a small DER walk, no X.509 crate) so
//! the daemon can warn in `/ready` and the journal [`EXPIRY_WARNING`] ahead and once it has
//! expired. An expired certificate is still served: during an EPD outage a nurse must still
//! get in, and refusing TLS would take the only copy of the data off the ward (see
//! docs/OPERATIONS.md, "Faults and what they look like").

use crate::config::TlsPaths;
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// How long before expiry the certificate is reported as expiring.
pub(crate) const EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_PEM_BYTES} bytes; is this the right file?")]
    TooLarge { path: PathBuf },
    #[error("{path}: no PEM certificate found ({message})")]
    NoCertificate { path: PathBuf, message: String },
    #[error("{path}: no PEM private key found ({message})")]
    NoKey { path: PathBuf, message: String },
    #[error("certificate {cert} and key {key} cannot be used together: {message}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// The TLS configuration in force, reloadable.
pub struct TlsReloader {
    paths: TlsPaths,
    current: RwLock<Arc<rustls::ServerConfig>>,
    /// The leaf certificate's notAfter (None when it cannot be read from the DER).
    not_after: RwLock<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReloader")
            .field("cert", &self.paths.cert)
            .field("key", &self.paths.key)
            .finish()
    }
}

impl TlsReloader {
    /// Loads the certificate chain and key named in the config.
    pub fn new(paths: &TlsPaths) -> Result<TlsReloader, TlsError> {
        let (cfg, not_after) = build(paths)?;
        Ok(TlsReloader {
            paths: paths.clone(),
            current: RwLock::new(Arc::new(cfg)),
            not_after: RwLock::new(not_after),
        })
    }

    /// Reads the files again. On error the configuration in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (cfg, not_after) = build(&self.paths)?;
        let cfg = Arc::new(cfg);
        match self.current.write() {
            Ok(mut c) => *c = cfg,
            Err(p) => *p.into_inner() = cfg,
        }
        match self.not_after.write() {
            Ok(mut n) => *n = not_after,
            Err(p) => *p.into_inner() = not_after,
        }
        Ok(())
    }

    /// When the certificate in force expires (its notAfter), if it could be read.
    pub(crate) fn not_after(&self) -> Option<DateTime<Utc>> {
        match self.not_after.read() {
            Ok(n) => *n,
            Err(p) => *p.into_inner(),
        }
    }

    /// Why the private key file is exposed, if it is: readable or writable by group or
    /// others (it should be 0600 or 0400, owned by the daemon's user or handed over as a
    /// systemd credential). The box keeps serving with it — an outage is when the view is
    /// needed — but says so as a standing problem until it is fixed.
    pub(crate) fn key_exposed(&self) -> Option<String> {
        key_exposed(&self.paths.key)
    }

    /// An acceptor with the configuration in force now (new connections use it).
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let cfg = match self.current.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        TlsAcceptor::from(cfg)
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let err = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    f.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// How soon the certificate expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// notAfter has passed.
    Expired,
    /// notAfter is within [`EXPIRY_WARNING`].
    Soon,
}

/// The expiry verdict for a certificate valid until `not_after`, with one line for IT
/// (None when it is fine or unknown).
pub(crate) fn expiry(
    not_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<(Expiry, String)> {
    let t = not_after?;
    let when = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if t <= now {
        Some((
            Expiry::Expired,
            format!(
                "the TLS certificate expired at {when}; still served so the ward can get in, \
                 but browsers warn (and refuse outright where HSTS was seen): put a new \
                 certificate on the box now (provisioning stick, OPERATIONS.md section 4)"
            ),
        ))
    } else if t - now <= EXPIRY_WARNING {
        Some((
            Expiry::Soon,
            format!(
                "the TLS certificate expires at {when} (in {} days): renew it before then \
                 (provisioning stick, OPERATIONS.md section 4)",
                (t - now).num_days()
            ),
        ))
    } else {
        None
    }
}

/// One DER element: (tag, content, rest). Definite lengths of up to 4 bytes only.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            let (&b, r) = rest.split_first()?;
            len = len.checked_mul(256)?.checked_add(usize::from(b))?;
            rest = r;
        }
        len
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as in RFC 5280.
fn der_time(tag: u8, content: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(content).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: u32 = digits.get(..2)?.parse().ok()?;
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{digits}")
        }
        (0x18, 14) => digits.to_owned(),
        _ => return None,
    };
    chrono::NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// The notAfter of a DER X.509 certificate.
pub(crate) fn certificate_not_after(cert: &[u8]) -> Option<DateTime<Utc>> {
    let (0x30, certificate, _) = der(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = der(certificate)? else {
        return None;
    };
    let (mut tag, _, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        // [0] version, then the serial number.
        (tag, _, rest) = der(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let (0x30, _signature, rest) = der(rest)? else {
        return None;
    };
    let (0x30, _issuer, rest) = der(rest)? else {
        return None;
    };
    let (0x30, validity, _) = der(rest)? else {
        return None;
    };
    let (_, _not_before, rest) = der(validity)?;
    let (tag, not_after, _) = der(rest)?;
    der_time(tag, not_after)
}

type Built = (rustls::ServerConfig, Option<DateTime<Utc>>);

fn build(paths: &TlsPaths) -> Result<Built, TlsError> {
    let cert_pem = read_bounded(&paths.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: paths.cert.clone(),
            message: e.to_string(),
        })?;
    let not_after = certs
        .first()
        .and_then(|c| certificate_not_after(c.as_ref()));
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: paths.cert.clone(),
            message: "the file holds no CERTIFICATE block".into(),
        });
    }
    let mut key_pem = read_bounded(&paths.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: paths.key.clone(),
        message: e.to_string(),
    });
    zeroize::Zeroize::zeroize(&mut key_pem);
    let key = key?;
    let config_err = |message: String| TlsError::Config {
        cert: paths.cert.clone(),
        key: paths.key.clone(),
        message,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| config_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| config_err(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The server's order (rustls': AES-256-GCM, ChaCha20, AES-128-GCM, all AEAD with
    // forward secrecy) decides, not the client's: testssl.sh rates "no server cipher
    // order" HIGH, and a client cannot talk the box down to its weakest suite.
    cfg.ignore_client_order = true;
    Ok((cfg, not_after))
}

/// See [`TlsReloader::key_exposed`].
pub(crate) fn key_exposed(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the TLS private key {} is mode {mode:04o}: readable by other users of the box, \
             who could impersonate it to the ward — fix: chmod 600 {} (or hand it over as a \
             systemd credential)",
            path.display(),
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cert_until(y: i32, m: u8, d: u8) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.not_after = rcgen::date_time_ymd(y, m, d);
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn tls_key_exposure_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("tls.key");
        std::fs::write(&key, b"-----BEGIN PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(key_exposed(&key), None);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let m = key_exposed(&key).unwrap();
        assert!(m.contains("0644") && m.contains("chmod 600"), "{m}");
    }

    #[test]
    fn reads_not_after_in_utctime_and_generalizedtime() {
        assert_eq!(
            certificate_not_after(&cert_until(2027, 3, 4)),
            Some(Utc.with_ymd_and_hms(2027, 3, 4, 0, 0, 0).unwrap())
        );
        // After 2049 RFC 5280 requires GeneralizedTime.
        assert_eq!(
            certificate_not_after(&cert_until(2061, 1, 2)),
            Some(Utc.with_ymd_and_hms(2061, 1, 2, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn garbage_and_truncated_certificates_give_no_date() {
        let c = cert_until(2027, 3, 4);
        for n in [0, 1, 5, c.len() / 3] {
            assert_eq!(certificate_not_after(c.get(..n).unwrap()), None);
        }
        assert_eq!(certificate_not_after(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn expired_and_expiring_certificates_are_reported_valid_ones_are_not() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let (e, m) = expiry(Some(now - chrono::TimeDelta::seconds(1)), now).unwrap();
        assert_eq!(e, Expiry::Expired);
        assert!(m.contains("expired at 2026-11-22T09:59:59Z"), "{m}");
        let (e, m) = expiry(Some(now + chrono::TimeDelta::days(10)), now).unwrap();
        assert_eq!(e, Expiry::Soon);
        assert!(m.contains("in 10 days"), "{m}");
        assert_eq!(expiry(Some(now + chrono::TimeDelta::days(31)), now), None);
        assert_eq!(expiry(None, now), None);
    }
}
