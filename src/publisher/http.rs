//! One HTTP/1.1 exchange over rustls (hyper-util's pooled client): the transport under
//! [`super::auth`] and [`super::client`], with the source's CA, a timeout per exchange
//! (headers and body together) and a cap on the response size. No retries, no credentials:
//! those are the client's and auth's jobs, which both sit above this module.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{Method, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// Errors of one HTTP exchange (no retries at this level).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("invalid URL")]
    BadUrl,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the response failed: {0}")]
    Body(String),
}

/// One HTTP response, body read in full (within the cap).
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One HTTP/1.1 exchange at a time, with a timeout and a size cap (no retries, no auth).
pub(crate) struct Http {
    client: HttpsClient,
    timeout: Duration,
}

/// Builds the rustls client config: the CA file's certificates as the only roots.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let path = ca_file.unwrap_or(std::path::Path::new(DEFAULT_CA_FILE));
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificates", path.display()));
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// The CA bundle used for https when a source names no `ca_file` (Debian's).
pub(crate) const DEFAULT_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Http {
    /// A client for `base_url` (the CA file is needed only for https).
    pub(crate) fn new(
        base_url: &str,
        ca_file: Option<&std::path::Path>,
        timeout: Duration,
    ) -> Result<Http, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let connector = if base_url.starts_with("https://") {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config(ca_file)?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        } else {
            // Plain http (a test EPD on loopback): no TLS roots needed.
            let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(cfg)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Http { client, timeout })
    }

    /// Sends one request and reads the whole response (at most `max` bytes).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        max: u64,
    ) -> Result<Response, HttpError> {
        let uri: Uri = url.parse().map_err(|_| HttpError::BadUrl)?;
        let mut req = hyper::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req = req.header(
            "user-agent",
            concat!("noodepd-publisher/", env!("CARGO_PKG_VERSION")),
        );
        let req = req.body(Full::new(body)).map_err(|_| HttpError::BadUrl)?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| HttpError::Connect(error_chain(&e)))?;
            let (parts, body) = resp.into_parts();
            if let Some(len) = parts
                .headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && len > max
            {
                return Err(HttpError::TooLarge(max));
            }
            let limit = usize::try_from(max).unwrap_or(usize::MAX);
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        HttpError::TooLarge(max)
                    } else {
                        HttpError::Body(e.to_string())
                    }
                })?
                .to_bytes();
            Ok(Response {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout(self.timeout))?
    }
}

/// An error and its causes on one line (hyper's errors nest the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
