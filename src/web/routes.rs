//! Request → response: the URL map, the mode and role gates, login and logout, the
//! coordinator's actions, and the audit-before-send rule.
//!
//! Gates for every URL that can show patient data, in this order: the mode in force
//! (standby → the status page, never data), a session (none → 303 to `/login`), a role
//! that sees patient data (`it` → the status page), a served generation (none → the status
//! page). Only then is the audit entry appended — durably — and only after that is the page
//! rendered. If the append fails the answer is a 503 error page without patient data.
//!
//! Nothing here takes a redirect target from the request (no open redirect), and every
//! POST carries a CSRF token checked in constant time, plus `Origin`/`Sec-Fetch-Site`
//! checks when the browser sends them.

use super::headers::Caching;
use super::pages;
use super::pages::PageCtx;
use super::session::{self, LockedWhat, Lookup, PRE_COOKIE, SESSION_COOKIE, Session, Sessions};
use super::{IssuedCode, SessionUser};
use crate::audit::{AccessPoint, Action, Event, EventKind, Outcome, PatientRef, UserRef};
use crate::config::Language;
use crate::daemon::Shared;
use crate::mode::{Mode, ModeError, ModeState, Switcher};
use crate::record::{PatientRecord, PatientSummary};
use crate::roster::Role;
use crate::store::Generation;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use maud::Markup;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Largest request body accepted (forms only).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest query string accepted.
pub const MAX_QUERY: usize = 2048;
/// Longest search text used.
pub const MAX_SEARCH: usize = crate::record::summary::SEARCH_MAX_CHARS;
/// Longest patient key accepted in a URL.
pub const MAX_KEY: usize = 128;
/// Default number of days on a MAR print.
pub const MAR_DAYS: u32 = 3;
/// Most days on one MAR print.
pub const MAR_DAYS_MAX: u32 = 7;

/// Patient key → BSN, for the generation with this sequence and snapshot file.
type BsnIndex = (u64, String, Arc<HashMap<String, Option<String>>>);

/// The web server's state: the daemon's shared state plus the login state.
pub struct WebState {
    pub shared: Arc<Shared>,
    pub sessions: Sessions,
    /// True when connections are TLS (cookies get `Secure`, responses HSTS).
    pub tls: bool,
    /// Patient key → BSN of the served generation, for audit entries of list views.
    bsn_index: Mutex<Option<BsnIndex>>,
}

impl WebState {
    /// Builds the state for one server run.
    pub fn new(shared: Arc<Shared>, tls: bool) -> WebState {
        let sessions = Sessions::new(&shared.config.web);
        WebState {
            shared,
            sessions,
            tls,
            bsn_index: Mutex::new(None),
        }
    }
}

/// A request as the routes see it (the body already read and bounded).
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub peer: IpAddr,
    pub body: Bytes,
}

/// A response before the security headers are added.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub caching: Caching,
}

impl Resp {
    fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Resp {
            status,
            headers,
            body: body.into(),
            caching: Caching::NoStore,
        }
    }

    /// A plain-text answer.
    pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
        Resp::new(status, "text/plain; charset=utf-8", body)
    }

    fn redirect(location: &'static str) -> Resp {
        let mut r = Resp::text(StatusCode::SEE_OTHER, "");
        r.headers
            .insert(header::LOCATION, HeaderValue::from_static(location));
        r
    }

    fn cookie(mut self, value: &str) -> Resp {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(header::SET_COOKIE, v);
        }
        self
    }
}

/// Short UI messages in both languages.
fn msg(lang: Language, nl: &'static str, en: &'static str) -> &'static str {
    match lang {
        Language::Nl => nl,
        Language::En => en,
    }
}

/// Everything one page request needs, owned, so a [`PageCtx`] can borrow it.
struct View {
    now: DateTime<Utc>,
    mode: ModeState,
    generation: Option<Arc<Generation>>,
    lang: Language,
    session: Option<Session>,
    /// The token forms on this page carry (session CSRF, or the login form's).
    csrf: String,
    path: String,
    /// Set-Cookie values to add to whatever answer this view produces.
    cookies: Vec<String>,
}

impl View {
    fn ctx<'a>(&'a self, shared: &'a Shared) -> PageCtx<'a> {
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

    fn user(&self) -> Option<&SessionUser> {
        self.session.as_ref().map(|s| &s.user)
    }
}

/// The parsed query string (first value of each name; bounded).
fn query_params(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = q {
        for (k, v) in form_urlencoded::parse(q.as_bytes()).take(16) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    out
}

/// A parsed form body. Duplicate fields are refused (no parameter pollution).
fn parse_form(req: &Req) -> Result<HashMap<String, String>, StatusCode> {
    let ct = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let mut out = HashMap::new();
    for (i, (k, v)) in form_urlencoded::parse(&req.body).enumerate() {
        if i >= 16 {
            return Err(StatusCode::BAD_REQUEST);
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(StatusCode::BAD_REQUEST);
        }
    }
    Ok(out)
}

/// Decodes a percent-encoded patient key from one path segment. None when it is not a
/// single segment of valid, bounded UTF-8 without control characters.
fn decode_key(seg: &str) -> Option<String> {
    if seg.is_empty() || seg.len() > MAX_KEY * 3 || seg.contains('/') {
        return None;
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    let k = String::from_utf8(out).ok()?;
    valid_key(&k).then_some(k)
}

/// Whether a (decoded) patient key is plausible: bounded, no control characters.
fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY && !k.chars().any(char::is_control)
}

/// The routes the server knows, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    Ready,
    Metrics,
    Stylesheet,
    AgeScript,
    Status,
    Login,
    Logout,
    Overview,
    Patient(String),
    PrintMar(String),
    PrintLabels(String),
    PrintMarAll,
    PrintWard,
    PrintBlankMar,
    Coordinator,
    DrillReport,
    Mode,
    EventCode,
    NotFound,
}

impl Route {
    fn of(path: &str) -> Route {
        match path {
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/metrics" => Route::Metrics,
            "/static/style.css" => Route::Stylesheet,
            "/static/age.js" => Route::AgeScript,
            "/status" => Route::Status,
            "/login" => Route::Login,
            "/logout" => Route::Logout,
            "/" => Route::Overview,
            "/print/mar" => Route::PrintMarAll,
            "/print/ward" => Route::PrintWard,
            "/print/blank-mar" | "/print/mar-blank" => Route::PrintBlankMar,
            "/coordinator" => Route::Coordinator,
            "/drill-report" => Route::DrillReport,
            "/mode" => Route::Mode,
            "/event-code" => Route::EventCode,
            p => {
                let key = |seg: &str| decode_key(seg).unwrap_or_default();
                if let Some(k) = p.strip_prefix("/print/mar/") {
                    Route::PrintMar(key(k))
                } else if let Some(k) = p.strip_prefix("/print/labels/") {
                    Route::PrintLabels(key(k))
                } else if let Some(k) = p
                    .strip_prefix("/patient/")
                    .and_then(|r| r.strip_suffix("/labels"))
                {
                    Route::PrintLabels(key(k))
                } else if let Some(k) = p
                    .strip_prefix("/patient/")
                    .and_then(|r| r.strip_suffix("/mar"))
                {
                    Route::PrintMar(key(k))
                } else if let Some(k) = p.strip_prefix("/patient/") {
                    Route::Patient(key(k))
                } else {
                    Route::NotFound
                }
            }
        }
    }

    /// The methods this route answers.
    fn allow(&self) -> &'static str {
        match self {
            Route::Login => "GET, HEAD, POST",
            Route::Logout | Route::Mode | Route::EventCode => "POST",
            _ => "GET, HEAD",
        }
    }

    fn accepts(&self, m: &Method) -> bool {
        match self {
            Route::NotFound => true,
            Route::Login => matches!(*m, Method::GET | Method::HEAD | Method::POST),
            Route::Logout | Route::Mode | Route::EventCode => *m == Method::POST,
            _ => matches!(*m, Method::GET | Method::HEAD),
        }
    }
}

/// Handles one request.
pub async fn handle(st: &Arc<WebState>, req: Req) -> Resp {
    crate::status::Metrics::inc(&st.shared.metrics.http_requests);
    if !matches!(req.method, Method::GET | Method::HEAD | Method::POST) {
        let mut r = Resp::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return r;
    }
    let route = Route::of(&req.path);
    if !route.accepts(&req.method) {
        let mut r = Resp::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers
            .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
        return r;
    }
    if req.query.as_deref().is_some_and(|q| q.len() > MAX_QUERY) {
        return Resp::text(StatusCode::URI_TOO_LONG, "query too long\n");
    }
    let now = Utc::now();
    match route {
        Route::Health => Resp::text(StatusCode::OK, "ok\n"),
        Route::Ready => ready(st, now),
        Route::Metrics => {
            if super::metrics::allowed(req.peer, st.shared.config.web.metrics_public) {
                Resp::new(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    super::metrics::render(&st.shared, now),
                )
            } else {
                Resp::text(
                    StatusCode::FORBIDDEN,
                    "metrics are served to loopback clients only (web.metrics_public)\n",
                )
            }
        }
        Route::Stylesheet => {
            let mut r = Resp::new(StatusCode::OK, "text/css; charset=utf-8", pages::STYLESHEET);
            r.caching = Caching::Public;
            r
        }
        Route::AgeScript => {
            let mut r = Resp::new(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                pages::AGE_SCRIPT,
            );
            r.caching = Caching::Public;
            r
        }
        route => {
            let mut view = view(st, &req, now).await;
            if req.method == Method::POST
                && let Err(r) = check_origin(&req)
            {
                return html(st, &view, StatusCode::FORBIDDEN, error(st, &view, 403, r));
            }
            page(st, &req, &mut view, route).await
        }
    }
}

fn ready(st: &WebState, now: DateTime<Utc>) -> Resp {
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

fn ready_doc(shared: &Shared, now: DateTime<Utc>) -> crate::status::Ready {
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

/// Refuses cross-site POSTs by the headers browsers send.
fn check_origin(req: &Req) -> Result<(), &'static str> {
    let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused");
    }
    // With `Referrer-Policy: no-referrer` browsers send `Origin: null` on our own form
    // posts; that says nothing either way (the CSRF token still decides).
    if let Some(origin) = h("origin").filter(|o| *o != "null") {
        let host = h("host").unwrap_or("");
        let same = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host));
        if !same {
            return Err("cross-origin request refused");
        }
    }
    Ok(())
}

/// Builds the view for a page request: mode, data, language, session.
async fn view(st: &Arc<WebState>, req: &Req, now: DateTime<Utc>) -> View {
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
    let mut session = None;
    if let Some(tok) = session::cookie(&req.headers, SESSION_COOKIE) {
        match st.sessions.lookup(tok, now) {
            Lookup::Valid(s) => session = Some(s),
            Lookup::Expired(s) => {
                let ev = event(
                    &s.user,
                    EventKind::SessionExpired,
                    Action::E,
                    Outcome::Success,
                    vec![],
                    "session ended by idle timeout or maximum duration".into(),
                    req.peer,
                    &mode,
                );
                // Not patient data: a failed append here is counted, not fatal.
                if append(st, ev).await.is_err() {
                    log::error!("audit log append failed for a session expiry");
                }
                cookies.push(session::clear_cookie(SESSION_COOKIE, st.tls));
            }
            Lookup::Unknown => cookies.push(session::clear_cookie(SESSION_COOKIE, st.tls)),
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

fn user_ref(u: &SessionUser) -> UserRef {
    UserRef {
        id: u.id.clone(),
        name: u.name.clone(),
        role: u.role.as_str().into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    user: &SessionUser,
    kind: EventKind,
    action: Action,
    outcome: Outcome,
    patients: Vec<PatientRef>,
    detail: String,
    peer: IpAddr,
    mode: &ModeState,
) -> Event {
    Event {
        kind,
        action,
        outcome,
        user: Some(user_ref(user)),
        responsible: user.issued_by.as_ref().map(|(id, name)| UserRef {
            id: id.clone(),
            name: name.clone(),
            role: Role::Coordinator.as_str().into(),
        }),
        patients,
        detail,
        access_point: Some(AccessPoint {
            address: peer.to_canonical().to_string(),
            workstation: None,
        }),
        mode: mode.mode.as_str().into(),
    }
}

/// Appends to the audit log off the async threads; counts failures.
async fn append(st: &Arc<WebState>, ev: Event) -> Result<(), ()> {
    let shared = st.shared.clone();
    let res = tokio::task::spawn_blocking(move || {
        let r = shared.audit.append(ev);
        shared.note_audit(&r);
        r
    })
    .await;
    match res {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
            log::error!("audit log append failed: {e}");
            Err(())
        }
        Err(_) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
            log::error!("audit log append task failed");
            Err(())
        }
    }
}

fn html(st: &WebState, view: &View, status: StatusCode, m: Markup) -> Resp {
    crate::status::Metrics::inc(&st.shared.metrics.page_views);
    let mut r = Resp::new(status, "text/html; charset=utf-8", m.into_string());
    for c in &view.cookies {
        r = r.cookie(c);
    }
    r
}

fn with_cookies(view: &View, mut r: Resp) -> Resp {
    for c in &view.cookies {
        r = r.cookie(c);
    }
    r
}

fn error(st: &WebState, view: &View, status: u16, message: &str) -> Markup {
    pages::error_page(&view.ctx(&st.shared), status, message)
}

fn error_resp(st: &WebState, view: &View, status: StatusCode, message: &str) -> Resp {
    html(st, view, status, error(st, view, status.as_u16(), message))
}

fn status_resp(st: &WebState, view: &View, status: StatusCode) -> Resp {
    let r = ready_doc(&st.shared, view.now);
    html(
        st,
        view,
        status,
        pages::status_page(&view.ctx(&st.shared), &r),
    )
}

fn audit_failed(st: &WebState, view: &View) -> Resp {
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

/// Page routes (everything with HTML).
async fn page(st: &Arc<WebState>, req: &Req, view: &mut View, route: Route) -> Resp {
    match route {
        Route::Login if req.method == Method::POST => login_post(st, req, view).await,
        Route::Login => login_get(st, req, view, StatusCode::OK, None),
        Route::Status => status_resp(st, view, StatusCode::OK),
        Route::Logout => logout(st, req, view).await,
        Route::Coordinator => coordinator(st, view, StatusCode::OK, None, None),
        Route::DrillReport => drill_report(st, view).await,
        Route::Mode => mode_post(st, req, view).await,
        Route::EventCode => event_code_post(st, req, view).await,
        Route::NotFound => error_resp(
            st,
            view,
            StatusCode::NOT_FOUND,
            msg(
                view.lang,
                "Deze pagina bestaat niet.",
                "This page does not exist.",
            ),
        ),
        data_route => patient_data(st, req, view, data_route).await,
    }
}

// ---------------------------------------------------------------- login / logout

/// The login form, bound to a (new or still valid) pre-login cookie.
fn login_get(
    st: &WebState,
    req: &Req,
    view: &mut View,
    status: StatusCode,
    message: Option<&str>,
) -> Resp {
    let pre = match session::cookie(&req.headers, PRE_COOKIE) {
        Some(p) if st.sessions.pre_valid(p, view.now) => p.to_owned(),
        _ => {
            let p = st.sessions.new_pre(view.now);
            view.cookies.push(session::set_cookie(
                PRE_COOKIE,
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

async fn login_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
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
    let pre = session::cookie(&req.headers, PRE_COOKIE).unwrap_or("");
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
    let user: String = field("user").trim().chars().take(64).collect();
    let code = zeroize::Zeroizing::new(field("code").trim().to_owned());
    let peer = req.peer.to_canonical();
    let attempted = SessionUser {
        id: user.clone(),
        name: roster
            .get(&user)
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        role: roster.get(&user).map(|m| m.role).unwrap_or(Role::It),
        issued_by: None,
    };
    let locked_message = |until: DateTime<Utc>| {
        let t = crate::timefmt::time_of_day(until, st.shared.config.timezone);
        match lang {
            Language::Nl => format!(
                "Te veel mislukte pogingen: inloggen is geblokkeerd tot {t}. Vraag zo nodig de coördinator om een evenementcode."
            ),
            Language::En => format!(
                "Too many failed attempts: login is blocked until {t}. Ask the coordinator for an event code if needed."
            ),
        }
    };
    if let Some(until) = st.sessions.locked(&user, peer, view.now) {
        crate::status::Metrics::inc(&st.shared.metrics.logins_failed);
        let ev = event(
            &attempted,
            EventKind::LoginFailed,
            Action::E,
            Outcome::MinorFailure,
            vec![],
            format!("login refused: locked out until {}", until.to_rfc3339()),
            peer,
            &view.mode,
        );
        let _ = append(st, ev).await;
        let m = locked_message(until);
        return login_get(st, req, view, StatusCode::TOO_MANY_REQUESTS, Some(&m));
    }
    // argon2 is slow by design: off the async threads.
    let verified = {
        let st2 = st.clone();
        let user2 = user.clone();
        let code2 = code.clone();
        let now = view.now;
        tokio::task::spawn_blocking(move || {
            if st2.sessions.is_event_user(&user2, now) {
                st2.sessions.verify_event_code(&user2, &code2, now)
            } else {
                roster.verify(&user2, &code2).map(|m| SessionUser {
                    id: m.user.clone(),
                    name: m.name.clone(),
                    role: m.role,
                    issued_by: None,
                })
            }
        })
        .await
        .ok()
        .flatten()
    };
    let Some(user_ok) = verified else {
        crate::status::Metrics::inc(&st.shared.metrics.logins_failed);
        let ev = event(
            &attempted,
            EventKind::LoginFailed,
            Action::E,
            Outcome::MinorFailure,
            vec![],
            "login failed: unknown user or wrong code".into(),
            peer,
            &view.mode,
        );
        let _ = append(st, ev).await;
        let mut until = None;
        for (what, end) in st.sessions.record_failure(&user, peer, view.now) {
            crate::status::Metrics::inc(&st.shared.metrics.lockouts);
            let detail = match &what {
                LockedWhat::User(u) => format!("user {u} locked out until {}", end.to_rfc3339()),
                LockedWhat::Address(a) => {
                    format!("address {a} locked out until {}", end.to_rfc3339())
                }
            };
            // For operators: a brute-force attempt is worth a journal line (no codes here).
            log::warn!("login {detail}");
            let ev = event(
                &attempted,
                EventKind::Lockout,
                Action::E,
                Outcome::SeriousFailure,
                vec![],
                detail,
                peer,
                &view.mode,
            );
            let _ = append(st, ev).await;
            until = until.max(Some(end));
        }
        let m = match until {
            Some(u) => locked_message(u),
            None => msg(
                lang,
                "Gebruikersnaam of code onjuist.",
                "Wrong user name or code.",
            )
            .to_owned(),
        };
        return login_get(st, req, view, StatusCode::UNAUTHORIZED, Some(&m));
    };
    st.sessions.record_success(&user_ok.id);
    let detail = match &user_ok.issued_by {
        Some((id, _)) => format!("login with event code issued by {id}"),
        None => "login with personal downtime code".into(),
    };
    let ev = event(
        &user_ok,
        EventKind::Login,
        Action::E,
        Outcome::Success,
        vec![],
        detail,
        peer,
        &view.mode,
    );
    if append(st, ev).await.is_err() {
        return audit_failed(st, view);
    }
    crate::status::Metrics::inc(&st.shared.metrics.logins);
    // No fixation: whatever session cookie came with the request is ended, a new one made.
    if let Some(old) = session::cookie(&req.headers, SESSION_COOKIE) {
        st.sessions.remove(old);
    }
    let (token, _) = st.sessions.create(user_ok, view.now);
    Resp::redirect("/")
        .cookie(&session::set_cookie(SESSION_COOKIE, &token, None, st.tls))
        .cookie(&session::clear_cookie(PRE_COOKIE, st.tls))
}

/// Checks a logged-in form's CSRF token.
fn session_csrf_ok(view: &View, form: &HashMap<String, String>) -> bool {
    match (&view.session, form.get("csrf")) {
        (Some(s), Some(c)) => session::ct_eq(&s.csrf, c),
        _ => false,
    }
}

async fn logout(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
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
    let _ = append(st, ev).await;
    if let Some(tok) = session::cookie(&req.headers, SESSION_COOKIE) {
        st.sessions.remove(tok);
    }
    Resp::redirect("/login").cookie(&session::clear_cookie(SESSION_COOKIE, st.tls))
}

fn csrf_refused(st: &WebState, view: &View) -> Resp {
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

// ---------------------------------------------------------------- coordinator

fn coordinator(
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
                "Alleen een coördinator kan de modus wijzigen en evenementcodes uitgeven.",
                "Only a coordinator can change the mode and issue event codes.",
            ),
        ),
        Some(_) => {
            let codes = st.sessions.issued_codes(view.now);
            html(
                st,
                view,
                status,
                pages::coordinator_page(&view.ctx(&st.shared), &codes, new_code, message),
            )
        }
    }
}

/// The report of the latest drill (running or ended), for coordinators. Producing it stores
/// it (for comparison with later drills) and logs a `drill_report` audit entry.
async fn drill_report(st: &Arc<WebState>, view: &View) -> Resp {
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
    let report =
        tokio::task::spawn_blocking(move || crate::audit::drill::report(&shared.audit, None)).await;
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
fn coordinator_form(
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

async fn mode_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
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
    let reason = form.get("reason").cloned().unwrap_or_default();
    let by = Switcher::User {
        user: user_ref(&user),
        access_point: AccessPoint {
            address: req.peer.to_canonical().to_string(),
            workstation: None,
        },
    };
    let shared = st.shared.clone();
    let now = view.now;
    let res =
        tokio::task::spawn_blocking(move || shared.mode.set(&shared.audit, mode, by, &reason, now))
            .await;
    match res {
        Ok(Ok(new)) => {
            log::info!(
                "mode switched to {} by coordinator {} from the web view",
                new.mode.as_str(),
                user.id
            );
            view.mode = new;
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
                "Geef een reden op (1 tot 500 tekens).",
                "Give a reason (1 to 500 characters).",
            )),
        ),
        Ok(Err(ModeError::Audit(e))) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
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

async fn event_code_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
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
    let issued = tokio::task::spawn_blocking(move || {
        let roster = st2.shared.roster();
        st2.sessions
            .issue_code(&name, role, &by, roster.as_deref(), now)
    })
    .await;
    let (issued, code) = match issued {
        Ok(Ok(x)) => x,
        Ok(Err(session::EventCodeError::Name)) => {
            return coordinator(
                st,
                view,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg(
                    lang,
                    "Vul de naam van de collega in (1 tot 100 tekens).",
                    "Enter the colleague's name (1 to 100 characters).",
                )),
            );
        }
        Ok(Err(e)) => {
            let m = e.to_string();
            return coordinator(st, view, StatusCode::BAD_REQUEST, None, Some(&m));
        }
        Err(_) => {
            return error_resp(
                st,
                view,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            );
        }
    };
    let ev = event(
        &user,
        EventKind::EventCodeIssued,
        Action::C,
        Outcome::Success,
        vec![],
        format!(
            "event code for {} ({}, {}) valid until {}",
            issued.user,
            issued.name,
            issued.role.as_str(),
            issued.expires_at.to_rfc3339()
        ),
        req.peer,
        &view.mode,
    );
    if append(st, ev).await.is_err() {
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

// ---------------------------------------------------------------- patient data

/// The gates before any patient data: mode, session, role, data.
fn gate(
    st: &WebState,
    view: &View,
    root: bool,
) -> Result<(SessionUser, Arc<Generation>), Box<Resp>> {
    let refused = if root {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    if !view.mode.mode.shows_patient_data() {
        return Err(Box::new(status_resp(st, view, refused)));
    }
    let Some(user) = view.user().cloned() else {
        return Err(Box::new(with_cookies(view, Resp::redirect("/login"))));
    };
    if !user.role.sees_patient_data() {
        return Err(Box::new(status_resp(st, view, refused)));
    }
    let Some(generation) = view.generation.clone() else {
        let s = if root {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Err(Box::new(status_resp(st, view, s)));
    };
    Ok((user, generation))
}

impl WebState {
    /// Patient key → BSN for the generation (cached per generation).
    fn bsns(&self, g: &Generation) -> Arc<HashMap<String, Option<String>>> {
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
            Ok(all) => all.into_iter().map(|p| (p.key, p.identity.bsn)).collect(),
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

fn refs_of(st: &WebState, g: &Generation, rows: &[&PatientSummary]) -> Vec<PatientRef> {
    let bsns = st.bsns(g);
    rows.iter()
        .map(|s| PatientRef {
            key: s.key.clone(),
            patient_number: s.patient_number.clone(),
            bsn: bsns.get(&s.key).cloned().flatten(),
        })
        .collect()
}

fn ref_of(p: &PatientRecord) -> PatientRef {
    PatientRef {
        key: p.key.clone(),
        patient_number: p.identity.patient_number.clone(),
        bsn: p.identity.bsn.clone(),
    }
}

fn today(st: &WebState, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&st.shared.config.timezone).date_naive()
}

fn mar_days(req: &Req) -> u32 {
    query_params(req.query.as_deref())
        .get("days")
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| (1..=MAR_DAYS_MAX).contains(d))
        .unwrap_or(MAR_DAYS)
}

fn store_failed(st: &WebState, view: &View) -> Resp {
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

fn not_found_patient(st: &WebState, view: &View) -> Resp {
    error_resp(
        st,
        view,
        StatusCode::NOT_FOUND,
        msg(
            view.lang,
            "Deze patiënt staat niet (meer) in de gegevens. Zoek opnieuw via het afdelingsoverzicht.",
            "This patient is not (or no longer) in the data. Search again from the ward overview.",
        ),
    )
}

async fn patient_data(st: &Arc<WebState>, req: &Req, view: &mut View, route: Route) -> Resp {
    let (user, g) = match gate(st, view, route == Route::Overview) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let audit = |kind, patients, detail| {
        event(
            &user,
            kind,
            Action::R,
            Outcome::Success,
            patients,
            detail,
            req.peer,
            &view.mode,
        )
    };
    let metrics = &st.shared.metrics;
    match route {
        Route::Overview => {
            let q: Option<String> = query_params(req.query.as_deref())
                .get("q")
                .map(|q| q.trim().chars().take(MAX_SEARCH).collect::<String>())
                .filter(|q| !q.is_empty());
            let rows: Vec<&PatientSummary> = match &q {
                Some(q) => g.search(q),
                None => g.summaries().iter().collect(),
            };
            let ev = match &q {
                Some(q) => audit(
                    EventKind::Search,
                    refs_of(st, &g, &rows),
                    format!("search {q:?}: {} hits", rows.len()),
                ),
                None => audit(
                    EventKind::WardView,
                    refs_of(st, &g, &rows),
                    format!("ward overview: {} patients", rows.len()),
                ),
            };
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            let m = pages::ward_overview(&view.ctx(&st.shared), &rows, q.as_deref());
            html(st, view, StatusCode::OK, m)
        }
        route @ (Route::Patient(_) | Route::PrintMar(_) | Route::PrintLabels(_)) => {
            let (key, print, labels) = match route {
                Route::PrintMar(k) => (k, true, false),
                Route::PrintLabels(k) => (k, true, true),
                Route::Patient(k) => (k, false, false),
                _ => (String::new(), false, false),
            };
            if !valid_key(&key) {
                return not_found_patient(st, view);
            }
            let p = match g.patient(&key) {
                Ok(Some(p)) => p,
                Ok(None) => return not_found_patient(st, view),
                Err(_) => return store_failed(st, view),
            };
            let days = mar_days(req);
            let start = today(st, view.now);
            let ev = if labels {
                audit(
                    EventKind::Print,
                    vec![ref_of(&p)],
                    format!(
                        "print labels {} ({} labels)",
                        req.path,
                        pages::labels::LABELS_PER_SHEET
                    ),
                )
            } else if print {
                audit(
                    EventKind::Print,
                    vec![ref_of(&p)],
                    format!("print MAR {} ({start}, {days} days)", req.path),
                )
            } else {
                audit(EventKind::PatientView, vec![ref_of(&p)], req.path.clone())
            };
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            let ctx = view.ctx(&st.shared);
            let m = if labels {
                crate::status::Metrics::inc(&metrics.prints);
                pages::print_labels(&ctx, &p)
            } else if print {
                crate::status::Metrics::inc(&metrics.prints);
                pages::print_mar(&ctx, std::slice::from_ref(&p), start, days)
            } else {
                crate::status::Metrics::inc(&metrics.patient_page_views);
                pages::patient_page(&ctx, &p)
            };
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintMarAll => {
            let all = match g.all_patients() {
                Ok(a) => a,
                Err(_) => return store_failed(st, view),
            };
            let days = mar_days(req);
            let start = today(st, view.now);
            let ev = audit(
                EventKind::Print,
                all.iter().map(ref_of).collect(),
                format!(
                    "print MAR all patients ({} patients, {start}, {days} days)",
                    all.len()
                ),
            );
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_mar(&view.ctx(&st.shared), &all, start, days);
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintWard => {
            let rows: Vec<&PatientSummary> = g.summaries().iter().collect();
            let ev = audit(
                EventKind::Print,
                refs_of(st, &g, &rows),
                format!("print ward list ({} patients)", rows.len()),
            );
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_ward_list(&view.ctx(&st.shared), &rows);
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintBlankMar => {
            let days = mar_days(req);
            let start = today(st, view.now);
            let ev = audit(
                EventKind::Print,
                vec![],
                format!("print blank MAR ({start}, {days} days)"),
            );
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_blank_mar(&view.ctx(&st.shared), start, days);
            html(st, view, StatusCode::OK, m)
        }
        _ => error_resp(st, view, StatusCode::NOT_FOUND, "not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_paths_and_methods() {
        assert_eq!(Route::of("/patient/abc"), Route::Patient("abc".into()));
        assert_eq!(Route::of("/print/mar/abc"), Route::PrintMar("abc".into()));
        assert_eq!(Route::of("/patient/abc/mar"), Route::PrintMar("abc".into()));
        assert_eq!(
            Route::of("/patient/abc/labels"),
            Route::PrintLabels("abc".into())
        );
        assert_eq!(
            Route::of("/print/labels/abc"),
            Route::PrintLabels("abc".into())
        );
        assert_eq!(Route::of("/static/age.js"), Route::AgeScript);
        assert_eq!(Route::of("/patient/a%20b"), Route::Patient("a b".into()));
        assert_eq!(Route::of("/print/mar-blank"), Route::PrintBlankMar);
        assert_eq!(Route::of("/status"), Route::Status);
        assert_eq!(Route::of("/print/mar"), Route::PrintMarAll);
        assert_eq!(Route::of("/nope"), Route::NotFound);
        assert!(!Route::Logout.accepts(&Method::GET));
        assert!(!Route::Overview.accepts(&Method::POST));
        assert!(Route::Login.accepts(&Method::POST));
    }

    #[test]
    fn patient_keys_in_urls_are_decoded_and_bounded() {
        assert_eq!(decode_key("P-123_a.b").as_deref(), Some("P-123_a.b"));
        assert_eq!(decode_key("%7E%C3%A9").as_deref(), Some("~é"));
        assert_eq!(decode_key(""), None);
        assert_eq!(decode_key("a/b"), None);
        assert_eq!(decode_key("%2"), None);
        assert_eq!(decode_key("%zz"), None);
        assert_eq!(decode_key("%0a"), None);
        assert_eq!(decode_key("%ff"), None);
        assert_eq!(decode_key(&"a".repeat(MAX_KEY + 1)), None);
    }
}
