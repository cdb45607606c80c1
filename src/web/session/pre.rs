//! Pre-login CSRF: the login form's token is an HMAC of the short-lived pre-login cookie
//! under the per-process secret, so nothing is stored per visitor.

use super::state::*;
use super::token::*;
use chrono::{DateTime, Utc};
use hkdf::hmac::{Hmac, Mac};
use sha2::Sha256;

impl Sessions {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::session::testkit::*;

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
}
