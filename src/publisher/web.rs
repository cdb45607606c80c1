//! The publisher's status page (`/`, one table of wards and their boxes) and `/metrics`
//! (Prometheus text format), plus `/health`. Plain HTTP on the configured address (bind it
//! to loopback or the management network); no patient data on either: ward and box ids,
//! counts, sequence numbers, times, problem codes and operator messages. HTML by maud
//! (escaped), no script, the same security headers as the box (`crate::web::headers`).

use super::config::Language;
use super::fleet::{self, BoxState, Fleet, SharedFleet, WardState};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use maud::{DOCTYPE, Markup, html};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const STYLESHEET: &str = include_str!("status.css");

/// What the page needs besides the fleet.
#[derive(Clone)]
pub(crate) struct PageSettings {
    pub language: Language,
    pub timezone: chrono_tz::Tz,
}

/// Serves until `shutdown` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    fleet: SharedFleet,
    settings: PageSettings,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    log::warn!("status page: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let fleet = fleet.clone();
        let settings = settings.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let fleet = fleet.clone();
                let settings = settings.clone();
                async move { Ok::<_, Infallible>(respond(&req, &fleet, &settings)) }
            });
            let mut b = http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(16 * 1024);
            let _ = b.serve_connection(TokioIo::new(stream), svc).await;
            drop(permit);
        });
    }
}

fn respond(
    req: &Request<Incoming>,
    fleet: &SharedFleet,
    s: &PageSettings,
) -> Response<Full<Bytes>> {
    let now = Utc::now();
    let (status, ctype, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/") => {
            let f = fleet::lock(fleet).clone();
            (
                StatusCode::OK,
                "text/html; charset=utf-8",
                page(&f, s, now).into_string().into_bytes(),
            )
        }
        ("GET" | "HEAD", "/metrics") => {
            let f = fleet::lock(fleet).clone();
            (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics(&f, now).into_bytes(),
            )
        }
        ("GET" | "HEAD", "/style.css") => (
            StatusCode::OK,
            "text/css; charset=utf-8",
            STYLESHEET.as_bytes().to_vec(),
        ),
        ("GET" | "HEAD", "/health") => (StatusCode::OK, "text/plain", b"ok\n".to_vec()),
        ("GET" | "HEAD", _) => (StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"method not allowed\n".to_vec(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    crate::web::headers::apply(
        r.headers_mut(),
        false,
        crate::web::headers::Caching::NoStore,
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

// ---------------------------------------------------------------- metrics

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn ts(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The `/metrics` document.
pub(crate) fn metrics(f: &Fleet, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(4096);
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let w = |ward: &WardState| format!("ward=\"{}\"", label(&ward.id));
    let b = |ward: &WardState, bx: &BoxState| {
        format!("ward=\"{}\",box=\"{}\"", label(&ward.id), label(&bx.id))
    };
    let wards = &f.wards;
    let per_ward = |g: &dyn Fn(&WardState) -> Option<String>| -> Vec<(String, String)> {
        wards
            .iter()
            .filter_map(|x| g(x).map(|v| (w(x), v)))
            .collect()
    };
    let per_box = |g: &dyn Fn(&BoxState) -> Option<String>| -> Vec<(String, String)> {
        wards
            .iter()
            .flat_map(|x| x.boxes.iter().map(move |y| (x, y)))
            .filter_map(|(x, y)| g(y).map(|v| (b(x, y), v)))
            .collect()
    };
    family(
        "noodepd_publisher_ward_interval_seconds",
        "gauge",
        "How often the ward is published (its source's interval).",
        per_ward(&|x| Some(x.interval.as_secs().to_string())),
    );
    family(
        "noodepd_publisher_ward_last_publish_success",
        "gauge",
        "1 when the ward's last publish attempt sealed a snapshot, 0 when it failed.",
        per_ward(&|x| {
            x.last_attempt
                .map(|_| if x.last_error.is_none() { "1" } else { "0" }.to_owned())
        }),
    );
    family(
        "noodepd_publisher_ward_last_attempt_timestamp_seconds",
        "gauge",
        "When the ward was last read (Unix time).",
        per_ward(&|x| x.last_attempt.map(|t| ts(t).to_string())),
    );
    family(
        "noodepd_publisher_ward_last_success_timestamp_seconds",
        "gauge",
        "When a clinical snapshot of the ward was last sealed (Unix time; kept across restarts).",
        per_ward(&|x| x.last_success.map(|t| ts(t).to_string())),
    );
    family(
        "noodepd_publisher_ward_failures_total",
        "counter",
        "Publish attempts of the ward that failed (the boxes kept the last good data).",
        per_ward(&|x| Some(x.failures.to_string())),
    );
    family(
        "noodepd_publisher_ward_last_failure",
        "gauge",
        "1 for the code of the ward's last failure while it stands.",
        wards
            .iter()
            .filter_map(|x| {
                x.last_error_code
                    .filter(|_| x.last_error.is_some())
                    .map(|c| (format!("{},code=\"{}\"", w(x), label(c)), "1".to_owned()))
            })
            .collect(),
    );
    family(
        "noodepd_publisher_ward_census",
        "gauge",
        "Patients in the ward's last sealed snapshot.",
        per_ward(&|x| x.census.map(|c| c.to_string())),
    );
    family(
        "noodepd_publisher_ward_sequence",
        "gauge",
        "Sequence number of the ward's last sealed snapshot.",
        per_ward(&|x| x.sequence.map(|c| c.to_string())),
    );
    family(
        "noodepd_publisher_ward_read_seconds",
        "gauge",
        "How long the ward's last read took (census, data, references).",
        per_ward(&|x| x.read_seconds.map(|c| format!("{c:.3}"))),
    );
    family(
        "noodepd_publisher_ward_requests",
        "gauge",
        "Requests the ward's last read made to the EPD.",
        per_ward(&|x| x.requests.map(|c| c.to_string())),
    );
    family(
        "noodepd_publisher_box_reachable",
        "gauge",
        "1 when the box's SFTP account answered in the last cycle, 0 when not.",
        per_box(&|y| {
            y.reachable
                .filter(|_| y.sftp)
                .map(|r| u8::from(r).to_string())
        }),
    );
    family(
        "noodepd_publisher_box_last_contact_timestamp_seconds",
        "gauge",
        "When the box's SFTP account last answered (Unix time; absent until it first did).",
        per_box(&|y| y.last_contact.filter(|_| y.sftp).map(|t| ts(t).to_string())),
    );
    family(
        "noodepd_publisher_box_sequence_sent",
        "gauge",
        "The newest sequence delivered to the box.",
        per_box(&|y| y.sent_sequence.map(|s| s.to_string())),
    );
    family(
        "noodepd_publisher_box_sequence_served",
        "gauge",
        "The clinical sequence the box says it serves.",
        per_box(&|y| {
            y.status
                .as_ref()
                .and_then(|s| s.sequence)
                .map(|s| s.to_string())
        }),
    );
    family(
        "noodepd_publisher_box_data_age_seconds",
        "gauge",
        "Age of the data the box serves, by the publisher's clock.",
        per_box(&|y| y.data_age(now).map(|s| s.to_string())),
    );
    family(
        "noodepd_publisher_box_delivery_failures_total",
        "counter",
        "Deliveries to the box that failed (retried next cycle).",
        per_box(&|y| Some(y.delivery_failures.to_string())),
    );
    family(
        "noodepd_publisher_box_problems",
        "gauge",
        "Problems of the box now (its own standing problems and what the publisher sees).",
        wards
            .iter()
            .flat_map(|x| x.boxes.iter().map(move |y| (x, y)))
            .map(|(x, y)| (b(x, y), y.problems(&x.id).len().to_string()))
            .collect(),
    );
    family(
        "noodepd_publisher_box_problem",
        "gauge",
        "1 for each problem code of the box now.",
        wards
            .iter()
            .flat_map(|x| x.boxes.iter().map(move |y| (x, y)))
            .flat_map(|(x, y)| {
                y.problems(&x.id).into_iter().map(move |p| {
                    (
                        format!("{},code=\"{}\"", b(x, y), label(&p.code)),
                        "1".to_owned(),
                    )
                })
            })
            .collect(),
    );
    family(
        "noodepd_publisher_box_clock_offset_seconds",
        "gauge",
        "The box's clock minus the publisher's when its status was read.",
        per_box(&|y| y.clock_offset().map(|s| s.to_string())),
    );
    family(
        "noodepd_publisher_box_mode",
        "gauge",
        "1 for the box's mode (standby, emergency, drill).",
        wards
            .iter()
            .flat_map(|x| x.boxes.iter().map(move |y| (x, y)))
            .filter_map(|(x, y)| {
                y.status.as_ref().map(|s| {
                    (
                        format!("{},mode=\"{}\"", b(x, y), label(&s.mode)),
                        "1".to_owned(),
                    )
                })
            })
            .collect(),
    );
    out
}

// ---------------------------------------------------------------- page

#[derive(Clone, Copy)]
enum T {
    Title,
    Refreshes,
    Ward,
    LastPublish,
    Census,
    Sequence,
    Box,
    Answer,
    SentServed,
    DataAge,
    Mode,
    Problems,
    Version,
    ImageVersion,
    Ok,
    Failed,
    Never,
    Unreachable,
    Reachable,
    NoStatus,
    Directory,
    None_,
    Pending,
}

fn t(lang: Language, k: T) -> &'static str {
    let (nl, en) = match k {
        T::Title => (
            "noodepd — afdelingen en kasten",
            "noodepd — wards and boxes",
        ),
        T::Refreshes => (
            "Ververst elke 30 s. Tijden:",
            "Refreshes every 30 s. Times:",
        ),
        T::Ward => ("Afdeling", "Ward"),
        T::LastPublish => ("Laatste publicatie", "Last publish"),
        T::Census => ("Patiënten", "Patients"),
        T::Sequence => ("Volgnummer", "Sequence"),
        T::Box => ("Kast", "Box"),
        T::Answer => ("Bereikbaar", "Reachable"),
        T::SentServed => ("Verstuurd / getoond", "Sent / served"),
        T::DataAge => ("Leeftijd gegevens", "Data age"),
        T::Mode => ("Modus", "Mode"),
        T::Problems => ("Problemen", "Problems"),
        T::Version => ("Versie", "Version"),
        T::ImageVersion => ("image", "image"),
        T::Ok => ("gelukt", "ok"),
        T::Failed => ("MISLUKT", "FAILED"),
        T::Never => ("nog niet", "not yet"),
        T::Unreachable => ("NIET BEREIKBAAR", "UNREACHABLE"),
        T::Reachable => ("ja", "yes"),
        T::NoStatus => ("geen status", "no status"),
        T::Directory => ("map (geen status)", "directory (no status)"),
        T::None_ => ("geen", "none"),
        T::Pending => ("wacht op aflevering", "delivery pending"),
    };
    match lang {
        Language::Nl => nl,
        Language::En => en,
    }
}

fn when(s: &PageSettings, v: Option<DateTime<Utc>>) -> String {
    v.map_or_else(
        || t(s.language, T::Never).to_owned(),
        |t| crate::timefmt::datetime(t, s.timezone),
    )
}

fn clip(s: &str) -> String {
    let c = crate::web::pages::text::clean(s);
    if c.chars().count() > 400 {
        c.chars().take(400).chain(std::iter::once('…')).collect()
    } else {
        c.into_owned()
    }
}

/// The status page.
pub(crate) fn page(f: &Fleet, s: &PageSettings, now: DateTime<Utc>) -> Markup {
    let l = s.language;
    let lang = match l {
        Language::Nl => "nl",
        Language::En => "en",
    };
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="30";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t(l, T::Title)) }
                link rel="stylesheet" href="/style.css";
            }
            body {
                h1 { (t(l, T::Title)) }
                p class="note" { (t(l, T::Refreshes)) " " (s.timezone.name()) ", " (crate::timefmt::datetime(now, s.timezone)) }
                table {
                    thead {
                        tr {
                            th scope="col" { (t(l, T::Ward)) }
                            th scope="col" { (t(l, T::LastPublish)) }
                            th scope="col" { (t(l, T::Census)) }
                            th scope="col" { (t(l, T::Sequence)) }
                            th scope="col" { (t(l, T::Box)) }
                            th scope="col" { (t(l, T::Answer)) }
                            th scope="col" { (t(l, T::SentServed)) }
                            th scope="col" { (t(l, T::DataAge)) }
                            th scope="col" { (t(l, T::Mode)) }
                            th scope="col" { (t(l, T::Version)) }
                            th scope="col" { (t(l, T::Problems)) }
                        }
                    }
                    tbody {
                        @for w in &f.wards {
                            @let rows = w.boxes.len().max(1);
                            @for (i, b) in w.boxes.iter().enumerate() {
                                tr class=(if i == 0 { "first" } else { "" }) {
                                    @if i == 0 {
                                        th scope="row" rowspan=(rows) {
                                            (clip(&w.id)) br; span class="sub" { (clip(&w.name)) }
                                        }
                                        td rowspan=(rows) class=(if w.last_error.is_some() { "bad" } else { "" }) {
                                            @match (&w.last_error, w.last_attempt) {
                                                (_, None) => { (t(l, T::Never)) }
                                                (None, Some(_)) => { (t(l, T::Ok)) " " (when(s, w.last_success)) }
                                                (Some(e), Some(at)) => {
                                                    strong { (t(l, T::Failed)) } " " (when(s, Some(at)))
                                                    div class="sub" { (clip(e)) }
                                                    div class="sub" { (t(l, T::Ok)) ": " (when(s, w.last_success)) }
                                                }
                                            }
                                        }
                                        td rowspan=(rows) { (w.census.map_or("-".to_owned(), |c| c.to_string())) }
                                        td rowspan=(rows) { (w.sequence.map_or("-".to_owned(), |c| c.to_string())) }
                                    }
                                    (box_cells(w, b, s, now))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn box_cells(w: &WardState, b: &BoxState, s: &PageSettings, now: DateTime<Utc>) -> Markup {
    let l = s.language;
    let problems = b.problems(&w.id);
    let status = b.status.as_ref();
    html! {
        td { (clip(&b.id)) }
        @if !b.sftp {
            td { (t(l, T::Directory)) }
        } @else {
            @match b.reachable {
                Some(false) => td class="bad" { strong { (t(l, T::Unreachable)) } div class="sub" { (when(s, b.last_contact)) } },
                Some(true) => td { (t(l, T::Reachable)) },
                None => td { "-" },
            }
        }
        td class=(if status.and_then(|x| x.sequence) != b.sent_sequence && b.sent_sequence.is_some() && b.sftp { "warn" } else { "" }) {
            (b.sent_sequence.map_or("-".to_owned(), |x| x.to_string()))
            " / "
            (status.and_then(|x| x.sequence).map_or("-".to_owned(), |x| x.to_string()))
            @if let Some(p) = b.pending_sequence {
                div class="sub" { (t(l, T::Pending)) " " (p) }
            }
        }
        @let age = b.data_age(now);
        td class=(if age.is_some_and(|a| a > 2 * i64::try_from(w.interval.as_secs()).unwrap_or(i64::MAX)) { "bad" } else { "" }) {
            @match age {
                Some(a) => { (crate::timefmt::age(a, l)) }
                None => { @if b.sftp { (t(l, T::NoStatus)) } @else { "-" } }
            }
        }
        td { (status.map_or("-".to_owned(), |x| clip(&x.mode))) }
        td {
            (status.map_or("-".to_owned(), |x| clip(&x.version)))
            @if let Some(image) = status.and_then(|x| x.image_version.as_deref()) {
                div class="sub" { (t(l, T::ImageVersion)) " " (clip(image)) }
            }
        }
        td class=(if problems.is_empty() { "" } else { "bad" }) {
            @if problems.is_empty() {
                (t(l, T::None_))
            } @else {
                ul {
                    @for p in &problems {
                        li { code { (clip(&p.code)) } ": " (clip(&p.message)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet {
            wards: vec![WardState {
                id: "A3".into(),
                name: "<script>x</script>".into(),
                interval: Duration::from_secs(300),
                last_attempt: Some(Utc::now()),
                last_error: Some(
                    "ward A3: MedicationRequest search: the EPD answered HTTP 500".into(),
                ),
                last_error_code: Some("http_error"),
                failures: 2,
                boxes: vec![BoxState {
                    id: "a3-box-1".into(),
                    sftp: true,
                    reachable: Some(false),
                    sent_sequence: Some(7),
                    last_delivery_error: Some(
                        "ssh: connect to host 10.1.2.3 port 22: Connection refused".into(),
                    ),
                    ..BoxState::default()
                }],
                ..WardState::default()
            }],
        }
    }

    #[test]
    fn metrics_name_every_ward_and_box_with_escaped_labels() {
        let m = metrics(&fleet(), Utc::now());
        assert!(
            m.contains("noodepd_publisher_ward_last_publish_success{ward=\"A3\"} 0"),
            "{m}"
        );
        assert!(
            m.contains("noodepd_publisher_ward_failures_total{ward=\"A3\"} 2"),
            "{m}"
        );
        assert!(
            m.contains("noodepd_publisher_ward_last_failure{ward=\"A3\",code=\"http_error\"} 1"),
            "{m}"
        );
        assert!(
            m.contains("noodepd_publisher_box_reachable{ward=\"A3\",box=\"a3-box-1\"} 0"),
            "{m}"
        );
        assert!(m.contains("noodepd_publisher_box_problem{ward=\"A3\",box=\"a3-box-1\",code=\"delivery_failed\"} 1"), "{m}");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_publisher_metric_the_runbook_and_its_alert_rules_name_is_exported() {
        let doc = include_str!("../../docs/OPERATIONS.md");
        let m = metrics(&fleet(), Utc::now());
        let mut names: Vec<&str> = doc
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("noodepd_publisher_"))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 15, "{names:?}");
        for n in &names {
            assert!(
                m.contains(&format!("# TYPE {n} ")),
                "{n} is named in OPERATIONS.md but not exported"
            );
        }
        let rules = doc
            .split("- name: noodepd-publisher")
            .nth(1)
            .and_then(|r| r.split("```").next())
            .expect("the alert rules block");
        for alert in [
            "NoodepdWardNotPublished",
            "NoodepdBoxDataOld",
            "NoodepdBoxSilent",
            "NoodepdBoxProblem",
        ] {
            assert!(rules.contains(&format!("alert: {alert}")), "{alert}");
        }
    }

    #[test]
    fn page_escapes_and_shows_failures() {
        let s = PageSettings {
            language: Language::En,
            timezone: chrono_tz::Europe::Amsterdam,
        };
        let h = page(&fleet(), &s, Utc::now()).into_string();
        assert!(!h.contains("<script>"), "{h}");
        assert!(h.contains("FAILED"));
        assert!(h.contains("UNREACHABLE"));
        assert!(h.contains("Connection refused"));
    }

    /// The fleet page shows each box's image release when its status file has one, and
    /// nothing for a box whose status file is from before image versions.
    #[test]
    fn page_shows_the_image_version_of_boxes_that_report_one() {
        let status = |image: Option<&str>| {
            let mut v = serde_json::json!({"format":1,"ward":"A3","appliance":"a3-box-1",
                "version":"0.1.0","clock":"2026-11-20T10:00:00Z","mode":"standby",
                "mode_since":"2026-11-20T10:00:00Z","serving":true,"sequence":7,
                "data_as_of":null,"received_at":null,"patients":null,"stale":false,
                "last_sequence":7,"roster_staff":0,"problems":[],"last_rejection":null});
            if let Some(i) = image {
                v["image_version"] = serde_json::json!(i);
            }
            crate::statusfile::BoxStatus::parse(&serde_json::to_vec(&v).unwrap()).unwrap()
        };
        let s = PageSettings {
            language: Language::Nl,
            timezone: chrono_tz::Europe::Amsterdam,
        };
        let mut f = fleet();
        f.wards[0].boxes[0].status = Some(status(Some("2026.12.1")));
        let h = page(&f, &s, Utc::now()).into_string();
        assert!(h.contains("image 2026.12.1"), "{h}");
        f.wards[0].boxes[0].status = Some(status(None));
        let h = page(&f, &s, Utc::now()).into_string();
        assert!(h.contains("0.1.0") && !h.contains("image "), "{h}");
    }
}
