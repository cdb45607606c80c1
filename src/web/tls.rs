//! TLS for the web server: a rustls `ServerConfig` (ring provider, TLS 1.2 and 1.3, AEAD
//! suites with forward secrecy only, the server's cipher order, no client authentication,
//! ALPN http/1.1) built from the configured PEM certificate chain and
//! key, and swappable at run time. The integrator calls [`TlsReloader::reload`] on SIGHUP;
//! a reload that fails keeps the certificate in service and returns the error, so a bad
//! file dropped in place never takes the ward view down.

use crate::config::TlsPaths;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

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
        let cfg = build(paths)?;
        Ok(TlsReloader {
            paths: paths.clone(),
            current: RwLock::new(Arc::new(cfg)),
        })
    }

    /// Reads the files again. On error the configuration in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let cfg = Arc::new(build(&self.paths)?);
        match self.current.write() {
            Ok(mut c) => *c = cfg,
            Err(p) => *p.into_inner() = cfg,
        }
        Ok(())
    }

    /// An acceptor with the configuration in force now (new connections use it).
    pub fn acceptor(&self) -> TlsAcceptor {
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

fn build(paths: &TlsPaths) -> Result<rustls::ServerConfig, TlsError> {
    let cert_pem = read_bounded(&paths.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: paths.cert.clone(),
            message: e.to_string(),
        })?;
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
    Ok(cfg)
}
