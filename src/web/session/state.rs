//! The login state's vocabulary: the limits, the session and lockout types, the guest
//! code record and the one table behind a mutex ([`Sessions`]) with what every part needs
//! (its constructor, the lock, session expiry, ending sessions). The jobs on it are in
//! `sessions`, `pre`, `lockout` and `guest`.

use super::super::{IssuedCode, SessionUser};
use crate::config::WebConfig;
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;
use zeroize::Zeroizing;

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
pub(super) enum FailKey {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
pub(super) struct Failures {
    /// Times of recent failed attempts (within the lockout window; fewer than the limit).
    pub(super) attempts: Vec<DateTime<Utc>>,
    /// Attempts reserved and not yet settled.
    pub(super) in_flight: usize,
    pub(super) locked_until: Option<DateTime<Utc>>,
}

impl Failures {
    pub(super) fn idle(&self, now: DateTime<Utc>, window: chrono::Duration) -> bool {
        self.in_flight == 0
            && self.locked_until.is_none_or(|t| t <= now)
            && self.attempts.iter().all(|t| now - *t >= window)
    }
}

pub(super) struct GuestCode {
    pub(super) issued: IssuedCode,
    pub(super) issued_by_name: String,
    pub(super) hash: String,
}

pub(super) struct Inner {
    pub(super) sessions: HashMap<[u8; 32], Session>,
    pub(super) failures: HashMap<FailKey, Failures>,
    pub(super) codes: Vec<GuestCode>,
}

/// The login state of the running server.
pub struct Sessions {
    pub(super) secret: Zeroizing<[u8; 32]>,
    pub(super) idle: chrono::Duration,
    pub(super) absolute: chrono::Duration,
    pub(super) user_attempts: usize,
    pub(super) address_attempts: usize,
    pub(super) lockout: chrono::Duration,
    pub(super) code_lifetime: chrono::Duration,
    pub(super) inner: Mutex<Inner>,
}

pub(super) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(12))
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

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub(super) fn expired(&self, s: &Session, now: DateTime<Utc>) -> bool {
        now - s.last_seen >= self.idle || now - s.created >= self.absolute
    }

    /// Ends every session `end` picks (with its reason) and returns them.
    pub(super) fn end_sessions(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_user_ids_are_printed_quoted_and_without_control_characters() {
        assert_eq!(printable_id("jbakker"), "jbakker");
        let p = printable_id("x\n2026 login ok\u{1b}[31m");
        assert!(!p.chars().any(|c| c.is_control()), "{p}");
        assert!(p.starts_with('"'));
    }
}
