//! Login lockout: failed attempts counted per user and per client address, an attempt
//! reserved before its code is checked and settled after ([`Attempt`]), the list of
//! lockouts and lifting one.

use super::state::*;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::sync::Arc;

impl Sessions {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::session::testkit::*;
    use std::net::Ipv6Addr;

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
}
