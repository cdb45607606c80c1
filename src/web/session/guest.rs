//! Guest codes: a coordinator issues a short-lived code for a named colleague not on the
//! roster (random `gast-NNNN` id); only its argon2id hash is kept; it expires, can be
//! revoked, and ends with its issuer's coordinator rights.

use super::super::{IssuedCode, SessionUser};
use super::state::*;
use crate::roster::{Role, Roster};
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

impl Sessions {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::session::testkit::*;

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
}
