//! The HTTP server: the listening socket (bound, or taken from systemd socket activation),
//! optional TLS, hyper 1 HTTP/1.1 connections with bounded sizes and timeouts, a cap on
//! concurrent connections, and graceful shutdown.
//!
//! Limits: request head at most [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] headers (hyper
//! answers 431 beyond that); the head must arrive within [`HEADER_TIMEOUT`]; a body at most
//! [`routes::MAX_BODY`] bytes (413 before reading it when Content-Length says more) within
//! [`BODY_TIMEOUT`]; a TLS handshake within [`HANDSHAKE_TIMEOUT`]; a write that makes no
//! progress for [`WRITE_STALL_TIMEOUT`] (a client that sends requests and never reads the
//! answers) closes the connection; at most `web.max_connections` connections at once
//! (further clients wait in the listen backlog), of which one client address (IPv6: its
//! /64) holds at most `web.max_connections_per_address` (more are closed at once), so one
//! host holding slow sockets cannot make `/health` or a ward PC's login unreachable.
//! On shutdown the listener closes, connections finish their request in flight and close,
//! and after [`SHUTDOWN_GRACE`] the rest are dropped.

use super::headers;
use super::routes::{self, Req, Resp, WebState};
use super::tls::TlsReloader;
use crate::app::App;
use crate::config::WebConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Semaphore, watch};

/// Largest request head (request line and headers) buffered.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most request headers accepted.
pub(crate) const MAX_HEADERS: usize = 64;
/// Time allowed for a request head to arrive (also bounds idle keep-alive).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request body to arrive.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for connections to finish.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a write to the client may make no progress before the connection is closed.
pub(crate) const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream whose writes fail with `TimedOut` once they have made no progress for
/// the stall limit (the client stopped reading: its receive window and our send buffer
/// are full). Reads pass through; their limits are hyper's header and body timeouts.
pub(crate) struct WriteDeadline<I> {
    inner: I,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> WriteDeadline<I> {
    /// Wraps `inner` with a write-stall limit.
    pub(crate) fn new(inner: I, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// A write is pending: arm the stall timer (once) and fail when it has run out.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(&mut self, r: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(r, cx)
    }
}

/// Open connections per client address (IPv6 per /64, as the lockout counts them).
struct PerAddress {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's count, given back on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A place for one more connection from `peer`, if its address is under the cap.
    fn take(self: &Arc<Self>, peer: IpAddr) -> Option<AddressSlot> {
        let key = super::session::address_key(peer);
        let mut open = self.lock();
        let n = open.entry(key).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The answer for a connection over its address's cap: written once without waiting (a
/// client that does not read it just loses it), then the connection is closed.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 50\r\n\r\ntoo many connections from this address; retry soon";

/// Errors of the web server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The configured address cannot be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The socket systemd passed cannot be used.
    #[error("socket activation: {0}")]
    SocketActivation(String),
    /// Accepting on the listening socket failed.
    #[error("listening socket: {0}")]
    Listener(std::io::Error),
    /// The certificate or key cannot be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] super::tls::TlsError),
}

/// The listening socket: the one systemd passed (socket activation: `LISTEN_PID` is our
/// pid and `LISTEN_FDS` is 1), else a new one bound to `cfg.listen`. Non-blocking, ready for
/// [`tokio::net::TcpListener::from_std`].
///
/// Call this before starting other threads: taking the systemd socket clears the
/// `LISTEN_*` variables from the environment.
///
/// The systemd socket is taken with the `listenfd` crate (which checks it is a TCP listening
/// socket and sets close-on-exec), so this crate keeps `forbid(unsafe_code)`.
pub fn listener(cfg: &WebConfig) -> Result<std::net::TcpListener, WebError> {
    let l = match activated()? {
        Some(l) => l,
        None => std::net::TcpListener::bind(cfg.listen).map_err(|source| WebError::Bind {
            addr: cfg.listen,
            source,
        })?,
    };
    l.set_nonblocking(true).map_err(WebError::Listener)?;
    Ok(l)
}

fn activated() -> Result<Option<std::net::TcpListener>, WebError> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        // Meant for another process (e.g. our parent): not ours to take.
        return Ok(None);
    }
    if fds.trim() != "1" {
        return Err(WebError::SocketActivation(format!(
            "LISTEN_FDS={fds}: exactly one listening socket expected (one ListenStream= in noodepd.socket)"
        )));
    }
    let mut lfd = listenfd::ListenFd::from_env();
    match lfd.take_tcp_listener(0) {
        Ok(Some(l)) => Ok(Some(l)),
        Ok(None) => Err(WebError::SocketActivation(
            "systemd passed no socket".into(),
        )),
        Err(e) => Err(WebError::SocketActivation(format!(
            "the socket systemd passed is not a TCP listening socket: {e}"
        ))),
    }
}

/// Serves until `shutdown` completes, then stops accepting, lets connections finish their
/// request in flight (at most [`SHUTDOWN_GRACE`]) and returns.
///
/// `tls` is shared so the caller can [`TlsReloader::reload`] it (on SIGHUP) while serving;
/// new connections use the certificate in force when they are accepted.
pub async fn run(
    shared: Arc<App>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<TlsReloader>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WebError> {
    let max = shared.config.web.max_connections.clamp(1, 10_000);
    let per_address = Arc::new(PerAddress {
        cap: shared.config.web.max_connections_per_address.clamp(1, max),
        open: Mutex::new(HashMap::new()),
    });
    let state = Arc::new(WebState::new(shared, tls.is_some()));
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly, keep serving.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = per_address.take(peer.ip()) else {
            // Over this address's cap: its other connections keep their places, everyone
            // else keeps theirs. Plain HTTP gets a one-line 503; TLS just the close.
            drop(permit);
            if tls.is_none() {
                let _ = stream.try_write(OVER_CAP);
            }
            log::debug!("connection from {peer} refused: over its address's connection cap");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = WriteDeadline::new(stream, WRITE_STALL_TIMEOUT);
        let state = state.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_io(TokioIo::new(stream), state, peer.ip(), stop).await,
                Some(acc) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acc.accept(stream)).await {
                        Ok(Ok(s)) => serve_io(TokioIo::new(s), state, peer.ip(), stop).await,
                        Ok(Err(e)) => log::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => log::debug!("TLS handshake with {peer} timed out"),
                    }
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all))
        .await
        .is_err()
    {
        log::warn!(
            "web server: connections still open after {}s; closing them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// Serves one HTTP/1.1 connection over any byte stream (with the same limits and timeouts
/// as [`run`], no TLS), until the client closes it. For in-process drivers such as the
/// fuzz harness (`fuzz/`), which feed raw bytes through `tokio::io::duplex`.
pub async fn serve_connection<I>(stream: I, state: Arc<WebState>, peer: IpAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A stop signal that never fires: the connection ends when the client is done.
    let (_stop_tx, stop_rx) = watch::channel(false);
    let stream = WriteDeadline::new(stream, WRITE_STALL_TIMEOUT);
    serve_io(TokioIo::new(stream), state, peer, stop_rx).await;
}

async fn serve_io<I>(
    io: TokioIo<I>,
    state: Arc<WebState>,
    peer: IpAddr,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let st = state.clone();
        async move { Ok::<_, Infallible>(respond(&st, req, peer).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                log::debug!("connection from {peer}: {e}");
            }
        }
        () = async { let _ = stop.wait_for(|s| *s).await.is_ok(); } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// One request: bound and read the body, route, add the security headers.
async fn respond(
    st: &Arc<WebState>,
    req: Request<Incoming>,
    peer: IpAddr,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > routes::MAX_BODY as u64) {
        return finish(too_large(), st.tls);
    }
    let body = if parts.method == hyper::Method::POST {
        let limited = Limited::new(body, routes::MAX_BODY);
        match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return finish(too_large(), st.tls);
            }
            Ok(Err(_)) => {
                return finish(
                    Resp::text(StatusCode::BAD_REQUEST, "bad request body\n"),
                    st.tls,
                );
            }
            Err(_) => {
                let mut r = Resp::text(StatusCode::REQUEST_TIMEOUT, "request body too slow\n");
                r.headers
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return finish(r, st.tls);
            }
        }
    } else {
        Bytes::new()
    };
    let r = Req {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        peer,
        body,
    };
    finish(routes::handle(st, r).await, st.tls)
}

fn too_large() -> Resp {
    let mut r = Resp::text(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body larger than 16 KiB\n",
    );
    // The rest of the body is not read: the connection cannot be reused.
    r.headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn finish(r: Resp, tls: bool) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    headers::apply(resp.headers_mut(), tls, r.caching);
    resp
}
