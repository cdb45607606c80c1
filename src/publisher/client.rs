//! The FHIR client, one per source, over the transport of [`super::http`] (HTTP/1.1 over
//! rustls with the source's CA, a timeout per request, a cap on response size): bounded
//! concurrency, retries with exponential backoff on connection errors,
//! timeouts, 429 and 5xx (honouring `Retry-After`), and a new token after a 401.
//!
//! Only URLs on the source's own origin are fetched with its credentials: a `next` link or
//! a Bulk Data file elsewhere is refused, so a token never travels to another host.
//! Errors name what was being read (`"MedicationRequest search"`), never the URL's query
//! (it holds patient ids) and never a response body (it may hold patient data).

use super::auth::{Auth, AuthError};
use super::config::SourceConfig;
use super::http::{Http, HttpError, Response};
use bytes::Bytes;
use hyper::{Method, Uri};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Errors reading from the EPD, after retries.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{what}: {source} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Http {
        what: String,
        attempts: u32,
        source: HttpError,
    },
    #[error("{what}: the EPD answered HTTP {status}{note}")]
    Status {
        what: String,
        status: u16,
        note: String,
    },
    #[error("{what}: not found (HTTP {status})")]
    NotFound { what: String, status: u16 },
    #[error("{what}: the answer is not FHIR JSON ({detail})")]
    BadJson { what: String, detail: String },
    #[error(
        "{what}: the EPD pointed to {origin}, not its own address; not followed (credentials \
         stay with the configured server)"
    )]
    Foreign { what: String, origin: String },
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
}

impl FetchError {
    /// A short stable code for metrics and the status page.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            FetchError::Http {
                source: HttpError::Timeout(_),
                ..
            } => "timeout",
            FetchError::Http {
                source: HttpError::TooLarge(_),
                ..
            } => "too_large",
            FetchError::Http { .. } => "unreachable",
            FetchError::Status { .. } => "http_error",
            FetchError::NotFound { .. } => "not_found",
            FetchError::BadJson { .. } => "bad_json",
            FetchError::Foreign { .. } => "foreign_link",
            FetchError::Auth(_) => "auth_failed",
        }
    }
}

tokio::task_local! {
    /// Requests of the ward being read (set around one ward's read; see [`counted`]).
    static WARD_REQUESTS: Arc<AtomicU64>;
}

/// Runs `fut` counting the requests it (and the tasks it spawns with [`spawn_counted`])
/// makes; returns its output and the count.
pub(crate) async fn counted<F: std::future::Future>(fut: F) -> (F::Output, u64) {
    let c = Arc::new(AtomicU64::new(0));
    let out = WARD_REQUESTS.scope(c.clone(), fut).await;
    (out, c.load(Ordering::Relaxed))
}

/// Spawns `fut` on `set`, counting its requests with the caller's counter.
pub(crate) fn spawn_counted<T, F>(set: &mut tokio::task::JoinSet<T>, fut: F)
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    match WARD_REQUESTS.try_with(Arc::clone) {
        Ok(c) => set.spawn(WARD_REQUESTS.scope(c, fut)),
        Err(_) => set.spawn(fut),
    };
}

/// Counts requests (for metrics and the benchmark's requests per patient).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

/// The client of one source: its base, auth, retry policy and concurrency limit.
pub(crate) struct FhirClient {
    pub base: String,
    origin: String,
    http: Http,
    auth: Auth,
    sem: Semaphore,
    attempts: u32,
    retry_base: Duration,
    retry_max: Duration,
    max_response: u64,
    pub counters: Counters,
}

/// `scheme://authority` of an absolute URL, lower-cased.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(format!(
        "{}://{}",
        uri.scheme_str()?.to_ascii_lowercase(),
        uri.authority()?.as_str().to_ascii_lowercase()
    ))
}

/// Backoff before retry `n` (0-based): base × 2^n, at most `max`, plus up to 25 % jitter.
fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    use rand::Rng as _;
    let exp = base.saturating_mul(1u32 << n.min(16)).min(max);
    let jitter_ms = u64::try_from(exp.as_millis() / 4).unwrap_or(0);
    let j = if jitter_ms > 0 {
        rand_core::OsRng.gen_range(0..=jitter_ms)
    } else {
        0
    };
    exp + Duration::from_millis(j)
}

/// The wait a `Retry-After` header asks for (seconds or an HTTP date), at most `max`.
pub(crate) fn retry_after(v: Option<&str>, max: Duration) -> Option<Duration> {
    let v = v?.trim();
    let d = if let Ok(s) = v.parse::<u64>() {
        Duration::from_secs(s)
    } else {
        let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        (t.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(d.min(max))
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

impl FhirClient {
    /// Requests made so far.
    #[cfg(test)]
    pub(crate) fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// The client of `source`: loads its CA and credentials now.
    pub(crate) fn new(source: &SourceConfig) -> Result<FhirClient, String> {
        let http = Http::new(&source.base_url, source.ca_file.as_deref(), source.timeout)
            .map_err(|e| format!("source {}: TLS: {e}", source.name))?;
        let auth = Auth::new(&source.auth).map_err(|e| format!("source {}: {e}", source.name))?;
        let origin = origin_of(&source.base_url)
            .ok_or_else(|| format!("source {}: base_url has no origin", source.name))?;
        Ok(FhirClient {
            base: source.base_url.clone(),
            origin,
            http,
            auth,
            sem: Semaphore::new(source.concurrency),
            attempts: source.attempts,
            retry_base: source.retry_base,
            retry_max: source.retry_max,
            max_response: source.max_response,
            counters: Counters::default(),
        })
    }

    /// The absolute URL for a path relative to the base (`Encounter?status=…`), or an
    /// absolute URL checked to be on the source's origin.
    pub(crate) fn url(&self, path_or_url: &str, what: &str) -> Result<String, FetchError> {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            let origin = origin_of(path_or_url).unwrap_or_else(|| "an invalid URL".into());
            if origin != self.origin {
                return Err(FetchError::Foreign {
                    what: what.to_owned(),
                    origin,
                });
            }
            Ok(path_or_url.to_owned())
        } else {
            Ok(format!(
                "{}/{}",
                self.base,
                path_or_url.trim_start_matches('/')
            ))
        }
    }

    /// One request with auth and retries; returns the final response whatever its status
    /// (callers decide), except that retryable statuses are retried first.
    pub(crate) async fn request(
        &self,
        method: Method,
        path_or_url: &str,
        extra_headers: &[(&str, &str)],
        what: &str,
    ) -> Result<Response, FetchError> {
        let url = self.url(path_or_url, what)?;
        let mut reauth_done = false;
        let mut n = 0u32;
        loop {
            let auth = self.auth.header(&self.http, &self.base).await?;
            let mut headers: Vec<(&str, &str)> = extra_headers.to_vec();
            if let Some(a) = auth.as_ref() {
                headers.push(("authorization", a.as_str()));
            }
            let permit = self.sem.acquire().await;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let _ = WARD_REQUESTS.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
            let result = self
                .http
                .send(
                    method.clone(),
                    &url,
                    &headers,
                    Bytes::new(),
                    self.max_response,
                )
                .await;
            drop(permit);
            n += 1;
            let wait = match &result {
                Ok(r) if r.status == 401 && auth.is_some() && !reauth_done => {
                    // A token revoked or expired early: one fresh token, then give up.
                    self.auth.invalidate().await;
                    reauth_done = true;
                    n -= 1;
                    Some(Duration::ZERO)
                }
                Ok(r) if retryable(r.status) => Some(
                    retry_after(r.header("retry-after"), self.retry_max)
                        .unwrap_or_else(|| backoff(self.retry_base, self.retry_max, n - 1)),
                ),
                Ok(_) => None,
                Err(HttpError::TooLarge(_) | HttpError::BadUrl) => None,
                Err(_) => Some(backoff(self.retry_base, self.retry_max, n - 1)),
            };
            match (wait, result) {
                (Some(w), result) if n < self.attempts => {
                    if let Ok(r) = &result {
                        log::debug!("{what}: HTTP {}, retrying in {w:?}", r.status);
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(w).await;
                }
                (_, Ok(r)) => return Ok(r),
                (_, Err(source)) => {
                    return Err(FetchError::Http {
                        what: what.to_owned(),
                        attempts: n,
                        source,
                    });
                }
            }
        }
    }

    /// GET of FHIR JSON: 200 → the parsed body; 404/410 → `NotFound`; else `Status`.
    pub(crate) async fn get_json(
        &self,
        path_or_url: &str,
        what: &str,
    ) -> Result<serde_json::Value, FetchError> {
        let r = self
            .request(
                Method::GET,
                path_or_url,
                &[
                    ("accept", "application/fhir+json"),
                    // Unknown search parameters are errors, not silently dropped filters.
                    ("prefer", "handling=strict"),
                ],
                what,
            )
            .await?;
        match r.status {
            200 => serde_json::from_slice(&r.body).map_err(|e| FetchError::BadJson {
                what: what.to_owned(),
                detail: crate::jsonerr::describe(&e),
            }),
            s @ (404 | 410) => Err(FetchError::NotFound {
                what: what.to_owned(),
                status: s,
            }),
            s => Err(status_error(what, s, &r.body)),
        }
    }
}

/// `Status` with the OperationOutcome's issue code (a fixed word) when the server sent one.
pub(crate) fn status_error(what: &str, status: u16, body: &[u8]) -> FetchError {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("issue")?
                .as_array()?
                .first()?
                .get("code")?
                .as_str()
                .map(str::to_owned)
        })
        .filter(|c| c.len() <= 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    let note = match (status, code) {
        (_, Some(c)) if c == "not-supported" => " (not-supported: the EPD does not offer this \
                                                  search; leave the resource type out of the \
                                                  source's resources if it holds none)"
            .to_owned(),
        (_, Some(c)) => format!(" ({c})"),
        (401 | 403, None) => " (not authorised: check the scopes granted to the client)".into(),
        _ => String::new(),
    };
    FetchError::Status {
        what: what.to_owned(),
        status,
        note,
    }
}

/// A canned HTTP/1.1 server for the publisher's unit tests: answers each connection with
/// the next response of its script (then 404s) and records the request lines.
#[cfg(test)]
pub(crate) mod mock {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    pub(crate) struct Server {
        pub base: String,
        pub requests: Arc<Mutex<Vec<String>>>,
        script: Arc<Mutex<std::collections::VecDeque<String>>>,
        routes: Arc<Mutex<Vec<(String, String)>>>,
    }

    impl Server {
        /// Answers `GET {path}` (exactly, before any query) with `response`, every time.
        pub(crate) fn route(&self, path: &str, response: String) {
            self.routes
                .lock()
                .unwrap()
                .push((path.to_owned(), response));
        }

        /// Adds a response to the script (e.g. one naming the server's own base).
        pub(crate) fn push(&self, response: String) {
            self.script.lock().unwrap().push_back(response);
        }
    }

    /// A full response with a JSON body.
    pub(crate) fn json(status: u16, extra_headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/fhir+json\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    pub(crate) async fn start(script: Vec<String>) -> Server {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/fhir", l.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(
            script
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        ));
        let routes: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (req, sc, rt) = (requests.clone(), script.clone(), routes.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut c, _)) = l.accept().await else {
                    return;
                };
                let (req, script, routes) = (req.clone(), sc.clone(), rt.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut b = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&b[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&buf)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    req.lock().unwrap().push(line.clone());
                    let path = line.split(' ').nth(1).unwrap_or_default();
                    let path = path.split('?').next().unwrap_or_default();
                    let routed = routes
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|(p, _)| p == path)
                        .map(|(_, r)| r.clone());
                    let resp = routed.unwrap_or_else(|| {
                        script
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or_else(|| json(404, "", "{}"))
                    });
                    let _ = c.write_all(resp.as_bytes()).await;
                });
            }
        });
        Server {
            base,
            requests,
            script,
            routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://EPD.example.org/fhir/Patient?x=1").as_deref(),
            Some("https://epd.example.org")
        );
        assert_ne!(
            origin_of("https://epd.example.org:8443/fhir"),
            origin_of("https://epd.example.org/fhir")
        );
        assert_eq!(origin_of("/fhir"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert!(backoff(b, m, 0) >= b && backoff(b, m, 0) <= b * 5 / 4);
        assert!(backoff(b, m, 2) >= b * 4);
        assert!(backoff(b, m, 10) <= m * 5 / 4);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let max = Duration::from_secs(60);
        assert_eq!(retry_after(Some("3"), max), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("9999"), max), Some(max));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), max),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(Some("soon"), max), None);
        assert_eq!(retry_after(None, max), None);
    }

    fn source(base: &str) -> SourceConfig {
        let text = format!(
            "[[source]]\nname = \"epd\"\nbase_url = \"{base}\"\nattempts = 3\nretry_base_ms = 10\n\
             retry_max_seconds = 1\ntimeout_seconds = 5\n\
             [[ward]]\nid = \"A3\"\nlocation = \"w\"\n[[ward.box]]\nid = \"b\"\nkey = \"k\"\ndir = \"/tmp\"\n"
        );
        super::super::config::PublisherConfig::from_toml(&text, std::path::Path::new("p.toml"))
            .unwrap()
            .sources
            .remove(0)
    }

    #[tokio::test]
    async fn retries_429_and_503_honouring_retry_after_then_reads_the_answer() {
        let srv = mock::start(vec![
            mock::json(429, "Retry-After: 0\r\n", "{}"),
            mock::json(503, "", "{}"),
            mock::json(200, "", r#"{"resourceType": "Patient", "id": "p"}"#),
        ])
        .await;
        let c = FhirClient::new(&source(&srv.base)).unwrap();
        let v = c.get_json("Patient/p", "Patient").await.unwrap();
        assert_eq!(v["id"], "p");
        assert_eq!(c.requests(), 3);
        assert_eq!(srv.requests.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_configured_attempts_with_the_status() {
        let srv = mock::start(vec![mock::json(500, "", "{}"); 5]).await;
        let c = FhirClient::new(&source(&srv.base)).unwrap();
        let e = c.get_json("Patient/p", "Patient read").await.unwrap_err();
        assert!(matches!(e, FetchError::Status { status: 500, .. }), "{e}");
        assert_eq!(srv.requests.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn never_sends_a_request_to_another_origin() {
        let elsewhere = mock::start(vec![]).await;
        let srv = mock::start(vec![]).await;
        let c = FhirClient::new(&source(&srv.base)).unwrap();
        let e = c
            .get_json(&format!("{}/Patient?page=2", elsewhere.base), "next page")
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Foreign { .. }), "{e}");
        assert!(elsewhere.requests.lock().unwrap().is_empty());
    }

    /// A TLS server on loopback with a self-signed certificate for 127.0.0.1; answers one
    /// FHIR resource per connection. Returns its base URL and the certificate (PEM).
    async fn tls_server() -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(
            rustls_pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()),
        );
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://127.0.0.1:{}/fhir", l.local_addr().unwrap().port());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while let Ok((c, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut t) = acceptor.accept(c).await else {
                        return;
                    };
                    let mut b = [0u8; 4096];
                    let _ = t.read(&mut b).await;
                    let _ = t
                        .write_all(
                            mock::json(200, "", r#"{"resourceType": "Patient", "id": "p"}"#)
                                .as_bytes(),
                        )
                        .await;
                    let _ = t.shutdown().await;
                });
            }
        });
        (base, ck.cert.pem())
    }

    #[tokio::test]
    async fn https_trusts_the_configured_ca_and_nothing_else() {
        let (base, pem) = tls_server().await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("epd-ca.pem");
        std::fs::write(&ca, &pem).unwrap();
        let mut src = source(&base);
        src.ca_file = Some(ca);
        let c = FhirClient::new(&src).unwrap();
        assert_eq!(c.get_json("Patient/p", "Patient").await.unwrap()["id"], "p");

        let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let wrong = dir.path().join("other-ca.pem");
        std::fs::write(&wrong, other.cert.pem()).unwrap();
        src.ca_file = Some(wrong);
        src.attempts = 1;
        let c = FhirClient::new(&src).unwrap();
        let e = c.get_json("Patient/p", "Patient").await.unwrap_err();
        assert!(matches!(e, FetchError::Http { .. }), "{e}");
        assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    }

    #[test]
    fn status_errors_carry_only_the_issue_code() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"Unknown search parameter 'patient' for Patient/123"}]}"#;
        let e = status_error("DeviceUseStatement search", 400, body).to_string();
        assert!(e.contains("not-supported"), "{e}");
        assert!(!e.contains("123"), "{e}");
    }
}
