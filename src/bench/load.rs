//! The load generator for P3: `clients` tokio tasks, each with its own keep-alive HTTP/1.1
//! connection, sending the same GET back to back for a fixed duration, recording every
//! request's latency. Runs on the caller's runtime (the bench uses a single-threaded one, so
//! the generator takes at most one core and leaves the other to the server under test).
//!
//! Only complete `200` responses count as served; anything else is counted as an error and
//! reported, never mixed into the latency figures.

use super::http::{Conn, HttpError};
use super::stats::percentile_sorted;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One load cell.
#[derive(Debug, Clone)]
pub(crate) struct LoadSpec {
    pub addr: SocketAddr,
    /// The request bytes (a GET with the session cookie).
    pub request: Arc<Vec<u8>>,
    /// Concurrent clients (connections).
    pub clients: usize,
    pub duration: Duration,
}

/// What a cell measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoadResult {
    /// Complete 200 responses.
    pub ok: u64,
    /// Non-200 responses and failed requests.
    pub errors: u64,
    /// The first error seen, for the note.
    pub first_error: Option<String>,
    /// Wall time of the cell.
    pub seconds: f64,
    /// Response body bytes received (200s).
    pub body_bytes: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl LoadResult {
    /// Served requests per second.
    pub(crate) fn rps(&self) -> Option<f64> {
        (self.seconds > 0.0 && self.ok > 0).then(|| self.ok as f64 / self.seconds)
    }
}

struct TaskOut {
    lat_us: Vec<u32>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    bytes: u64,
}

/// Consecutive failures after which a client gives up (the server is gone).
const MAX_CONSECUTIVE_FAILURES: u32 = 50;

async fn client(spec: LoadSpec, mut conn: Option<Conn>, deadline: Instant) -> TaskOut {
    let mut out = TaskOut {
        lat_us: Vec::with_capacity(4096),
        ok: 0,
        errors: 0,
        first_error: None,
        bytes: 0,
    };
    let mut failures = 0u32;
    while Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(spec.addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| e.to_string());
                    failures += 1;
                    if failures > MAX_CONSECUTIVE_FAILURES {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        let t0 = Instant::now();
        let r: Result<(u16, usize), HttpError> = c.request_status(&spec.request).await;
        let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
        match r {
            Ok((200, len)) => {
                failures = 0;
                out.ok += 1;
                out.bytes += len as u64;
                out.lat_us.push(us);
            }
            Ok((status, _)) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("HTTP status {status}"));
                failures += 1;
            }
            Err(e) => {
                // The connection is unusable; reconnect on the next round.
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
                conn = None;
                failures += 1;
            }
        }
        if failures > MAX_CONSECUTIVE_FAILURES {
            break;
        }
    }
    out
}

/// Runs one cell: connects all clients first, then runs them for `spec.duration`.
pub(crate) async fn run(spec: &LoadSpec) -> LoadResult {
    let mut conns = Vec::with_capacity(spec.clients);
    for _ in 0..spec.clients.max(1) {
        conns.push(Conn::connect(spec.addr).await.ok());
    }
    let start = Instant::now();
    let deadline = start + spec.duration;
    let mut tasks = Vec::with_capacity(conns.len());
    for c in conns {
        tasks.push(tokio::spawn(client(spec.clone(), c, deadline)));
    }
    let mut lat: Vec<u32> = Vec::new();
    let mut res = LoadResult {
        ok: 0,
        errors: 0,
        first_error: None,
        seconds: 0.0,
        body_bytes: 0,
        p50_ms: None,
        p99_ms: None,
    };
    for t in tasks {
        match t.await {
            Ok(o) => {
                res.ok += o.ok;
                res.errors += o.errors;
                res.body_bytes += o.bytes;
                if res.first_error.is_none() {
                    res.first_error = o.first_error;
                }
                lat.extend(o.lat_us);
            }
            Err(e) => {
                res.errors += 1;
                res.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    res.seconds = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    res.p50_ms = percentile_sorted(&lat, 50.0).map(|us| f64::from(us) / 1000.0);
    res.p99_ms = percentile_sorted(&lat, 99.0).map(|us| f64::from(us) / 1000.0);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_ok_and_error_responses_separately() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut n = 0u32;
                    while let Ok(k) = s.read(&mut buf).await {
                        if k == 0 {
                            break;
                        }
                        n += 1;
                        let status = if n.is_multiple_of(2) {
                            "404 Not Found"
                        } else {
                            "200 OK"
                        };
                        let resp = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let spec = LoadSpec {
            addr,
            request: Arc::new(super::super::http::get("/", "x", "")),
            clients: 2,
            duration: Duration::from_millis(200),
        };
        let r = run(&spec).await;
        assert!(r.ok > 0, "{r:?}");
        assert!(r.errors > 0 && r.errors.abs_diff(r.ok) <= 2, "{r:?}");
        assert_eq!(r.body_bytes, r.ok * 2);
        assert!(r.p50_ms.is_some() && r.rps().is_some());
        assert_eq!(r.first_error.as_deref(), Some("HTTP status 404"));
    }
}
