//! Login and logout: the login page, the lockout and its messages, the argon2-gated code
//! check, session creation (no fixation), CSRF on every POST. The access log must be
//! writable: a failed attempt that cannot be recorded is not made.

use super::request::*;
use super::respond::*;
use super::state::*;
use crate::audit::{Action, EventKind, Outcome};
use crate::config::Language;
use crate::mode::Mode;
use crate::roster::Role;
use crate::web::SessionUser;
use crate::web::hash_gate::{self};
use crate::web::pages;
use crate::web::session::{self, LockedWhat, Refusal};
use chrono::{DateTime, Utc};
use hyper::StatusCode;
use std::sync::Arc;

/// The login form, bound to a (new or still valid) pre-login cookie.
pub(super) fn login_get(
    st: &WebState,
    req: &Req,
    view: &mut View,
    status: StatusCode,
    message: Option<&str>,
) -> Resp {
    let pre = match session::cookie(&req.headers, st.pre_cookie()) {
        Some(p) if st.sessions.pre_valid(p, view.now) => p.to_owned(),
        _ => {
            let p = st.sessions.new_pre(view.now);
            view.cookies.push(session::set_cookie(
                st.pre_cookie(),
                &p,
                Some(session::PRE_LIFETIME.as_secs()),
                st.tls,
            ));
            p
        }
    };
    view.csrf = st.sessions.pre_csrf(&pre);
    let no_roster = msg(
        view.lang,
        "Inloggen is nog niet mogelijk: dit apparaat heeft nog geen personeelslijst ontvangen. Waarschuw ICT.",
        "Login is not possible yet: this appliance has not received a staff roster. Call IT.",
    );
    let message = match message {
        Some(m) => Some(m),
        None if st.shared.roster().is_none() => Some(no_roster),
        None => None,
    };
    html(
        st,
        view,
        status,
        pages::login_page(&view.ctx(&st.shared), message),
    )
}

/// The login form again with a message and a status (and `Retry-After` when given).
pub(super) fn login_refused(
    st: &WebState,
    req: &Req,
    view: &mut View,
    status: StatusCode,
    message: &str,
    retry_after: Option<u64>,
) -> Resp {
    let r = login_get(st, req, view, status, Some(message));
    match retry_after {
        Some(secs) => r.retry_after(secs),
        None => r,
    }
}

/// "Locked until HH:MM" for the login page, naming what is locked.
pub(super) fn locked_message(
    st: &WebState,
    lang: Language,
    what: &LockedWhat,
    until: DateTime<Utc>,
) -> String {
    let t = crate::timefmt::time_of_day(until, st.shared.config.timezone);
    match (lang, what) {
        (Language::Nl, LockedWhat::User(_)) => format!(
            "Te veel mislukte pogingen voor deze gebruikersnaam: inloggen ermee is geblokkeerd tot {t}. Een coördinator kan de blokkade opheffen; vraag zo nodig een gastcode."
        ),
        (Language::Nl, LockedWhat::Address(_)) => format!(
            "Te veel mislukte pogingen vanaf deze werkplek: inloggen vanaf hier is geblokkeerd tot {t}. Gebruik een andere werkplek of vraag een coördinator de blokkade op te heffen."
        ),
        (Language::En, LockedWhat::User(_)) => format!(
            "Too many failed attempts for this user name: logging in with it is blocked until {t}. A coordinator can lift the block; ask for a guest code if needed."
        ),
        (Language::En, LockedWhat::Address(_)) => format!(
            "Too many failed attempts from this workstation: logging in from here is blocked until {t}. Use another workstation or ask a coordinator to lift the block."
        ),
    }
}

/// "Wrong user name or code", with how many attempts are left before a lockout.
pub(super) fn wrong_code_message(st: &WebState, lang: Language, f: &session::Failed) -> String {
    let minutes = st.shared.config.web.lockout_duration.as_secs() / 60;
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    if f.address_left < f.user_left {
        let n = f.address_left;
        match lang {
            Language::Nl => format!(
                "Gebruikersnaam of code onjuist. Nog {n} {} vanaf deze werkplek; daarna is inloggen hier {minutes} minuten geblokkeerd.",
                plural(n, "poging", "pogingen")
            ),
            Language::En => format!(
                "Wrong user name or code. {n} {} left from this workstation; then logging in here is blocked for {minutes} minutes.",
                plural(n, "attempt", "attempts")
            ),
        }
    } else {
        let n = f.user_left;
        match lang {
            Language::Nl => format!(
                "Gebruikersnaam of code onjuist. Nog {n} {} voor deze gebruikersnaam; daarna is inloggen ermee {minutes} minuten geblokkeerd.",
                plural(n, "poging", "pogingen")
            ),
            Language::En => format!(
                "Wrong user name or code. {n} {} left for this user name; then logging in with it is blocked for {minutes} minutes.",
                plural(n, "attempt", "attempts")
            ),
        }
    }
}

pub(super) async fn login_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let lang = view.lang;
    let form = match parse_form(req) {
        Ok(f) => f,
        Err(s) => {
            return login_get(
                st,
                req,
                view,
                s,
                Some(msg(lang, "Ongeldig formulier.", "Invalid form.")),
            );
        }
    };
    let field = |n: &str| form.get(n).map(String::as_str).unwrap_or("");
    let pre = session::cookie(&req.headers, st.pre_cookie()).unwrap_or("");
    if !st.sessions.check_pre(pre, field("csrf"), view.now) {
        return login_get(
            st,
            req,
            view,
            StatusCode::FORBIDDEN,
            Some(msg(
                lang,
                "Het formulier was verlopen. Probeer het opnieuw.",
                "The form had expired. Please try again.",
            )),
        );
    }
    let Some(roster) = st.shared.roster() else {
        return login_get(st, req, view, StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let audit_down = msg(
        lang,
        "Inloggen kan nu niet: het inzagelog kan niet worden bijgewerkt. Waarschuw ICT en gebruik de papieren procedure.",
        "Login is not possible now: the access log cannot be written. Call IT and use the paper procedure.",
    );
    // A failed attempt that cannot be recorded is not made: no code is checked while the
    // access log is down (patient pages are refused then anyway).
    if st
        .shared
        .status
        .has_problem(crate::status::code::AUDIT_WRITE_FAILED)
    {
        return login_refused(
            st,
            req,
            view,
            StatusCode::SERVICE_UNAVAILABLE,
            audit_down,
            Some(5),
        );
    }
    let user: String = field("user").trim().chars().take(64).collect();
    let code = zeroize::Zeroizing::new(field("code").trim().to_owned());
    let peer = req.peer.to_canonical();
    let now = view.now;
    let guest = st.sessions.is_guest_user(&user, now);
    // As the audit log records an attempt: a user id as typed (made printable), with the
    // roster's name and role, "guest" for a guest code, "unknown" otherwise.
    let attempted = SessionUser {
        id: session::printable_id(&user).trim_matches('"').to_owned(),
        name: roster
            .get(&user)
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        role: roster.get(&user).map(|m| m.role).unwrap_or(Role::Nurse),
        issued_by: None,
    };
    let attempted_role = match roster.get(&user) {
        Some(m) => m.role.as_str(),
        None if guest => "guest",
        None => "unknown",
    };
    let failed_event = |detail: String, outcome: Outcome, kind: EventKind| {
        let mut ev = event(
            st,
            &attempted,
            kind,
            Action::E,
            outcome,
            vec![],
            detail,
            peer,
            &view.mode,
        );
        if let Some(u) = ev.user.as_mut() {
            u.role = attempted_role.into();
        }
        ev
    };
    let attempt = match st.sessions.reserve(&user, peer, now) {
        Ok(a) => a,
        Err(Refusal::Locked { what, until }) => {
            crate::status::Metrics::inc(&st.shared.metrics.logins_failed);
            let ev = failed_event(
                format!(
                    "login refused: {what} locked out until {}",
                    until.to_rfc3339()
                ),
                Outcome::MinorFailure,
                EventKind::LoginFailed,
            );
            if audit(st, ev).await.is_err() {
                return login_refused(
                    st,
                    req,
                    view,
                    StatusCode::SERVICE_UNAVAILABLE,
                    audit_down,
                    Some(5),
                );
            }
            let m = locked_message(st, lang, &what, until);
            return login_refused(st, req, view, StatusCode::TOO_MANY_REQUESTS, &m, None);
        }
        Err(Refusal::Busy) => {
            let m = msg(
                lang,
                "Er lopen al inlogpogingen voor deze gebruikersnaam of vanaf deze werkplek. Wacht even en probeer het opnieuw.",
                "Login attempts for this user name or from this workstation are already being checked. Wait a moment and try again.",
            );
            return login_refused(
                st,
                req,
                view,
                StatusCode::TOO_MANY_REQUESTS,
                m,
                Some(hash_gate::RETRY_AFTER_SECS),
            );
        }
    };
    // argon2 is slow and memory-hungry by design: off the async threads, a few at a time.
    let verified = {
        let st2 = st.clone();
        let user2 = user.clone();
        let code2 = code.clone();
        st.gate
            .run(move |mem| {
                if guest {
                    st2.sessions.verify_guest_code(mem, &user2, &code2, now)
                } else {
                    roster.verify_in(mem, &user2, &code2).map(|m| SessionUser {
                        id: m.user.clone(),
                        name: m.name.clone(),
                        role: m.role,
                        issued_by: None,
                    })
                }
            })
            .await
    };
    let verified = match verified {
        Ok(v) => v,
        Err(hash_gate::Busy) => {
            // Not checked: the reservation is given back when `attempt` drops.
            drop(attempt);
            let m = msg(
                lang,
                "Het is even te druk om in te loggen. Probeer het over een paar seconden opnieuw.",
                "Too many logins at once. Please try again in a few seconds.",
            );
            return login_refused(
                st,
                req,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                m,
                Some(hash_gate::RETRY_AFTER_SECS),
            );
        }
    };
    let Some(user_ok) = verified else {
        crate::status::Metrics::inc(&st.shared.metrics.logins_failed);
        let failed = attempt.failed(now);
        let mut logged = audit(
            st,
            failed_event(
                format!(
                    "login failed: unknown user or wrong code; {} attempt(s) left for the user, {} from the address",
                    failed.user_left, failed.address_left
                ),
                Outcome::MinorFailure,
                EventKind::LoginFailed,
            ),
        )
        .await
        .is_ok();
        let mut locked = None;
        for (what, end) in &failed.started {
            crate::status::Metrics::inc(&st.shared.metrics.lockouts);
            let detail = format!("{what} locked out until {}", end.to_rfc3339());
            // For operators: a brute-force attempt is worth a journal line (no codes here;
            // the user id made printable, so it cannot forge log lines).
            log::warn!("login {detail} (from {peer})");
            logged &= audit(
                st,
                failed_event(detail, Outcome::SeriousFailure, EventKind::Lockout),
            )
            .await
            .is_ok();
            if locked.as_ref().is_none_or(|(_, u)| end > u) {
                locked = Some((what.clone(), *end));
            }
        }
        if !logged {
            return login_refused(
                st,
                req,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                audit_down,
                Some(5),
            );
        }
        let m = match locked {
            Some((what, until)) => locked_message(st, lang, &what, until),
            None => wrong_code_message(st, lang, &failed),
        };
        return login_refused(st, req, view, StatusCode::UNAUTHORIZED, &m, None);
    };
    attempt.succeeded();
    let detail = match &user_ok.issued_by {
        Some((id, _)) => format!("login with guest code issued by {id}"),
        None => "login with personal downtime code".into(),
    };
    let ev = event(
        st,
        &user_ok,
        EventKind::Login,
        Action::E,
        Outcome::Success,
        vec![],
        detail,
        peer,
        &view.mode,
    );
    if let Err(r) = audit_or_refuse(st, view, ev).await {
        return *r;
    }
    let drill = (view.mode.mode == Mode::Drill)
        .then_some(view.mode.drill_id)
        .flatten();
    let (token, _, evicted) = match st.sessions.create(user_ok.clone(), drill, now) {
        Ok(x) => x,
        Err(session::SessionsFull) => {
            log::error!("login refused: the session table is full of live sessions");
            let m = msg(
                lang,
                "Er zijn te veel sessies open. Probeer het later opnieuw of waarschuw ICT.",
                "Too many sessions are open. Try again later or call IT.",
            );
            return login_refused(st, req, view, StatusCode::SERVICE_UNAVAILABLE, m, Some(60));
        }
    };
    crate::status::Metrics::inc(&st.shared.metrics.logins);
    if evicted.is_some() {
        let ev = event(
            st,
            &user_ok,
            EventKind::SessionEnded,
            Action::E,
            Outcome::Success,
            vec![],
            format!(
                "session ended: more than {} sessions of this user",
                session::MAX_SESSIONS_PER_USER
            ),
            peer,
            &view.mode,
        );
        let _ = audit(st, ev).await;
    }
    // No fixation: whatever session cookie came with the request is ended.
    if let Some(old) = session::cookie(&req.headers, st.session_cookie()) {
        st.sessions.remove(old);
    }
    Resp::redirect("/")
        .cookie(&session::set_cookie(
            st.session_cookie(),
            &token,
            None,
            st.tls,
        ))
        .cookie(&session::clear_cookie(st.pre_cookie(), st.tls))
}

pub(super) async fn logout(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let Some(s) = view.session.clone() else {
        return with_cookies(view, Resp::redirect("/login"));
    };
    let form = match parse_form(req) {
        Ok(f) => f,
        Err(code) => return error_resp(st, view, code, "invalid form"),
    };
    if !session_csrf_ok(view, &form) {
        return csrf_refused(st, view);
    }
    let ev = event(
        st,
        &s.user,
        EventKind::Logout,
        Action::E,
        Outcome::Success,
        vec![],
        "logout".into(),
        req.peer,
        &view.mode,
    );
    // Logging out always works: a failed append is counted and logged.
    let _ = audit(st, ev).await;
    if let Some(tok) = session::cookie(&req.headers, st.session_cookie()) {
        st.sessions.remove(tok);
    }
    Resp::redirect("/login").cookie(&session::clear_cookie(st.session_cookie(), st.tls))
}
