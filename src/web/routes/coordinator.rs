//! The coordinator's actions, each recorded before it takes effect: the coordinator page,
//! mode switches, guest codes (issue, revoke), lifting a lockout, the drill report.

use super::request::*;
use super::respond::*;
use super::state::*;
use crate::audit::{Action, EventKind, Outcome};
use crate::config::Language;
use crate::mode::{Mode, ModeError, Switcher};
use crate::roster::Role;
use crate::web::hash_gate::{self};
use crate::web::pages;
use crate::web::session::{self, Swept};
use crate::web::{IssuedCode, SessionUser};
use hyper::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn coordinator(
    st: &WebState,
    view: &View,
    status: StatusCode,
    new_code: Option<(&IssuedCode, &str)>,
    message: Option<&str>,
) -> Resp {
    match view.user() {
        None => with_cookies(view, Resp::redirect("/login")),
        Some(u) if u.role != Role::Coordinator => error_resp(
            st,
            view,
            StatusCode::FORBIDDEN,
            msg(
                view.lang,
                "Alleen een coördinator kan de modus wijzigen, gastcodes uitgeven en blokkades opheffen.",
                "Only a coordinator can change the mode, issue guest codes and lift lockouts.",
            ),
        ),
        Some(_) => {
            let codes = st.sessions.issued_codes(view.now);
            let lockouts = st.sessions.lockouts(view.now);
            html(
                st,
                view,
                status,
                pages::coordinator_page(
                    &view.ctx(&st.shared),
                    &codes,
                    &lockouts,
                    new_code,
                    message,
                ),
            )
        }
    }
}

/// The report of the latest drill (running or ended), for coordinators. Producing it stores
/// it (for comparison with later drills) and logs a `drill_report` audit entry.
pub(super) async fn drill_report(st: &Arc<WebState>, view: &View) -> Resp {
    match view.user() {
        None => return with_cookies(view, Resp::redirect("/login")),
        Some(u) if u.role != Role::Coordinator => {
            return error_resp(
                st,
                view,
                StatusCode::FORBIDDEN,
                msg(
                    view.lang,
                    "Alleen een coördinator kan het oefenverslag bekijken.",
                    "Only a coordinator can view the drill report.",
                ),
            );
        }
        Some(_) => {}
    }
    let shared = st.shared.clone();
    let report = tokio::task::spawn_blocking(move || shared.drill_report()).await;
    match report {
        Ok(Ok(r)) => {
            let ctx = view.ctx(&st.shared);
            let title = msg(view.lang, "Oefenverslag", "Drill report");
            let body = crate::audit::drill::render_html(&r, view.lang, st.shared.config.timezone);
            let page = pages::layout::page(
                &ctx,
                title,
                pages::layout::Kind::Screen,
                maud::html! { h1 { (title) } (body) },
            );
            html(st, view, StatusCode::OK, page)
        }
        Ok(Err(crate::audit::AuditError::NoDrill(_))) => error_resp(
            st,
            view,
            StatusCode::NOT_FOUND,
            msg(
                view.lang,
                "Er is nog geen oefening gehouden op dit apparaat.",
                "No drill has been held on this appliance yet.",
            ),
        ),
        Ok(Err(e)) => {
            log::error!("drill report: {e}");
            error_resp(
                st,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                msg(
                    view.lang,
                    "Het oefenverslag kan nu niet worden gemaakt (toegangslog niet beschikbaar).",
                    "The drill report cannot be produced now (access log unavailable).",
                ),
            )
        }
        Err(_) => error_resp(
            st,
            view,
            StatusCode::INTERNAL_SERVER_ERROR,
            "drill report failed",
        ),
    }
}

/// Common checks for the coordinator's POSTs: the form, CSRF and the role.
pub(super) fn coordinator_form(
    st: &WebState,
    req: &Req,
    view: &View,
) -> Result<(SessionUser, HashMap<String, String>), Box<Resp>> {
    let Some(user) = view.user().cloned() else {
        return Err(Box::new(with_cookies(view, Resp::redirect("/login"))));
    };
    let form = parse_form(req).map_err(|c| Box::new(error_resp(st, view, c, "invalid form")))?;
    if !session_csrf_ok(view, &form) {
        return Err(Box::new(csrf_refused(st, view)));
    }
    if user.role != Role::Coordinator {
        return Err(Box::new(coordinator(
            st,
            view,
            StatusCode::FORBIDDEN,
            None,
            None,
        )));
    }
    Ok((user, form))
}

pub(super) async fn mode_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let Some(mode) = form.get("mode").and_then(|m| m.parse::<Mode>().ok()) else {
        return coordinator(
            st,
            view,
            StatusCode::BAD_REQUEST,
            None,
            Some(msg(lang, "Kies een modus.", "Choose a mode.")),
        );
    };
    // A textarea: line breaks (and runs of blanks) become single spaces; any other
    // control or direction character refuses the switch (ModeController::set).
    let reason = form
        .get("reason")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let by = Switcher::User {
        user: user_ref(&user),
        access_point: access_point(st, req.peer),
    };
    let shared = st.shared.clone();
    let now = view.now;
    let res = tokio::task::spawn_blocking(move || shared.switch_mode(mode, by, &reason, now)).await;
    match res {
        Ok(Ok(new)) => {
            log::info!(
                "mode switched to {} by coordinator {} from the web view",
                new.mode.as_str(),
                user.id
            );
            view.mode = new;
            // A drill's sessions end at once when a real emergency starts.
            sweep(st, &view.mode).await;
            let m = match (lang, mode) {
                (Language::Nl, Mode::Standby) => "De modus is nu stand-by.",
                (Language::Nl, Mode::Emergency) => "De modus is nu nood.",
                (Language::Nl, Mode::Drill) => "De modus is nu oefening.",
                (Language::En, Mode::Standby) => "The mode is now standby.",
                (Language::En, Mode::Emergency) => "The mode is now emergency.",
                (Language::En, Mode::Drill) => "The mode is now drill.",
            };
            coordinator(st, view, StatusCode::OK, None, Some(m))
        }
        Ok(Err(ModeError::Reason)) => coordinator(
            st,
            view,
            StatusCode::BAD_REQUEST,
            None,
            Some(msg(
                lang,
                "Geef een reden op (1 tot 500 tekens, één regel, zonder stuurtekens).",
                "Give a reason (1 to 500 characters, one line, no control characters).",
            )),
        ),
        Ok(Err(ModeError::Audit(e))) => {
            // `App::switch_mode` has put the failure in the status and the counter.
            log::error!("mode switch refused: {e}");
            audit_failed(st, view)
        }
        Ok(Err(e)) => {
            log::error!("mode switch failed: {e}");
            error_resp(
                st,
                view,
                StatusCode::INTERNAL_SERVER_ERROR,
                msg(
                    lang,
                    "De modus kon niet worden opgeslagen. Waarschuw ICT.",
                    "The mode could not be saved. Call IT.",
                ),
            )
        }
        Err(_) => error_resp(
            st,
            view,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        ),
    }
}

pub(super) async fn guest_code_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let role = match form.get("role").map(String::as_str) {
        Some("nurse") => Role::Nurse,
        Some("physician") => Role::Physician,
        _ => {
            return coordinator(
                st,
                view,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg(
                    lang,
                    "Kies verpleegkundige of arts.",
                    "Choose nurse or physician.",
                )),
            );
        }
    };
    let name = form.get("name").cloned().unwrap_or_default();
    let st2 = st.clone();
    let by = user.clone();
    let now = view.now;
    let drill = (view.mode.mode == Mode::Drill)
        .then_some(view.mode.drill_id)
        .flatten();
    let issued = st
        .gate
        .run(move |mem| {
            let roster = st2.shared.roster();
            st2.sessions
                .issue_code(mem, &name, role, &by, drill, roster.as_deref(), now)
        })
        .await;
    let (issued, code) = match issued {
        Ok(Ok(x)) => x,
        Ok(Err(session::GuestCodeError::Name)) => {
            return coordinator(
                st,
                view,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg(
                    lang,
                    "Vul de naam van de collega in (1 tot 100 tekens, geen stuurtekens).",
                    "Enter the colleague's name (1 to 100 characters, no control characters).",
                )),
            );
        }
        Ok(Err(e)) => {
            let m = e.to_string();
            return coordinator(st, view, StatusCode::BAD_REQUEST, None, Some(&m));
        }
        Err(hash_gate::Busy) => {
            return coordinator(
                st,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(msg(
                    lang,
                    "Het is even te druk. Probeer het over een paar seconden opnieuw.",
                    "Too busy right now. Please try again in a few seconds.",
                )),
            )
            .retry_after(hash_gate::RETRY_AFTER_SECS);
        }
    };
    let ev = event(
        st,
        &user,
        EventKind::GuestCodeIssued,
        Action::C,
        Outcome::Success,
        vec![],
        format!(
            "guest code for {} ({}, {}) valid until {}",
            issued.user,
            issued.name,
            issued.role.as_str(),
            issued.expires_at.to_rfc3339()
        ),
        req.peer,
        &view.mode,
    );
    if audit(st, ev).await.is_err() {
        st.sessions.revoke_code(&issued.user);
        return audit_failed(st, view);
    }
    coordinator(
        st,
        view,
        StatusCode::OK,
        Some((&issued, code.as_str())),
        None,
    )
}

/// A coordinator withdraws a guest code: it no longer logs in, and sessions opened with it
/// end now.
pub(super) async fn guest_code_revoke(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let guest = form.get("user").map(String::as_str).unwrap_or("");
    let ev = |detail: String| {
        event(
            st,
            &user,
            EventKind::GuestCodeRevoked,
            Action::D,
            Outcome::Success,
            vec![],
            detail,
            req.peer,
            &view.mode,
        )
    };
    // Recorded before it takes effect, like every other coordinator action.
    let Some(found) = st
        .sessions
        .issued_codes(view.now)
        .into_iter()
        .find(|c| c.user == guest)
    else {
        return coordinator(
            st,
            view,
            StatusCode::NOT_FOUND,
            None,
            Some(msg(
                lang,
                "Deze gastcode is niet (meer) geldig.",
                "This guest code is not (or no longer) valid.",
            )),
        );
    };
    if audit(
        st,
        ev(format!(
            "guest code for {} ({}, {}) revoked by a coordinator",
            found.user,
            crate::text::printable(&found.name),
            found.role.as_str()
        )),
    )
    .await
    .is_err()
    {
        return audit_failed(st, view);
    }
    let ended = st
        .sessions
        .revoke_code(guest)
        .map(|(_, ended)| ended)
        .unwrap_or_default();
    let n = ended.len();
    audit_swept(
        st,
        Swept {
            sessions: ended,
            codes: vec![],
        },
        &view.mode,
    )
    .await;
    let m = match lang {
        Language::Nl => format!(
            "Gastcode {} ingetrokken; {n} open sessie(s) beëindigd.",
            found.user
        ),
        Language::En => format!(
            "Guest code {} revoked; {n} open session(s) ended.",
            found.user
        ),
    };
    coordinator(st, view, StatusCode::OK, None, Some(&m))
}

/// A coordinator lifts a login lockout (of a user name, or of a workstation's address).
pub(super) async fn lockout_lift(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let target = form.get("target").map(String::as_str).unwrap_or("");
    let what = st
        .sessions
        .lockouts(view.now)
        .into_iter()
        .map(|l| l.what)
        .find(|w| w.form_value() == target);
    let Some(what) = what else {
        return coordinator(
            st,
            view,
            StatusCode::NOT_FOUND,
            None,
            Some(msg(
                lang,
                "Deze blokkade is al voorbij of opgeheven.",
                "This lockout has already ended or been lifted.",
            )),
        );
    };
    let ev = event(
        st,
        &user,
        EventKind::LockoutLifted,
        Action::U,
        Outcome::Success,
        vec![],
        format!("lockout of {what} lifted by a coordinator"),
        req.peer,
        &view.mode,
    );
    if let Err(r) = audit_or_refuse(st, view, ev).await {
        return *r;
    }
    st.sessions.lift(&what, view.now);
    log::info!("login lockout of {what} lifted by coordinator {}", user.id);
    let m = match lang {
        Language::Nl => format!(
            "Blokkade opgeheven: {}.",
            pages::coordinator::lockout_label(&what, lang)
        ),
        Language::En => format!(
            "Lockout lifted: {}.",
            pages::coordinator::lockout_label(&what, lang)
        ),
    };
    coordinator(st, view, StatusCode::OK, None, Some(&m))
}
