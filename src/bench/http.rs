//! A minimal HTTP/1.1 client for the bench: one keep-alive TCP connection, requests written
//! as bytes, responses read by hand (status line, headers, a `Content-Length` body).
//!
//! Hand-written on purpose: the load generator must cost as little as possible per request
//! and add no dependency. It is a measuring tool for our own daemon and nginx on loopback,
//! yet still bounded: a response head is at most [`MAX_HEAD`] bytes, a body at most
//! [`MAX_BODY`]; chunked bodies are refused (both servers send `Content-Length`).

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
pub(crate) const MAX_BODY: usize = 256 * 1024 * 1024;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} closed the connection before a complete response")]
    Closed { addr: SocketAddr },
    #[error("malformed response from {addr}: {what}")]
    Malformed {
        addr: SocketAddr,
        what: &'static str,
    },
    #[error("response from {addr} too large ({what})")]
    TooLarge {
        addr: SocketAddr,
        what: &'static str,
    },
}

/// A response.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Every `Set-Cookie` as `name=value` (attributes dropped).
    pub(crate) fn set_cookies(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| {
                let pair = v.split(';').next()?.trim();
                let (name, value) = pair.split_once('=')?;
                Some((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect()
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection.
pub(crate) struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A GET request with optional `Cookie` header, as bytes to send.
pub(crate) fn get(path: &str, host: &str, cookies: &str) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: noodepd-bench\r\n");
    if !cookies.is_empty() {
        r.push_str(&format!("Cookie: {cookies}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A POST of an urlencoded form.
pub(crate) fn post_form(path: &str, host: &str, cookies: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    let body = body.join("&");
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: noodepd-bench\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !cookies.is_empty() {
        r.push_str(&format!("Cookie: {cookies}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(&body);
    r.into_bytes()
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

impl Conn {
    /// Connects (with `TCP_NODELAY`, as browsers do).
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Conn, HttpError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| HttpError::Io { addr, source })?;
        stream
            .set_nodelay(true)
            .map_err(|source| HttpError::Io { addr, source })?;
        Ok(Conn {
            addr,
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// The server address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `request` and reads one response.
    pub(crate) async fn request(&mut self, request: &[u8]) -> Result<Response, HttpError> {
        let (status, headers, body) = self.exchange(request, true).await?;
        let body = self
            .buf
            .get(body)
            .ok_or(HttpError::Malformed {
                addr: self.addr,
                what: "body",
            })?
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Like [`Conn::request`] but keeps only the status and body length (the load loop:
    /// no copies, no header strings kept).
    pub(crate) async fn request_status(
        &mut self,
        request: &[u8],
    ) -> Result<(u16, usize), HttpError> {
        let (status, _, body) = self.exchange(request, false).await?;
        Ok((status, body.len()))
    }

    /// Writes the request and reads the response into `self.buf`; returns the status, the
    /// headers (when `keep_headers`) and where the body lies in the buffer.
    async fn exchange(
        &mut self,
        request: &[u8],
        keep_headers: bool,
    ) -> Result<(u16, Vec<(String, String)>, std::ops::Range<usize>), HttpError> {
        let addr = self.addr;
        let io = |source| HttpError::Io { addr, source };
        self.stream.write_all(request).await.map_err(io)?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find_head_end(&self.buf) {
                break i;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::TooLarge { addr, what: "head" });
            }
            self.read_more().await?;
        };
        let head = self
            .buf
            .get(..head_end)
            .ok_or(HttpError::Malformed { addr, what: "head" })?;
        let head = std::str::from_utf8(head).map_err(|_| HttpError::Malformed {
            addr,
            what: "head is not UTF-8",
        })?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(HttpError::Malformed {
                addr,
                what: "status line",
            });
        }
        let status: u16 =
            parts
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or(HttpError::Malformed {
                    addr,
                    what: "status code",
                })?;
        let mut headers = Vec::new();
        let mut length: Option<usize> = None;
        for l in lines {
            let (n, v) = l.split_once(':').ok_or(HttpError::Malformed {
                addr,
                what: "header line",
            })?;
            let n = n.trim().to_ascii_lowercase();
            let v = v.trim().to_owned();
            if n == "content-length" {
                length = Some(v.parse().map_err(|_| HttpError::Malformed {
                    addr,
                    what: "Content-Length",
                })?);
            } else if n == "transfer-encoding" && !v.eq_ignore_ascii_case("identity") {
                return Err(HttpError::Malformed {
                    addr,
                    what: "chunked body (expected Content-Length)",
                });
            }
            if keep_headers {
                headers.push((n, v));
            }
        }
        // 1xx, 204 and 304 have no body; everything else here carries Content-Length.
        let length = match (status, length) {
            (100..=199 | 204 | 304, _) => 0,
            (_, Some(n)) => n,
            (_, None) => {
                return Err(HttpError::Malformed {
                    addr,
                    what: "no Content-Length",
                });
            }
        };
        if length > MAX_BODY {
            return Err(HttpError::TooLarge { addr, what: "body" });
        }
        let body_start = head_end + 4;
        let total = body_start + length;
        while self.buf.len() < total {
            self.read_more().await?;
        }
        Ok((status, headers, body_start..total))
    }

    async fn read_more(&mut self) -> Result<(), HttpError> {
        let addr = self.addr;
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|source| HttpError::Io { addr, source })?;
        if n == 0 {
            return Err(HttpError::Closed { addr });
        }
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(())
    }
}

/// Joins cookies as a `Cookie` header value.
pub(crate) fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Puts `new` cookies into `jar`, replacing same-named ones (an empty value deletes).
pub(crate) fn merge_cookies(jar: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (n, v) in new {
        jar.retain(|(m, _)| *m != n);
        if !v.is_empty() {
            jar.push((n, v));
        }
    }
}

/// The `value` of the first `<input>` whose `name` is `name`, HTML entities decoded.
pub(crate) fn hidden_input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        let tag_and_after = rest.get(i..)?;
        let end = tag_and_after.find('>')?;
        let tag = tag_and_after.get(..end)?;
        if tag.contains(&needle) {
            let v = tag.split("value=\"").nth(1)?;
            let v = v.split('"').next()?;
            return Some(
                v.replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            );
        }
        rest = tag_and_after.get(end..)?;
    }
    None
}

/// The first link target starting with `prefix` in `html` (e.g. `/patient/`).
pub(crate) fn first_link(html: &str, prefix: &str) -> Option<String> {
    let needle = format!("href=\"{prefix}");
    let i = html.find(&needle)?;
    let rest = html.get(i + "href=\"".len()..)?;
    let link = rest.split('"').next()?;
    Some(link.replace("&amp;", "&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_csrf_hidden_input_value() {
        let html = r#"<form><input id="user" name="user"><input type="hidden" name="csrf" value="a&amp;b"></form>"#;
        assert_eq!(hidden_input(html, "csrf").as_deref(), Some("a&b"));
        assert_eq!(hidden_input(html, "other"), None);
    }

    #[test]
    fn finds_the_first_patient_link() {
        let html =
            r#"<a href="/print/mar">x</a><a href="/patient/p-123">y</a><a href="/patient/p-9">"#;
        assert_eq!(
            first_link(html, "/patient/").as_deref(),
            Some("/patient/p-123")
        );
    }

    #[test]
    fn cookies_replace_by_name_and_empty_deletes() {
        let mut jar = vec![("pre".to_owned(), "1".to_owned())];
        merge_cookies(
            &mut jar,
            vec![("pre".into(), String::new()), ("sid".into(), "x".into())],
        );
        assert_eq!(cookie_header(&jar), "sid=x");
    }

    #[tokio::test]
    async fn reads_keep_alive_responses_with_content_length() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            for body in ["hello", "wörld!"] {
                let _ = s.read(&mut buf).await.unwrap();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nSet-Cookie: a=b; Path=/\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        let mut c = Conn::connect(addr).await.unwrap();
        let r = c.request(&get("/", "x", "")).await.unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "hello"));
        assert_eq!(r.set_cookies(), vec![("a".to_owned(), "b".to_owned())]);
        let r = c.request(&get("/", "x", "")).await.unwrap();
        assert_eq!(r.text(), "wörld!");
    }
}
