//! Sessions, CSRF tokens, login lockout and event codes — everything the login without
//! Active Directory keeps in memory.
//!
//! * Sessions: a 256-bit random token in the `noodepd_session` cookie; the server keeps only
//!   its SHA-256, with the user, a per-session CSRF token, an idle timeout and an absolute
//!   maximum. Login always makes a new token (no fixation); logout removes it.
//! * Pre-login CSRF: the login form's token is an HMAC of the short-lived `noodepd_pre`
//!   cookie under a per-process secret, so nothing is stored per visitor.
//! * Lockout: failed attempts are counted per user id and per client address within the
//!   lockout window; reaching the limit locks that user or address for the lockout time.
//! * Event codes: a coordinator issues a short-lived code for a named colleague not on the
//!   roster; only its argon2id hash is kept, and it expires.
//!
//! Invariants: tokens and codes are never logged or stored in clear; every map is bounded.

use super::{IssuedCode, SessionUser};
use crate::config::WebConfig;
use crate::roster::{Role, Roster};
use chrono::{DateTime, Utc};
use hkdf::hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "noodepd_session";
/// Name of the pre-login cookie the login form's CSRF token is bound to.
pub const PRE_COOKIE: &str = "noodepd_pre";
/// A session ends this long after login, active or not.
pub const SESSION_MAX: Duration = Duration::from_secs(12 * 3600);
/// A login form is valid this long.
pub const PRE_LIFETIME: Duration = Duration::from_secs(3600);
/// Most sessions held at once.
pub const MAX_SESSIONS: usize = 10_000;
/// Most users and addresses whose failed attempts are tracked at once.
pub const MAX_TRACKED: usize = 50_000;
/// Most event codes valid at once.
pub const MAX_EVENT_CODES: usize = 99;
/// Longest name accepted for an event-code colleague.
pub const MAX_GUEST_NAME: usize = 100;

/// An open session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: SessionUser,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    pub created: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// What a session cookie turned out to be.
#[derive(Debug, Clone)]
pub enum Lookup {
    Valid(Session),
    /// It existed but timed out (idle or absolute); it is removed now.
    Expired(Session),
    /// Unknown, tampered with, or logged out.
    Unknown,
}

/// A lockout that just started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockedWhat {
    User(String),
    Address(IpAddr),
}

/// Why an event code cannot be issued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventCodeError {
    #[error("name must be 1 to {MAX_GUEST_NAME} characters without control characters")]
    Name,
    #[error("an event code can be issued for a nurse or a physician only")]
    Role,
    #[error("too many event codes are valid at once ({MAX_EVENT_CODES})")]
    TooMany,
    #[error("cannot hash the code: {0}")]
    Hash(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailKey {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
struct Failures {
    /// Times of recent failed attempts (at most the lockout limit).
    attempts: Vec<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

struct EventCode {
    issued: IssuedCode,
    issued_by_name: String,
    hash: String,
}

struct Inner {
    sessions: HashMap<[u8; 32], Session>,
    failures: HashMap<FailKey, Failures>,
    codes: Vec<EventCode>,
    next_guest: u32,
}

/// The login state of the running server.
pub struct Sessions {
    secret: Zeroizing<[u8; 32]>,
    idle: chrono::Duration,
    absolute: chrono::Duration,
    attempts: usize,
    lockout: chrono::Duration,
    code_lifetime: chrono::Duration,
    inner: Mutex<Inner>,
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(12))
}

/// A fresh random 256-bit token, hex-encoded.
pub fn new_token() -> String {
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(b.as_mut());
    crate::audit::hex(b.as_ref())
}

/// Compares two secrets in constant time (for equal lengths).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A token as the cookie may carry it: 64 lower-case hex digits.
fn plausible_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Sessions {
    /// Empty state with the limits from the config.
    pub fn new(cfg: &WebConfig) -> Sessions {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        Sessions {
            secret,
            idle: chrono_dur(cfg.session_idle),
            absolute: chrono_dur(SESSION_MAX),
            attempts: usize::try_from(cfg.lockout_attempts).unwrap_or(5).max(1),
            lockout: chrono_dur(cfg.lockout_duration),
            code_lifetime: chrono_dur(cfg.event_code_lifetime),
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                failures: HashMap::new(),
                codes: Vec::new(),
                next_guest: 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn expired(&self, s: &Session, now: DateTime<Utc>) -> bool {
        now - s.last_seen >= self.idle || now - s.created >= self.absolute
    }

    /// Opens a new session for `user` and returns its token (for the cookie only).
    pub fn create(&self, user: SessionUser, now: DateTime<Utc>) -> (String, Session) {
        let token = new_token();
        let session = Session {
            user,
            csrf: new_token(),
            created: now,
            last_seen: now,
        };
        let mut inner = self.lock();
        if inner.sessions.len() >= MAX_SESSIONS {
            inner.sessions.retain(|_, s| !self.expired(s, now));
        }
        if inner.sessions.len() >= MAX_SESSIONS {
            // Still full of live sessions: the oldest one makes room.
            if let Some(oldest) = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
            {
                inner.sessions.remove(&oldest);
            }
        }
        inner.sessions.insert(token_key(&token), session.clone());
        (token, session)
    }

    /// Looks a session cookie up, refreshing its idle timer when valid.
    pub fn lookup(&self, token: &str, now: DateTime<Utc>) -> Lookup {
        if !plausible_token(token) {
            return Lookup::Unknown;
        }
        let key = token_key(token);
        let mut inner = self.lock();
        let expired = match inner.sessions.get_mut(&key) {
            None => return Lookup::Unknown,
            Some(s) if !self.expired(s, now) => {
                s.last_seen = now;
                return Lookup::Valid(s.clone());
            }
            Some(_) => true,
        };
        match (expired, inner.sessions.remove(&key)) {
            (true, Some(s)) => Lookup::Expired(s),
            _ => Lookup::Unknown,
        }
    }

    /// Ends a session (logout). Returns it when it existed.
    pub fn remove(&self, token: &str) -> Option<Session> {
        if !plausible_token(token) {
            return None;
        }
        self.lock().sessions.remove(&token_key(token))
    }

    /// Number of live sessions.
    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    // ------------------------------------------------------------ pre-login CSRF

    /// A new pre-login cookie value: random token and issue time.
    pub fn new_pre(&self, now: DateTime<Utc>) -> String {
        format!("{}.{}", new_token(), now.timestamp())
    }

    /// Whether a pre-login cookie value is well-formed and young enough.
    pub fn pre_valid(&self, pre: &str, now: DateTime<Utc>) -> bool {
        let Some((tok, ts)) = pre.split_once('.') else {
            return false;
        };
        let Ok(ts) = ts.parse::<i64>() else {
            return false;
        };
        let age = now.timestamp().saturating_sub(ts);
        plausible_token(tok)
            && (0..i64::try_from(PRE_LIFETIME.as_secs()).unwrap_or(3600)).contains(&age)
    }

    /// The login form's CSRF token for a pre-login cookie value.
    pub fn pre_csrf(&self, pre: &str) -> String {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.as_ref());
        match mac {
            Ok(mut m) => {
                m.update(b"noodepd-login-csrf\0");
                m.update(pre.as_bytes());
                crate::audit::hex(&m.finalize().into_bytes())
            }
            // HMAC takes keys of any length; this cannot happen, and an empty token never
            // matches a submitted one.
            Err(_) => String::new(),
        }
    }

    /// Checks a login form's CSRF token against its pre-login cookie.
    pub fn check_pre(&self, pre: &str, csrf: &str, now: DateTime<Utc>) -> bool {
        let expected = self.pre_csrf(pre);
        self.pre_valid(pre, now) && !expected.is_empty() && ct_eq(&expected, csrf)
    }

    // ------------------------------------------------------------ lockout

    fn locked_until_of(
        &self,
        inner: &Inner,
        key: &FailKey,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        inner
            .failures
            .get(key)
            .and_then(|f| f.locked_until)
            .filter(|t| *t > now)
    }

    /// When the user or the address is locked out now: the time the lockout ends (the
    /// later of the two).
    pub fn locked(&self, user: &str, addr: IpAddr, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let inner = self.lock();
        let u = self.locked_until_of(&inner, &FailKey::User(user.to_owned()), now);
        let a = self.locked_until_of(&inner, &FailKey::Address(addr), now);
        u.max(a)
    }

    /// Counts a failed attempt for the user and the address. Returns the lockouts this
    /// attempt started, with their end time.
    pub fn record_failure(
        &self,
        user: &str,
        addr: IpAddr,
        now: DateTime<Utc>,
    ) -> Vec<(LockedWhat, DateTime<Utc>)> {
        let mut inner = self.lock();
        if inner.failures.len() >= MAX_TRACKED {
            let window = self.lockout;
            inner.failures.retain(|_, f| {
                f.locked_until.is_some_and(|t| t > now)
                    || f.attempts.iter().any(|t| now - *t < window)
            });
        }
        let mut started = Vec::new();
        for key in [FailKey::User(user.to_owned()), FailKey::Address(addr)] {
            if !inner.failures.contains_key(&key) && inner.failures.len() >= MAX_TRACKED {
                continue;
            }
            let f = inner.failures.entry(key.clone()).or_default();
            if f.locked_until.is_some_and(|t| t > now) {
                continue;
            }
            let window = self.lockout;
            f.attempts.retain(|t| now - *t < window);
            f.attempts.push(now);
            if f.attempts.len() >= self.attempts {
                let until = now + self.lockout;
                f.locked_until = Some(until);
                f.attempts.clear();
                started.push((
                    match key {
                        FailKey::User(u) => LockedWhat::User(u),
                        FailKey::Address(a) => LockedWhat::Address(a),
                    },
                    until,
                ));
            }
        }
        started
    }

    /// A successful login clears the user's count (not the address's: one good code must
    /// not reset the count for guessing others' codes).
    pub fn record_success(&self, user: &str) {
        self.lock().failures.remove(&FailKey::User(user.to_owned()));
    }

    // ------------------------------------------------------------ event codes

    /// The next free guest user id (not on the roster, not issued).
    fn next_guest_id(&self, inner: &mut Inner, roster: Option<&Roster>) -> String {
        loop {
            let n = inner.next_guest;
            inner.next_guest = inner.next_guest.wrapping_add(1).max(1);
            let id = format!("gast-{n:02}");
            let taken = roster.is_some_and(|r| r.get(&id).is_some())
                || inner.codes.iter().any(|c| c.issued.user == id);
            if !taken {
                return id;
            }
        }
    }

    /// Issues an event code (slow: hashes with argon2; call off the async threads).
    /// Returns what was issued and the code itself, to be shown once.
    pub fn issue_code(
        &self,
        name: &str,
        role: Role,
        by: &SessionUser,
        roster: Option<&Roster>,
        now: DateTime<Utc>,
    ) -> Result<(IssuedCode, Zeroizing<String>), EventCodeError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_GUEST_NAME
            || name.chars().any(char::is_control)
        {
            return Err(EventCodeError::Name);
        }
        if !matches!(role, Role::Nurse | Role::Physician) {
            return Err(EventCodeError::Role);
        }
        let code = Zeroizing::new(format!("{:08}", OsRng.next_u64() % 100_000_000));
        let hash =
            crate::roster::hash_code(&code).map_err(|e| EventCodeError::Hash(e.to_string()))?;
        let mut inner = self.lock();
        inner.codes.retain(|c| c.issued.expires_at > now);
        if inner.codes.len() >= MAX_EVENT_CODES {
            return Err(EventCodeError::TooMany);
        }
        let user = self.next_guest_id(&mut inner, roster);
        let issued = IssuedCode {
            user,
            name: name.to_owned(),
            role,
            issued_by: by.id.clone(),
            expires_at: now + self.code_lifetime,
        };
        inner.codes.push(EventCode {
            issued: issued.clone(),
            issued_by_name: by.name.clone(),
            hash,
        });
        Ok((issued, code))
    }

    /// Withdraws an event code (when its issue could not be recorded in the audit log).
    pub fn revoke_code(&self, user: &str) {
        self.lock().codes.retain(|c| c.issued.user != user);
    }

    /// Whether `user` is an event-code user id in force.
    pub fn is_event_user(&self, user: &str, now: DateTime<Utc>) -> bool {
        self.lock()
            .codes
            .iter()
            .any(|c| c.issued.user == user && c.issued.expires_at > now)
    }

    /// Checks an event-code login (slow: argon2; call off the async threads).
    pub fn verify_event_code(
        &self,
        user: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Option<SessionUser> {
        let (hash, su) = {
            let inner = self.lock();
            let c = inner
                .codes
                .iter()
                .find(|c| c.issued.user == user && c.issued.expires_at > now)?;
            (
                c.hash.clone(),
                SessionUser {
                    id: c.issued.user.clone(),
                    name: c.issued.name.clone(),
                    role: c.issued.role,
                    issued_by: Some((c.issued.issued_by.clone(), c.issued_by_name.clone())),
                },
            )
        };
        (code.len() <= crate::roster::MAX_CODE && crate::roster::verify_code(&hash, code))
            .then_some(su)
    }

    /// The event codes in force, oldest first.
    pub fn issued_codes(&self, now: DateTime<Utc>) -> Vec<IssuedCode> {
        self.lock()
            .codes
            .iter()
            .filter(|c| c.issued.expires_at > now)
            .map(|c| c.issued.clone())
            .collect()
    }
}

// ---------------------------------------------------------------- cookies

/// The value of cookie `name` in the request's Cookie headers (first occurrence).
pub fn cookie<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
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
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
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
pub fn clear_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", Some(0), secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::Path;

    fn cfg() -> WebConfig {
        crate::config::Config::from_toml(
            "[appliance]\nid = \"b\"\nward = \"A3\"\n[web]\nplain_http = true\nlisten = \"127.0.0.1:0\"\nsession_idle_minutes = 15\nlockout_minutes = 15\n",
            Path::new("x.toml"),
        )
        .unwrap()
        .web
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    fn nurse() -> SessionUser {
        SessionUser {
            id: "jbakker".into(),
            name: "Jan Bakker".into(),
            role: Role::Nurse,
            issued_by: None,
        }
    }

    #[test]
    fn session_expires_after_idle_time_and_after_twelve_hours() {
        let s = Sessions::new(&cfg());
        let (tok, _) = s.create(nurse(), t(6, 0));
        assert!(matches!(s.lookup(&tok, t(6, 14)), Lookup::Valid(_)));
        assert!(matches!(s.lookup(&tok, t(6, 28)), Lookup::Valid(_)));
        assert!(matches!(s.lookup(&tok, t(6, 43)), Lookup::Expired(_)));
        assert!(matches!(s.lookup(&tok, t(6, 44)), Lookup::Unknown));
        // Active all the time, still ends after 12 hours.
        let (tok, _) = s.create(nurse(), t(6, 0));
        let mut now = t(6, 0);
        while now < t(17, 50) {
            now += chrono::Duration::minutes(10);
            assert!(matches!(s.lookup(&tok, now), Lookup::Valid(_)));
        }
        assert!(matches!(s.lookup(&tok, t(18, 0)), Lookup::Expired(_)));
    }

    #[test]
    fn tampered_or_foreign_token_is_unknown() {
        let s = Sessions::new(&cfg());
        let (tok, _) = s.create(nurse(), t(6, 0));
        let mut bad = tok.clone();
        bad.replace_range(0..1, if tok.starts_with('a') { "b" } else { "a" });
        assert!(matches!(s.lookup(&bad, t(6, 1)), Lookup::Unknown));
        assert!(matches!(s.lookup("", t(6, 1)), Lookup::Unknown));
        assert!(matches!(
            s.lookup(&tok.to_uppercase(), t(6, 1)),
            Lookup::Unknown
        ));
        assert!(s.remove(&tok).is_some());
        assert!(matches!(s.lookup(&tok, t(6, 1)), Lookup::Unknown));
    }

    #[test]
    fn lockout_ends_after_its_duration() {
        let s = Sessions::new(&cfg());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        for i in 0..4 {
            assert!(s.record_failure("jbakker", ip, t(6, i)).is_empty());
        }
        let started = s.record_failure("jbakker", ip, t(6, 4));
        assert_eq!(started.len(), 2);
        assert_eq!(s.locked("jbakker", ip, t(6, 5)), Some(t(6, 19)));
        assert_eq!(s.locked("other", ip, t(6, 5)), Some(t(6, 19)));
        let other_ip: IpAddr = "10.0.0.8".parse().unwrap();
        assert_eq!(s.locked("jbakker", other_ip, t(6, 5)), Some(t(6, 19)));
        assert_eq!(s.locked("jbakker", ip, t(6, 19)), None);
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let s = Sessions::new(&cfg());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        for i in 0..4 {
            s.record_failure("jbakker", ip, t(6, i));
        }
        // 20 minutes later the four old failures no longer count.
        assert!(s.record_failure("jbakker", ip, t(6, 24)).is_empty());
        assert_eq!(s.locked("jbakker", ip, t(6, 24)), None);
    }

    #[test]
    fn pre_login_csrf_is_bound_to_its_cookie_and_expires() {
        let s = Sessions::new(&cfg());
        let pre = s.new_pre(t(6, 0));
        let csrf = s.pre_csrf(&pre);
        assert!(s.check_pre(&pre, &csrf, t(6, 30)));
        assert!(!s.check_pre(&pre, &csrf, t(7, 1)));
        let other = s.new_pre(t(6, 0));
        assert!(!s.check_pre(&other, &csrf, t(6, 30)));
        assert!(!s.check_pre(&pre, "", t(6, 30)));
        // Another process (another secret) does not accept it.
        assert!(!Sessions::new(&cfg()).check_pre(&pre, &csrf, t(6, 30)));
    }

    #[test]
    fn event_code_works_once_issued_and_not_after_expiry() {
        let s = Sessions::new(&cfg());
        let coord = SessionUser {
            id: "coord".into(),
            name: "Carla".into(),
            role: Role::Coordinator,
            issued_by: None,
        };
        let (issued, code) = s
            .issue_code("Piet Gast", Role::Nurse, &coord, None, t(6, 0))
            .unwrap();
        assert_eq!(issued.user, "gast-01");
        assert_eq!(code.len(), 8);
        let u = s.verify_event_code("gast-01", &code, t(7, 0)).unwrap();
        assert_eq!(u.issued_by, Some(("coord".into(), "Carla".into())));
        assert!(
            s.verify_event_code("gast-01", "00000000", t(7, 0))
                .is_none()
                || *code == "00000000"
        );
        assert!(s.verify_event_code("gast-01", &code, t(18, 1)).is_none());
        assert_eq!(
            s.issue_code("X", Role::Coordinator, &coord, None, t(6, 0))
                .unwrap_err(),
            EventCodeError::Role
        );
        assert_eq!(
            s.issue_code(" \u{7}", Role::Nurse, &coord, None, t(6, 0))
                .unwrap_err(),
            EventCodeError::Name
        );
    }

    #[test]
    fn cookie_parsing_takes_the_named_cookie() {
        let mut h = hyper::HeaderMap::new();
        h.append("cookie", "a=1; noodepd_session=abc".parse().unwrap());
        h.append("cookie", "lang=en".parse().unwrap());
        assert_eq!(cookie(&h, "noodepd_session"), Some("abc"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "x"), None);
    }
}
