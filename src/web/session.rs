//! Sessions, CSRF tokens, login lockout and guest codes — everything the login without
//! Active Directory keeps in memory.
//!
//! * Sessions: a 256-bit random token in the session cookie (`__Host-noodepd_session` over
//!   TLS); the server keeps only its SHA-256, with the user, a per-session CSRF token, an
//!   idle timeout and an absolute maximum. Login always makes a new token (no fixation);
//!   logout removes it. One user holds at most [`MAX_SESSIONS_PER_USER`] sessions (a new
//!   login ends that user's own oldest); when the table is full of live sessions a new
//!   login is refused, never someone else's session ended.
//! * Pre-login CSRF: the login form's token is an HMAC of the short-lived pre-login cookie
//!   under a per-process secret, so nothing is stored per visitor.
//! * Lockout: failed attempts are counted per user id (`web.lockout_attempts`, 5) and,
//!   with a higher limit against password spraying, per client address
//!   (`web.lockout_address_attempts`, 20; IPv6 addresses counted per /64). An attempt is
//!   *reserved* before its code is checked and settled after ([`Attempt`]), so concurrent
//!   guesses never check more codes than the limit allows. A coordinator can lift a lockout.
//! * Guest codes: a coordinator issues a short-lived code for a named colleague not on the
//!   roster (random `gast-NNNN` id); only its argon2id hash is kept; it expires, can be
//!   revoked, and ends with its issuer's coordinator rights.
//! * Sweeps: a new roster ends the sessions of users removed from it or whose role changed
//!   (and guest codes of coordinators who lost the role); a drill's sessions and guest codes
//!   end when a real emergency (or another drill) starts.
//!
//! Invariants: tokens and codes are never logged or stored in clear; every map is bounded.

use super::{IssuedCode, SessionUser};
use crate::config::WebConfig;
use crate::mode::Mode;
use crate::roster::{Role, Roster};
use chrono::{DateTime, Utc};
use hkdf::hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Name of the session cookie over plain HTTP (demo and tests on loopback).
pub(crate) const SESSION_COOKIE: &str = "noodepd_session";
/// Name of the pre-login cookie over plain HTTP.
pub(crate) const PRE_COOKIE: &str = "noodepd_pre";
/// A session ends this long after login, active or not.
pub(crate) const SESSION_MAX: Duration = Duration::from_secs(12 * 3600);
/// A login form is valid this long.
pub(crate) const PRE_LIFETIME: Duration = Duration::from_secs(3600);
/// Most sessions held at once. At least [`MAX_SESSIONS_PER_USER`] times the largest
/// roster plus the guest codes, so no single user can fill the table.
pub(crate) const MAX_SESSIONS: usize = 20_000;
/// Most sessions one user holds at once (one per ward PC or tablet she uses); a further
/// login ends her own oldest session.
pub(crate) const MAX_SESSIONS_PER_USER: usize = 8;
/// Most users and addresses whose failed attempts are tracked at once.
pub(crate) const MAX_TRACKED: usize = 50_000;
/// Most guest codes valid at once.
pub(crate) const MAX_GUEST_CODES: usize = 99;
/// Longest name accepted for a guest.
pub(crate) const MAX_GUEST_NAME: usize = 100;

const _: () = assert!(
    MAX_SESSIONS >= MAX_SESSIONS_PER_USER * (crate::roster::MAX_STAFF + MAX_GUEST_CODES),
    "one user must never be able to fill the session table"
);

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

/// An open session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is logged in.
    pub user: SessionUser,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// When the session was opened.
    pub created: DateTime<Utc>,
    /// The last request; the session ends after the configured idle time without one.
    pub last_seen: DateTime<Utc>,
    /// The drill (its id) this session was opened in, if any: it ends when a real
    /// emergency or another drill starts.
    pub drill: Option<i64>,
}

/// What a session cookie turned out to be.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    Valid(Session),
    /// It existed but timed out (idle or absolute); it is removed now.
    Expired(Session),
    /// Unknown, tampered with, or logged out.
    Unknown,
}

/// What a lockout applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockedWhat {
    /// A user name (from any address).
    User(String),
    /// A client address: IPv4 as is, IPv6 as its /64 network (see [`address_key`]).
    Address(IpAddr),
}

impl std::fmt::Display for LockedWhat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockedWhat::User(u) => write!(f, "user {}", printable_id(u)),
            LockedWhat::Address(IpAddr::V6(a)) => write!(f, "address {a}/64"),
            LockedWhat::Address(a) => write!(f, "address {a}"),
        }
    }
}

impl LockedWhat {
    /// The value a coordinator's "lift" form posts: `user:` and the user name as typed in
    /// hex (it may hold any character), or `address:IP`.
    pub(crate) fn form_value(&self) -> String {
        match self {
            LockedWhat::User(u) => format!("user:{}", crate::audit::hex(u.as_bytes())),
            LockedWhat::Address(a) => format!("address:{a}"),
        }
    }
}

/// A lockout in force, as a coordinator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// The user name or address locked.
    pub what: LockedWhat,
    /// When the lockout ends by itself (a coordinator may lift it earlier).
    pub until: DateTime<Utc>,
}

/// Why an attempt may not be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The user or the address is locked out until then.
    Locked {
        what: LockedWhat,
        until: DateTime<Utc>,
    },
    /// Attempts still being checked already use up what is left before a lockout (or the
    /// failure table is full): try again in a moment.
    Busy,
}

/// The outcome of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed {
    /// The lockouts this failure started, with their end.
    pub started: Vec<(LockedWhat, DateTime<Utc>)>,
    /// Attempts left for this user name before it is locked out (0 when locked now).
    pub user_left: usize,
    /// Attempts left from this address before it is locked out.
    pub address_left: usize,
}

/// Why a guest code cannot be issued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum GuestCodeError {
    #[error("name must be 1 to {MAX_GUEST_NAME} characters without control characters")]
    Name,
    #[error("a guest code can be issued for a nurse or a physician only")]
    Role,
    #[error("too many guest codes are valid at once ({MAX_GUEST_CODES})")]
    TooMany,
    #[error("cannot hash the code: {0}")]
    Hash(String),
}

/// The session table is full of live sessions: the login is refused (nobody else's
/// session is ended to make room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many open sessions ({MAX_SESSIONS}); try again later")]
pub struct SessionsFull;

/// A session a sweep (or a revocation) ended, and why (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub user: SessionUser,
    pub why: &'static str,
}

/// What a sweep ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    pub sessions: Vec<Ended>,
    /// Guest codes withdrawn, with the reason.
    pub codes: Vec<(IssuedCode, &'static str)>,
}

impl Swept {
    /// Whether nothing was ended.
    pub(crate) fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.codes.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailKey {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
struct Failures {
    /// Times of recent failed attempts (within the lockout window; fewer than the limit).
    attempts: Vec<DateTime<Utc>>,
    /// Attempts reserved and not yet settled.
    in_flight: usize,
    locked_until: Option<DateTime<Utc>>,
}

impl Failures {
    fn idle(&self, now: DateTime<Utc>, window: chrono::Duration) -> bool {
        self.in_flight == 0
            && self.locked_until.is_none_or(|t| t <= now)
            && self.attempts.iter().all(|t| now - *t >= window)
    }
}

struct GuestCode {
    issued: IssuedCode,
    issued_by_name: String,
    hash: String,
}

struct Inner {
    sessions: HashMap<[u8; 32], Session>,
    failures: HashMap<FailKey, Failures>,
    codes: Vec<GuestCode>,
}

/// The login state of the running server.
pub struct Sessions {
    secret: Zeroizing<[u8; 32]>,
    idle: chrono::Duration,
    absolute: chrono::Duration,
    user_attempts: usize,
    address_attempts: usize,
    lockout: chrono::Duration,
    code_lifetime: chrono::Duration,
    inner: Mutex<Inner>,
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(12))
}

/// A fresh random 256-bit token, hex-encoded.
pub(crate) fn new_token() -> String {
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(b.as_mut());
    crate::audit::hex(b.as_ref())
}

/// Compares two secrets in constant time (for equal lengths).
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A token as the cookie may carry it: 64 lower-case hex digits.
fn plausible_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The address attempts are counted under: IPv4 (and IPv4-mapped IPv6) as is, IPv6 as
/// its /64 network, since one host can rotate through its whole /64.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(a) => {
            let s = a.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// A user id as typed, safe for an operator log line or the audit log: a plain id as is,
/// anything else with control and bidi characters replaced and cut to 64 characters.
pub(crate) fn printable_id(user: &str) -> String {
    if crate::config::check_id(user).is_ok() {
        return user.to_owned();
    }
    let cleaned: String = crate::text::printable(user).chars().take(64).collect();
    format!("{cleaned:?}")
}

impl Sessions {
    /// Empty state with the limits from the config.
    pub(crate) fn new(cfg: &WebConfig) -> Sessions {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        let user_attempts = usize::try_from(cfg.lockout_attempts).unwrap_or(5).max(1);
        Sessions {
            secret,
            idle: chrono_dur(cfg.session_idle),
            absolute: chrono_dur(SESSION_MAX),
            user_attempts,
            address_attempts: usize::try_from(cfg.lockout_address_attempts)
                .unwrap_or(20)
                .max(user_attempts),
            lockout: chrono_dur(cfg.lockout_duration),
            code_lifetime: chrono_dur(cfg.guest_code_lifetime),
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                failures: HashMap::new(),
                codes: Vec::new(),
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

    /// Opens a new session for `user` (opened in drill `drill`, if any) and returns its
    /// token (for the cookie only), the session, and the user's own oldest session when
    /// this one ended it ([`MAX_SESSIONS_PER_USER`]). Refused when the table is full of
    /// live sessions.
    pub fn create(
        &self,
        user: SessionUser,
        drill: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(String, Session, Option<Session>), SessionsFull> {
        let token = new_token();
        let session = Session {
            user,
            csrf: new_token(),
            created: now,
            last_seen: now,
            drill,
        };
        let mut inner = self.lock();
        if inner.sessions.len() >= MAX_SESSIONS {
            inner.sessions.retain(|_, s| !self.expired(s, now));
        }
        let mine: Vec<([u8; 32], DateTime<Utc>)> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.user.id == session.user.id)
            .map(|(k, s)| (*k, s.last_seen))
            .collect();
        let oldest = (mine.len() >= MAX_SESSIONS_PER_USER)
            .then(|| mine.iter().min_by_key(|(_, t)| *t).map(|(k, _)| *k))
            .flatten();
        if inner.sessions.len() - usize::from(oldest.is_some()) >= MAX_SESSIONS {
            return Err(SessionsFull);
        }
        let evicted = oldest.and_then(|k| inner.sessions.remove(&k));
        inner.sessions.insert(token_key(&token), session.clone());
        Ok((token, session, evicted))
    }

    /// Looks a session cookie up, refreshing its idle timer when valid.
    pub(crate) fn lookup(&self, token: &str, now: DateTime<Utc>) -> Lookup {
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
    pub(crate) fn remove(&self, token: &str) -> Option<Session> {
        if !plausible_token(token) {
            return None;
        }
        self.lock().sessions.remove(&token_key(token))
    }

    /// Number of live sessions.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Ends every session `end` picks (with its reason) and returns them.
    fn end_sessions(
        inner: &mut Inner,
        end: impl Fn(&Session) -> Option<&'static str>,
    ) -> Vec<Ended> {
        let mut out = Vec::new();
        inner.sessions.retain(|_, s| match end(s) {
            Some(why) => {
                out.push(Ended {
                    user: s.user.clone(),
                    why,
                });
                false
            }
            None => true,
        });
        out.sort_by(|a, b| a.user.id.cmp(&b.user.id));
        out
    }

    /// A new roster is in force: ends the sessions of users no longer on it or whose role
    /// changed, and the guest codes (and their sessions) of coordinators who are no longer
    /// coordinators on it.
    pub(crate) fn sweep_roster(&self, roster: &Roster) -> Swept {
        const REMOVED: &str = "removed from the roster";
        const ROLE: &str = "role changed on the roster";
        const ISSUER: &str = "the issuing coordinator is no longer a coordinator on the roster";
        let coordinator = |id: &str| roster.get(id).is_some_and(|m| m.role == Role::Coordinator);
        let mut inner = self.lock();
        let mut codes = Vec::new();
        inner.codes.retain(|c| {
            if coordinator(&c.issued.issued_by) {
                true
            } else {
                codes.push((c.issued.clone(), ISSUER));
                false
            }
        });
        let sessions = Self::end_sessions(&mut inner, |s| match &s.user.issued_by {
            Some((by, _)) => (!coordinator(by)).then_some(ISSUER),
            None => match roster.get(&s.user.id) {
                None => Some(REMOVED),
                Some(m) if m.role != s.user.role => Some(ROLE),
                Some(_) => None,
            },
        });
        Swept { sessions, codes }
    }

    /// The mode in force is `mode`: ends the sessions and guest codes opened in a drill
    /// once a real emergency started (logins of the emergency are recorded as such). A
    /// drill's sessions survive standby (no data is shown there) and another drill.
    pub(crate) fn sweep_mode(&self, mode: Mode) -> Swept {
        const WHY: &str = "opened in a drill, and a real emergency started";
        let over = |d: Option<i64>| d.is_some() && mode == Mode::Emergency;
        let mut inner = self.lock();
        let mut codes = Vec::new();
        inner.codes.retain(|c| {
            if over(c.issued.drill) {
                codes.push((c.issued.clone(), WHY));
                false
            } else {
                true
            }
        });
        let sessions = Self::end_sessions(&mut inner, |s| over(s.drill).then_some(WHY));
        Swept { sessions, codes }
    }

    // ------------------------------------------------------------ pre-login CSRF

    /// A new pre-login cookie value: random token and issue time.
    pub fn new_pre(&self, now: DateTime<Utc>) -> String {
        format!("{}.{}", new_token(), now.timestamp())
    }

    /// Whether a pre-login cookie value is well-formed and young enough.
    pub(crate) fn pre_valid(&self, pre: &str, now: DateTime<Utc>) -> bool {
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
    pub(crate) fn check_pre(&self, pre: &str, csrf: &str, now: DateTime<Utc>) -> bool {
        let expected = self.pre_csrf(pre);
        self.pre_valid(pre, now) && !expected.is_empty() && ct_eq(&expected, csrf)
    }

    // ------------------------------------------------------------ lockout

    fn keys(user: &str, addr: IpAddr) -> [FailKey; 2] {
        [
            FailKey::User(user.to_owned()),
            FailKey::Address(address_key(addr)),
        ]
    }

    fn limit(&self, key: &FailKey) -> usize {
        match key {
            FailKey::User(_) => self.user_attempts,
            FailKey::Address(_) => self.address_attempts,
        }
    }

    fn what(key: &FailKey) -> LockedWhat {
        match key {
            FailKey::User(u) => LockedWhat::User(u.clone()),
            FailKey::Address(a) => LockedWhat::Address(*a),
        }
    }

    /// Reserves one login attempt for `user` from `addr` before its code is checked.
    /// Refused while either is locked out, or while attempts already being checked use up
    /// what is left before a lockout: at most the limit's worth of codes is ever checked.
    /// Settle the attempt with [`Attempt::failed`] or [`Attempt::succeeded`]; dropping it
    /// unsettled (the check could not run) gives the reservation back.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        user: &str,
        addr: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Attempt, Refusal> {
        let keys = Self::keys(user, addr);
        let window = self.lockout;
        let mut inner = self.lock();
        let mut locked: Option<(LockedWhat, DateTime<Utc>)> = None;
        let mut busy = false;
        for key in &keys {
            if let Some(f) = inner.failures.get_mut(key) {
                if let Some(until) = f.locked_until.filter(|t| *t > now) {
                    if locked.as_ref().is_none_or(|(_, u)| until > *u) {
                        locked = Some((Self::what(key), until));
                    }
                    continue;
                }
                f.locked_until = None;
                f.attempts.retain(|t| now - *t < window);
                if f.attempts.len() + f.in_flight >= self.limit(key) {
                    busy = true;
                }
            }
        }
        if let Some((what, until)) = locked {
            return Err(Refusal::Locked { what, until });
        }
        if busy {
            return Err(Refusal::Busy);
        }
        let missing = keys
            .iter()
            .filter(|k| !inner.failures.contains_key(*k))
            .count();
        if inner.failures.len() + missing > MAX_TRACKED {
            inner.failures.retain(|_, f| !f.idle(now, window));
            if inner.failures.len() + missing > MAX_TRACKED {
                // Tens of thousands of users and addresses failing within one lockout
                // window: an attack. Fail closed rather than stop counting.
                return Err(Refusal::Busy);
            }
        }
        for key in &keys {
            inner.failures.entry(key.clone()).or_default().in_flight += 1;
        }
        Ok(Attempt {
            sessions: self.clone(),
            keys,
            settled: false,
        })
    }

    fn release(&self, keys: &[FailKey; 2]) {
        let mut inner = self.lock();
        for key in keys {
            if let Some(f) = inner.failures.get_mut(key) {
                f.in_flight = f.in_flight.saturating_sub(1);
            }
        }
    }

    fn settle_failure(&self, keys: &[FailKey; 2], now: DateTime<Utc>) -> Failed {
        let window = self.lockout;
        let mut inner = self.lock();
        let mut out = Failed {
            started: Vec::new(),
            user_left: 0,
            address_left: 0,
        };
        for key in keys {
            let limit = self.limit(key);
            let f = inner.failures.entry(key.clone()).or_default();
            f.in_flight = f.in_flight.saturating_sub(1);
            let left = if f.locked_until.is_some_and(|t| t > now) {
                0
            } else {
                f.attempts.retain(|t| now - *t < window);
                f.attempts.push(now);
                if f.attempts.len() >= limit {
                    let until = now + self.lockout;
                    f.locked_until = Some(until);
                    f.attempts.clear();
                    out.started.push((Self::what(key), until));
                    0
                } else {
                    limit - f.attempts.len()
                }
            };
            match key {
                FailKey::User(_) => out.user_left = left,
                FailKey::Address(_) => out.address_left = left,
            }
        }
        out
    }

    /// A successful login clears the user's count (not the address's: one good code must
    /// not reset the count for guessing others' codes).
    fn settle_success(&self, keys: &[FailKey; 2]) {
        let mut inner = self.lock();
        for key in keys {
            if let Some(f) = inner.failures.get_mut(key) {
                f.in_flight = f.in_flight.saturating_sub(1);
                if matches!(key, FailKey::User(_)) {
                    f.attempts.clear();
                }
            }
        }
    }

    /// The lockouts in force, latest ending first.
    pub(crate) fn lockouts(&self, now: DateTime<Utc>) -> Vec<Lockout> {
        let inner = self.lock();
        let mut out: Vec<Lockout> = inner
            .failures
            .iter()
            .filter_map(|(k, f)| {
                f.locked_until.filter(|t| *t > now).map(|until| Lockout {
                    what: Self::what(k),
                    until,
                })
            })
            .collect();
        out.sort_by(|a, b| b.until.cmp(&a.until).then_with(|| a.what.cmp(&b.what)));
        out
    }

    /// Lifts a lockout in force (a coordinator's decision) and forgets its failures.
    /// Returns whether there was one.
    pub(crate) fn lift(&self, what: &LockedWhat, now: DateTime<Utc>) -> bool {
        let key = match what {
            LockedWhat::User(u) => FailKey::User(u.clone()),
            LockedWhat::Address(a) => FailKey::Address(address_key(*a)),
        };
        let mut inner = self.lock();
        match inner.failures.get_mut(&key) {
            Some(f) if f.locked_until.is_some_and(|t| t > now) => {
                f.locked_until = None;
                f.attempts.clear();
                true
            }
            _ => false,
        }
    }

    // ------------------------------------------------------------ guest codes

    /// A new random guest user id (`gast-` and four digits), not on the roster and not in
    /// use: ids that cannot be guessed from how many codes were issued.
    fn new_guest_id(inner: &Inner, roster: Option<&Roster>) -> Option<String> {
        (0..200).find_map(|_| {
            let n = 1000 + OsRng.next_u32() % 9000;
            let id = format!("gast-{n}");
            let taken = roster.is_some_and(|r| r.get(&id).is_some())
                || inner.codes.iter().any(|c| c.issued.user == id);
            (!taken).then_some(id)
        })
    }

    /// Issues a guest code (slow: hashes with argon2 in `mem`; call off the async threads,
    /// through the argon2 gate). Returns what was issued and the code itself, to be shown
    /// once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue_code(
        &self,
        mem: &mut crate::roster::Argon2Memory,
        name: &str,
        role: Role,
        by: &SessionUser,
        drill: Option<i64>,
        roster: Option<&Roster>,
        now: DateTime<Utc>,
    ) -> Result<(IssuedCode, Zeroizing<String>), GuestCodeError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_GUEST_NAME
            || name
                .chars()
                .any(|c| c.is_control() || crate::text::is_bidi(c))
        {
            return Err(GuestCodeError::Name);
        }
        if !matches!(role, Role::Nurse | Role::Physician) {
            return Err(GuestCodeError::Role);
        }
        let code = Zeroizing::new(format!("{:08}", OsRng.next_u64() % 100_000_000));
        let hash = crate::roster::hash_code_in(mem, &code)
            .map_err(|e| GuestCodeError::Hash(e.to_string()))?;
        let mut inner = self.lock();
        inner.codes.retain(|c| c.issued.expires_at > now);
        if inner.codes.len() >= MAX_GUEST_CODES {
            return Err(GuestCodeError::TooMany);
        }
        let user = Self::new_guest_id(&inner, roster).ok_or(GuestCodeError::TooMany)?;
        let issued = IssuedCode {
            user,
            name: name.to_owned(),
            role,
            issued_by: by.id.clone(),
            expires_at: now + self.code_lifetime,
            drill,
        };
        inner.codes.push(GuestCode {
            issued: issued.clone(),
            issued_by_name: by.name.clone(),
            hash,
        });
        Ok((issued, code))
    }

    /// Withdraws a guest code and ends the sessions opened with it. Returns the code and
    /// the ended sessions, or None when no such code is in force.
    pub(crate) fn revoke_code(&self, user: &str) -> Option<(IssuedCode, Vec<Ended>)> {
        const WHY: &str = "guest code revoked by a coordinator";
        let mut inner = self.lock();
        let at = inner.codes.iter().position(|c| c.issued.user == user)?;
        let code = inner.codes.remove(at);
        let ended = Self::end_sessions(&mut inner, |s| {
            (s.user.issued_by.is_some() && s.user.id == user).then_some(WHY)
        });
        Some((code.issued, ended))
    }

    /// Whether `user` is a guest user id in force.
    pub(crate) fn is_guest_user(&self, user: &str, now: DateTime<Utc>) -> bool {
        self.lock()
            .codes
            .iter()
            .any(|c| c.issued.user == user && c.issued.expires_at > now)
    }

    /// Checks a guest-code login (slow: argon2 in `mem`; call off the async threads).
    pub(crate) fn verify_guest_code(
        &self,
        mem: &mut crate::roster::Argon2Memory,
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
        (code.len() <= crate::roster::MAX_CODE && crate::roster::verify_code_in(mem, &hash, code))
            .then_some(su)
    }

    /// The guest codes in force, oldest first.
    pub(crate) fn issued_codes(&self, now: DateTime<Utc>) -> Vec<IssuedCode> {
        self.lock()
            .codes
            .iter()
            .filter(|c| c.issued.expires_at > now)
            .map(|c| c.issued.clone())
            .collect()
    }
}

/// One login attempt, reserved by [`Sessions::reserve`] before the code is checked.
#[must_use = "settle the attempt with failed() or succeeded()"]
pub(crate) struct Attempt {
    sessions: Arc<Sessions>,
    keys: [FailKey; 2],
    settled: bool,
}

impl Attempt {
    /// The code was wrong (or the user unknown): counts the failure.
    pub(crate) fn failed(mut self, now: DateTime<Utc>) -> Failed {
        self.settled = true;
        self.sessions.settle_failure(&self.keys, now)
    }

    /// The code was right: clears the user's failures.
    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        self.sessions.settle_success(&self.keys);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.sessions.release(&self.keys);
        }
    }
}

// ---------------------------------------------------------------- cookies

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

    fn mem() -> crate::roster::Argon2Memory {
        crate::roster::Argon2Memory::default()
    }

    fn sessions() -> Arc<Sessions> {
        Arc::new(Sessions::new(&cfg()))
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    fn user(id: &str, role: Role) -> SessionUser {
        SessionUser {
            id: id.into(),
            name: format!("Name of {id}"),
            role,
            issued_by: None,
        }
    }

    fn nurse() -> SessionUser {
        user("jbakker", Role::Nurse)
    }

    fn fail(s: &Arc<Sessions>, who: &str, ip: IpAddr, now: DateTime<Utc>) -> Failed {
        s.reserve(who, ip, now).unwrap().failed(now)
    }

    #[test]
    fn session_expires_after_idle_time_and_after_twelve_hours() {
        let s = Sessions::new(&cfg());
        let (tok, _, _) = s.create(nurse(), None, t(6, 0)).unwrap();
        assert!(matches!(s.lookup(&tok, t(6, 14)), Lookup::Valid(_)));
        assert!(matches!(s.lookup(&tok, t(6, 28)), Lookup::Valid(_)));
        assert!(matches!(s.lookup(&tok, t(6, 43)), Lookup::Expired(_)));
        assert!(matches!(s.lookup(&tok, t(6, 44)), Lookup::Unknown));
        // Active all the time, still ends after 12 hours.
        let (tok, _, _) = s.create(nurse(), None, t(6, 0)).unwrap();
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
        let (tok, _, _) = s.create(nurse(), None, t(6, 0)).unwrap();
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
    fn one_user_ends_only_her_own_oldest_session_never_anyone_elses() {
        let s = Sessions::new(&cfg());
        let (other, _, _) = s
            .create(user("ahmed", Role::Nurse), None, t(6, 19))
            .unwrap();
        let mut mine = Vec::new();
        for i in 0..MAX_SESSIONS_PER_USER as u32 {
            let (tok, _, evicted) = s.create(nurse(), None, t(6, 20 + i)).unwrap();
            assert!(evicted.is_none());
            mine.push(tok);
        }
        let (_, _, evicted) = s.create(nurse(), None, t(6, 30)).unwrap();
        assert_eq!(evicted.map(|e| e.created), Some(t(6, 20)));
        assert!(matches!(s.lookup(&mine[0], t(6, 31)), Lookup::Unknown));
        assert!(matches!(s.lookup(&mine[1], t(6, 31)), Lookup::Valid(_)));
        assert!(matches!(s.lookup(&other, t(6, 31)), Lookup::Valid(_)));
        assert_eq!(s.count(), MAX_SESSIONS_PER_USER + 1);
    }

    #[test]
    fn five_failures_lock_the_user_not_the_address_and_the_page_can_count_down() {
        let s = sessions();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        for (i, left) in (0..4).zip([4, 3, 2, 1]) {
            let f = fail(&s, "jbakker", ip, t(6, i));
            assert!(f.started.is_empty());
            assert_eq!(f.user_left, left);
            assert_eq!(f.address_left, 20 - (i as usize + 1));
        }
        let f = fail(&s, "jbakker", ip, t(6, 4));
        assert_eq!(
            f.started,
            vec![(LockedWhat::User("jbakker".into()), t(6, 19))]
        );
        assert_eq!(f.user_left, 0);
        assert_eq!(
            s.reserve("jbakker", ip, t(6, 5)).err(),
            Some(Refusal::Locked {
                what: LockedWhat::User("jbakker".into()),
                until: t(6, 19)
            })
        );
        // A colleague at the same PC is not locked out.
        s.reserve("ahmed", ip, t(6, 5)).unwrap().succeeded();
        // The user herself is locked out on every PC.
        let other_ip: IpAddr = "10.0.0.8".parse().unwrap();
        assert!(s.reserve("jbakker", other_ip, t(6, 5)).is_err());
        assert!(s.reserve("jbakker", ip, t(6, 19)).is_ok());
    }

    #[test]
    fn spraying_many_users_from_one_address_locks_the_address() {
        let s = sessions();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..19 {
            let f = fail(&s, &format!("user{i}"), ip, t(6, 0));
            assert!(f.started.is_empty(), "{i}");
        }
        let f = fail(&s, "user19", ip, t(6, 0));
        assert_eq!(f.started, vec![(LockedWhat::Address(ip), t(6, 15))]);
        assert!(matches!(
            s.reserve("fresh", ip, t(6, 1)),
            Err(Refusal::Locked {
                what: LockedWhat::Address(_),
                ..
            })
        ));
        assert!(
            s.reserve("fresh", "10.0.0.10".parse().unwrap(), t(6, 1))
                .is_ok()
        );
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_one_count() {
        let s = sessions();
        for i in 0..20u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, 7, i));
            let _ = fail(&s, &format!("u{i}"), ip, t(6, 0));
        }
        let rotated = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 1, 2, 3));
        assert!(matches!(
            s.reserve("x", rotated, t(6, 1)),
            Err(Refusal::Locked { .. })
        ));
        let next_net = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert!(s.reserve("x", next_net, t(6, 1)).is_ok());
        assert_eq!(
            address_key("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn concurrent_attempts_never_check_more_codes_than_the_limit() {
        let s = sessions();
        let now = t(6, 0);
        let mut held = Vec::new();
        let mut refused = 0;
        for i in 0..24u8 {
            let ip = IpAddr::from([10, 0, 1, i]);
            match s.reserve("jbakker", ip, now) {
                Ok(a) => held.push(a),
                Err(Refusal::Busy) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(held.len(), 5);
        assert_eq!(refused, 19);
        let outcomes: Vec<Failed> = held.into_iter().map(|a| a.failed(now)).collect();
        assert_eq!(outcomes.iter().filter(|f| !f.started.is_empty()).count(), 1);
        // A reservation given back unsettled (the check could not run) frees its place.
        let s = sessions();
        let a = s.reserve("x", IpAddr::from([10, 0, 2, 1]), now).unwrap();
        drop(a);
        for i in 0..5u8 {
            assert!(s.reserve("x", IpAddr::from([10, 0, 2, i]), now).is_ok());
        }
    }

    #[test]
    fn old_failures_fall_out_of_the_window_and_a_coordinator_can_lift_a_lockout() {
        let s = sessions();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        for i in 0..4 {
            let _ = fail(&s, "jbakker", ip, t(6, i));
        }
        // 20 minutes later the four old failures no longer count.
        assert!(fail(&s, "jbakker", ip, t(6, 24)).started.is_empty());
        for i in 25..29 {
            let _ = fail(&s, "jbakker", ip, t(6, i));
        }
        let what = LockedWhat::User("jbakker".into());
        assert_eq!(
            s.lockouts(t(6, 30)),
            vec![Lockout {
                what: what.clone(),
                until: t(6, 43)
            }]
        );
        assert!(s.lift(&what, t(6, 30)));
        assert!(!s.lift(&what, t(6, 30)));
        assert!(s.lockouts(t(6, 30)).is_empty());
        assert_eq!(fail(&s, "jbakker", ip, t(6, 31)).user_left, 4);
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
    fn guest_code_works_once_issued_and_not_after_expiry_or_revocation() {
        let s = Sessions::new(&cfg());
        let coord = user("coord", Role::Coordinator);
        let (issued, code) = s
            .issue_code(
                &mut mem(),
                "Piet Gast",
                Role::Nurse,
                &coord,
                None,
                None,
                t(6, 0),
            )
            .unwrap();
        assert!(issued.user.starts_with("gast-") && issued.user.len() == 9);
        assert_eq!(code.len(), 8);
        let u = s
            .verify_guest_code(&mut mem(), &issued.user, &code, t(7, 0))
            .unwrap();
        assert_eq!(u.issued_by, Some(("coord".into(), "Name of coord".into())));
        assert!(
            s.verify_guest_code(&mut mem(), &issued.user, "00000000", t(7, 0))
                .is_none()
                || *code == "00000000"
        );
        assert!(
            s.verify_guest_code(&mut mem(), &issued.user, &code, t(18, 1))
                .is_none()
        );
        assert_eq!(
            s.issue_code(
                &mut mem(),
                "X",
                Role::Coordinator,
                &coord,
                None,
                None,
                t(6, 0)
            )
            .unwrap_err(),
            GuestCodeError::Role
        );
        assert_eq!(
            s.issue_code(
                &mut mem(),
                " \u{7}",
                Role::Nurse,
                &coord,
                None,
                None,
                t(6, 0)
            )
            .unwrap_err(),
            GuestCodeError::Name
        );
        assert_eq!(
            s.issue_code(
                &mut mem(),
                "a\u{202E}b",
                Role::Nurse,
                &coord,
                None,
                None,
                t(6, 0)
            )
            .unwrap_err(),
            GuestCodeError::Name
        );
        let (tok, _, _) = s.create(u, None, t(7, 0)).unwrap();
        let (code2, ended) = s.revoke_code(&issued.user).unwrap();
        assert_eq!(code2.user, issued.user);
        assert_eq!(ended.len(), 1);
        assert!(matches!(s.lookup(&tok, t(7, 1)), Lookup::Unknown));
        assert!(
            s.verify_guest_code(&mut mem(), &issued.user, &code, t(7, 1))
                .is_none()
        );
        assert!(s.revoke_code(&issued.user).is_none());
    }

    #[test]
    fn guest_ids_are_not_sequential() {
        let s = Sessions::new(&cfg());
        let coord = user("coord", Role::Coordinator);
        let ids: Vec<String> = (0..6)
            .map(|_| {
                s.issue_code(&mut mem(), "G", Role::Nurse, &coord, None, None, t(6, 0))
                    .unwrap()
                    .0
                    .user
            })
            .collect();
        let mut uniq = ids.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), ids.len());
        assert_ne!(ids, uniq, "ids come out in issue order: {ids:?}");
    }

    fn roster(members: &[(&str, Role)]) -> Roster {
        Roster {
            ward: "A3".into(),
            staff: members
                .iter()
                .map(|(u, r)| crate::roster::StaffMember {
                    user: (*u).into(),
                    name: (*u).into(),
                    role: *r,
                    code_hash: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_new_roster_ends_removed_and_demoted_users_and_their_guest_codes() {
        let s = Sessions::new(&cfg());
        let now = t(6, 0);
        let coord = user("carla", Role::Coordinator);
        let (keep, _, _) = s.create(nurse(), None, now).unwrap();
        let (gone, _, _) = s.create(user("removed", Role::Nurse), None, now).unwrap();
        let (demoted, _, _) = s.create(coord.clone(), None, now).unwrap();
        let (issued, code) = s
            .issue_code(&mut mem(), "Gast", Role::Nurse, &coord, None, None, now)
            .unwrap();
        let guest = s
            .verify_guest_code(&mut mem(), &issued.user, &code, now)
            .unwrap();
        let (guest_tok, _, _) = s.create(guest, None, now).unwrap();
        let swept = s.sweep_roster(&roster(&[("jbakker", Role::Nurse), ("carla", Role::Nurse)]));
        let mut ended: Vec<(&str, &str)> = swept
            .sessions
            .iter()
            .map(|e| (e.user.id.as_str(), e.why))
            .collect();
        ended.sort();
        assert_eq!(ended.len(), 3, "{ended:?}");
        assert_eq!(swept.codes.len(), 1);
        for tok in [&gone, &demoted, &guest_tok] {
            assert!(matches!(s.lookup(tok, now), Lookup::Unknown));
        }
        assert!(matches!(s.lookup(&keep, now), Lookup::Valid(_)));
        assert!(s.issued_codes(now).is_empty());
        assert!(
            s.sweep_roster(&roster(&[("jbakker", Role::Nurse)]))
                .is_empty()
        );
    }

    #[test]
    fn drill_sessions_and_guest_codes_end_when_a_real_emergency_starts() {
        let s = Sessions::new(&cfg());
        let now = t(6, 0);
        let coord = user("carla", Role::Coordinator);
        let (drill_tok, _, _) = s.create(nurse(), Some(41), now).unwrap();
        let (real_tok, _, _) = s.create(coord.clone(), None, now).unwrap();
        let _ = s
            .issue_code(&mut mem(), "Gast", Role::Nurse, &coord, Some(41), None, now)
            .unwrap();
        assert!(s.sweep_mode(Mode::Drill).is_empty());
        assert!(s.sweep_mode(Mode::Standby).is_empty());
        let swept = s.sweep_mode(Mode::Emergency);
        assert_eq!(swept.sessions.len(), 1);
        assert_eq!(swept.codes.len(), 1);
        assert!(matches!(s.lookup(&drill_tok, now), Lookup::Unknown));
        assert!(matches!(s.lookup(&real_tok, now), Lookup::Valid(_)));
    }

    #[test]
    fn odd_user_ids_are_printed_quoted_and_without_control_characters() {
        assert_eq!(printable_id("jbakker"), "jbakker");
        let p = printable_id("x\n2026 login ok\u{1b}[31m");
        assert!(!p.chars().any(|c| c.is_control()), "{p}");
        assert!(p.starts_with('"'));
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

    #[test]
    fn host_prefixed_cookie_names_over_tls_only() {
        assert_eq!(session_cookie(true), "__Host-noodepd_session");
        assert_eq!(session_cookie(false), "noodepd_session");
        let c = set_cookie(session_cookie(true), "v", None, true);
        assert!(c.contains("Path=/") && c.contains("Secure") && !c.contains("Domain"));
    }
}
