//! Secrets as strings: fresh random tokens, their constant-time comparison, the hash the
//! session table keys on, and the shape a cookie's token must have.

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

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

pub(super) fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A token as the cookie may carry it: 64 lower-case hex digits.
pub(super) fn plausible_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
