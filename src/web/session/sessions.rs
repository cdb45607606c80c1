//! The session table's job: open a session (bounded per user and in all), look one up,
//! end it, count them, and sweep the sessions a new roster or a mode change no longer
//! allows.

use super::super::SessionUser;
use super::state::*;
use super::token::*;
use crate::mode::Mode;
use crate::roster::{Role, Roster};
use chrono::{DateTime, Utc};

impl Sessions {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::session::testkit::*;

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
}
