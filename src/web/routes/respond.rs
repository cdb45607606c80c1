//! Answers every route shares: an HTML page with the view's cookies, the error pages, the
//! status page, and the refusal when the access log cannot be written
//! ([`audit_or_refuse`]: the audited write or that refusal, nothing in between).

use super::request::*;
use super::state::*;
use crate::app::App;
use crate::audit::{Event, Receipt};
use crate::web::pages;
use crate::web::session;
use chrono::{DateTime, Utc};
use hyper::StatusCode;
use maud::Markup;
use std::collections::HashMap;
use std::sync::Arc;

/// [`audit`], or the page that says the access log cannot be written (nothing else is
/// shown without its entry).
pub(super) async fn audit_or_refuse(
    st: &Arc<WebState>,
    view: &View,
    ev: Event,
) -> Result<Receipt, Box<Resp>> {
    audit(st, ev)
        .await
        .map_err(|()| Box::new(audit_failed(st, view)))
}

pub(super) fn html(st: &WebState, view: &View, status: StatusCode, m: Markup) -> Resp {
    crate::status::Metrics::inc(&st.shared.metrics.page_views);
    let mut r = Resp::new(status, "text/html; charset=utf-8", m.into_string());
    for c in &view.cookies {
        r = r.cookie(c);
    }
    r
}

pub(super) fn with_cookies(view: &View, mut r: Resp) -> Resp {
    for c in &view.cookies {
        r = r.cookie(c);
    }
    r
}

pub(super) fn error(st: &WebState, view: &View, status: u16, message: &str) -> Markup {
    pages::error_page(&view.ctx(&st.shared), status, message)
}

pub(super) fn error_resp(st: &WebState, view: &View, status: StatusCode, message: &str) -> Resp {
    html(st, view, status, error(st, view, status.as_u16(), message))
}

pub(super) fn status_resp(st: &WebState, view: &View, status: StatusCode) -> Resp {
    let r = ready_doc(&st.shared, view.now);
    html(
        st,
        view,
        status,
        pages::status_page(&view.ctx(&st.shared), &r),
    )
}

pub(super) fn audit_failed(st: &WebState, view: &View) -> Resp {
    error_resp(
        st,
        view,
        StatusCode::SERVICE_UNAVAILABLE,
        msg(
            view.lang,
            "Deze pagina kan nu niet worden getoond: het inzagelog kan niet worden bijgewerkt. Waarschuw ICT en gebruik de papieren procedure.",
            "This page cannot be shown now: the access log cannot be written. Call IT and use the paper procedure.",
        ),
    )
}

pub(super) fn store_failed(st: &WebState, view: &View) -> Resp {
    log::error!("reading the served generation failed");
    error_resp(
        st,
        view,
        StatusCode::INTERNAL_SERVER_ERROR,
        msg(
            view.lang,
            "De gegevens konden niet worden gelezen. Waarschuw ICT en gebruik de papieren procedure.",
            "The data could not be read. Call IT and use the paper procedure.",
        ),
    )
}

/// `/ready`: the status document as JSON (200 when ready, 503 when not).
pub(super) fn ready(st: &WebState, now: DateTime<Utc>) -> Resp {
    let r = ready_doc(&st.shared, now);
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match serde_json::to_vec(&r) {
        Ok(body) => Resp::new(status, "application/json", body),
        Err(_) => Resp::text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode status\n"),
    }
}

/// The status document of the moment.
pub(super) fn ready_doc(shared: &App, now: DateTime<Utc>) -> crate::status::Ready {
    let generation = shared.store.current();
    crate::status::ready(
        &shared.config.ward,
        &shared.config.appliance_id,
        shared.config.data.stale_after,
        generation
            .as_deref()
            .map(|g| (g.meta(), g.summaries().len())),
        &shared.mode.current(now),
        &shared.status.get(),
        now,
    )
}

/// Checks a logged-in form's CSRF token.
pub(super) fn session_csrf_ok(view: &View, form: &HashMap<String, String>) -> bool {
    match (&view.session, form.get("csrf")) {
        (Some(s), Some(c)) => session::ct_eq(&s.csrf, c),
        _ => false,
    }
}

pub(super) fn csrf_refused(st: &WebState, view: &View) -> Resp {
    error_resp(
        st,
        view,
        StatusCode::FORBIDDEN,
        msg(
            view.lang,
            "Het formulier was verlopen of ongeldig. Open de pagina opnieuw en probeer het nog eens.",
            "The form had expired or was invalid. Open the page again and retry.",
        ),
    )
}
