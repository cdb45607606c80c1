//! The web server's state ([`WebState`]: the app, sessions, the argon2 gate, the per-generation
//! BSN index) and one request's view of it ([`View`]: time, mode, data, language, session),
//! the session sweep after a roster or mode change, and the web's one audited write
//! ([`audit`], through `App::audit`: every failure reaches the status).

use super::request::*;
use crate::app::App;
use crate::audit::{AccessPoint, Action, Event, EventKind, Outcome, PatientRef, Receipt, UserRef};
use crate::config::Language;
use crate::mode::{Mode, ModeState};
use crate::record::Text;
use crate::roster::Role;
use crate::store::Generation;
use crate::web::SessionUser;
use crate::web::hash_gate::HashGate;
use crate::web::pages::PageCtx;
use crate::web::session::{self, Lookup, Session, Sessions, Swept};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Patient key → BSN, for the generation with this sequence and snapshot file.
pub(super) type BsnIndex = (u64, String, Arc<HashMap<String, Option<String>>>);

/// What the session table was last swept against: the roster in force (by identity) and
/// the mode with its drill id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SweptFor {
    pub(super) roster: Option<usize>,
    pub(super) mode: Mode,
    pub(super) drill: Option<i64>,
}

/// The web server's state: the daemon's shared state plus the login state.
pub struct WebState {
    /// The running appliance's state (config, store, mode, access log, status).
    pub shared: Arc<App>,
    /// Sessions, lockouts and guest codes.
    pub sessions: Arc<Sessions>,
    /// At most a few argon2 checks at once.
    pub gate: HashGate,
    /// True when connections are TLS (cookies get `Secure` and `__Host-`, responses HSTS).
    pub tls: bool,
    /// Patient key → BSN of the served generation, for audit entries of list views.
    pub(super) bsn_index: Mutex<Option<BsnIndex>>,
    pub(super) swept_for: Mutex<Option<SweptFor>>,
    /// The roster `swept_for` refers to, held so its address stays unique.
    pub(super) roster_held: Mutex<Option<Arc<crate::roster::Roster>>>,
}

impl WebState {
    /// Builds the state for one server run.
    pub fn new(shared: Arc<App>, tls: bool) -> WebState {
        let sessions = Arc::new(Sessions::new(&shared.config.web));
        WebState {
            shared,
            sessions,
            gate: HashGate::default(),
            tls,
            bsn_index: Mutex::new(None),
            swept_for: Mutex::new(None),
            roster_held: Mutex::new(None),
        }
    }

    pub(super) fn session_cookie(&self) -> &'static str {
        session::session_cookie(self.tls)
    }

    pub(super) fn pre_cookie(&self) -> &'static str {
        session::pre_cookie(self.tls)
    }
}

/// Everything one page request needs, owned, so a [`PageCtx`] can borrow it.
pub(super) struct View {
    pub(super) now: DateTime<Utc>,
    pub(super) mode: ModeState,
    pub(super) generation: Option<Arc<Generation>>,
    pub(super) lang: Language,
    pub(super) session: Option<Session>,
    /// The token forms on this page carry (session CSRF, or the login form's).
    pub(super) csrf: String,
    pub(super) path: String,
    /// Set-Cookie values to add to whatever answer this view produces.
    pub(super) cookies: Vec<String>,
}

impl View {
    pub(super) fn ctx<'a>(&'a self, shared: &'a App) -> PageCtx<'a> {
        PageCtx {
            lang: self.lang,
            tz: shared.config.timezone,
            now: self.now,
            ward_name: &shared.config.ward_name,
            appliance_id: &shared.config.appliance_id,
            mode: &self.mode,
            data: self.generation.as_deref().map(Generation::meta),
            stale_after: shared.config.data.stale_after,
            user: self.session.as_ref().map(|s| &s.user),
            csrf: &self.csrf,
            path: &self.path,
        }
    }

    pub(super) fn user(&self) -> Option<&SessionUser> {
        self.session.as_ref().map(|s| &s.user)
    }
}

/// Builds the view for a page request: mode, data, language, session.
pub(super) async fn view(st: &Arc<WebState>, req: &Req, now: DateTime<Utc>) -> View {
    let shared = &st.shared;
    let mut cookies = Vec::new();
    let q = query_params(req.query.as_deref());
    let parse_lang = |s: &str| match s {
        "nl" => Some(Language::Nl),
        "en" => Some(Language::En),
        _ => None,
    };
    let lang = match q.get("lang").and_then(|l| parse_lang(l)) {
        Some(l) => {
            let v = if l == Language::En { "en" } else { "nl" };
            cookies.push(session::set_cookie(
                "lang",
                v,
                Some(365 * 24 * 3600),
                st.tls,
            ));
            l
        }
        None => session::cookie(&req.headers, "lang")
            .and_then(parse_lang)
            .unwrap_or(shared.config.language),
    };
    let mode = shared.mode.current(now);
    sweep(st, &mode).await;
    let mut session = None;
    if let Some(tok) = session::cookie(&req.headers, st.session_cookie()) {
        match st.sessions.lookup(tok, now) {
            Lookup::Valid(s) => session = Some(s),
            Lookup::Expired(s) => {
                let ev = event(
                    st,
                    &s.user,
                    EventKind::SessionExpired,
                    Action::E,
                    Outcome::Success,
                    vec![],
                    "session ended by idle timeout or maximum duration".into(),
                    req.peer,
                    &mode,
                );
                // Not patient data: a failure is reported (status, log), not fatal.
                let _ = audit(st, ev).await;
                cookies.push(session::clear_cookie(st.session_cookie(), st.tls));
            }
            Lookup::Unknown => cookies.push(session::clear_cookie(st.session_cookie(), st.tls)),
        }
    }
    View {
        now,
        generation: shared.store.current(),
        lang,
        csrf: session.as_ref().map(|s| s.csrf.clone()).unwrap_or_default(),
        session,
        mode,
        path: req.path.clone(),
        cookies,
    }
}

/// Ends the sessions and guest codes that the roster or the mode in force no longer allow
/// (see [`Sessions::sweep_roster`], [`Sessions::sweep_mode`]), when either changed since
/// the last sweep, and records each in the audit log. The sweep itself runs before any
/// session of this request is looked up.
pub(super) async fn sweep(st: &Arc<WebState>, mode: &ModeState) {
    let roster = st.shared.roster();
    let drill = (mode.mode == Mode::Drill)
        .then_some(mode.drill_id)
        .flatten();
    let swept = {
        let mut last = match st.swept_for.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let same_roster = |r: Option<usize>| r == roster.as_ref().map(|r| Arc::as_ptr(r) as usize);
        if let Some(l) = last.as_ref()
            && same_roster(l.roster)
            && l.mode == mode.mode
            && l.drill == drill
        {
            return;
        }
        let roster_changed = last.as_ref().is_none_or(|l| !same_roster(l.roster));
        let mut swept = Swept::default();
        if roster_changed && let Some(r) = &roster {
            swept = st.sessions.sweep_roster(r);
        }
        let by_mode = st.sessions.sweep_mode(mode.mode);
        swept.sessions.extend(by_mode.sessions);
        swept.codes.extend(by_mode.codes);
        *last = Some(SweptFor {
            roster: roster.as_ref().map(|r| Arc::as_ptr(r) as usize),
            mode: mode.mode,
            drill,
        });
        // Keep the roster alive while it is the one compared against, so its address
        // cannot be reused by a later roster.
        *lock_any(&st.roster_held) = roster.clone();
        swept
    };
    if swept.is_empty() {
        return;
    }
    log::info!(
        "ended {} session(s) and {} guest code(s) after a roster or mode change",
        swept.sessions.len(),
        swept.codes.len()
    );
    audit_swept(st, swept, mode).await;
}

/// The audit entries for what a sweep or a revocation ended.
pub(super) async fn audit_swept(st: &Arc<WebState>, swept: Swept, mode: &ModeState) {
    for e in swept.sessions {
        let ev = Event::new(
            EventKind::SessionEnded,
            Action::E,
            Outcome::Success,
            mode.mode.as_str(),
            format!("session ended: {}", e.why),
        )
        .by(Some(user_ref(&e.user)), responsible(&e.user));
        // Not patient data: a failure is reported (status, log), not fatal.
        let _ = audit(st, ev).await;
    }
    for (c, why) in swept.codes {
        let ev = Event::new(
            EventKind::GuestCodeRevoked,
            Action::D,
            Outcome::Success,
            mode.mode.as_str(),
            format!(
                "guest code for {} ({}, {}) withdrawn: {why}",
                c.user,
                crate::text::printable(&c.name),
                c.role.as_str()
            ),
        )
        .by(
            None,
            Some(UserRef {
                id: c.issued_by.clone(),
                name: String::new(),
                role: Role::Coordinator.as_str().into(),
            }),
        );
        let _ = audit(st, ev).await;
    }
}

pub(super) fn lock_any<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

pub(super) fn responsible(user: &SessionUser) -> Option<UserRef> {
    user.issued_by.as_ref().map(|(id, name)| UserRef {
        id: id.clone(),
        name: name.clone(),
        role: Role::Coordinator.as_str().into(),
    })
}

pub(super) fn user_ref(u: &SessionUser) -> UserRef {
    UserRef {
        id: u.id.clone(),
        name: u.name.clone(),
        role: u.role.as_str().into(),
    }
}

/// Where a request came from: the client address and, when the config names it, the
/// workstation (`[workstations]`; the box's own kiosk browser is on loopback).
pub(super) fn access_point(st: &WebState, peer: IpAddr) -> AccessPoint {
    let peer = peer.to_canonical();
    let workstation = st
        .shared
        .config
        .workstations
        .get(&peer)
        .cloned()
        .or_else(|| peer.is_loopback().then(|| "kiosk on this box".to_owned()));
    AccessPoint {
        address: peer.to_string(),
        workstation,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn event(
    st: &WebState,
    user: &SessionUser,
    kind: EventKind,
    action: Action,
    outcome: Outcome,
    patients: Vec<PatientRef>,
    detail: String,
    peer: IpAddr,
    mode: &ModeState,
) -> Event {
    Event::new(kind, action, outcome, mode.mode.as_str(), detail)
        .by(Some(user_ref(user)), responsible(user))
        .from(access_point(st, peer))
        .concerning(patients)
}

/// The web's one audited write: appends off the async threads through [`App::audit`]
/// (which reports any failure to the status and the log) and returns the proof the pages
/// with patient data require.
pub(super) async fn audit(st: &Arc<WebState>, ev: Event) -> Result<Receipt, ()> {
    let shared = st.shared.clone();
    match tokio::task::spawn_blocking(move || shared.audit(ev)).await {
        Ok(Ok(receipt)) => Ok(receipt),
        Ok(Err(_)) => Err(()),
        Err(_) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
            log::error!("audit log append task failed");
            Err(())
        }
    }
}

impl WebState {
    /// Patient key → BSN for the generation (cached per generation).
    pub(super) fn bsns(&self, g: &Generation) -> Arc<HashMap<String, Option<String>>> {
        let id = (g.meta().sequence, g.meta().snapshot_file.clone());
        let mut cache = match self.bsn_index.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some((seq, file, map)) = cache.as_ref()
            && *seq == id.0
            && *file == id.1
        {
            return map.clone();
        }
        let map: HashMap<String, Option<String>> = match g.all_patients() {
            Ok(all) => all
                .into_iter()
                .map(|p| (p.key.into_string(), p.identity.bsn.map(Text::into_string)))
                .collect(),
            Err(e) => {
                log::error!("cannot read patients for the audit index: {e}");
                HashMap::new()
            }
        };
        let map = Arc::new(map);
        *cache = Some((id.0, id.1, map.clone()));
        map
    }
}
