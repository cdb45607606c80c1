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
//!
//! Split by job: `state` (the limits, the types and the table), `token`, `sessions`,
//! `pre` (pre-login CSRF), `lockout`, `guest` (guest codes), `cookie`. This file only
//! names them.

mod cookie;
mod guest;
mod lockout;
mod pre;
mod sessions;
mod state;
#[cfg(test)]
mod testkit;
mod token;

pub(crate) use cookie::{clear_cookie, cookie, pre_cookie, session_cookie, set_cookie};
pub(crate) use state::{
    Failed, GuestCodeError, Lookup, MAX_SESSIONS_PER_USER, PRE_LIFETIME, Refusal, Swept,
    address_key, printable_id,
};
pub use state::{LockedWhat, Lockout, Session, Sessions, SessionsFull};
pub(crate) use token::ct_eq;
