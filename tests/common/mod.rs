//! Test harness for the web tests: a complete daemon state in a temp dir (config, audit log,
//! mode, store with a served generation, roster with known codes), the real web server on a
//! 127.0.0.1:0 listener in its own tokio runtime, and a small blocking HTTP/1.1 client that
//! keeps cookies. Patient data is hand-built and hostile: every text field carries markup
//! that must come out escaped.

#![allow(dead_code)]

use chrono::{Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone, Utc};
use noodepd::app::App;
use noodepd::audit::AuditLog;
use noodepd::config::Config;
use noodepd::mode::{Mode, ModeController, Switcher};
use noodepd::record::*;
use noodepd::roster::{Role, Roster, StaffMember};
use noodepd::store::{GenerationMeta, Store};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Demo staff: (user, code, role).
pub(crate) const NURSE: (&str, &str, Role) = ("nurse1", "31415926", Role::Nurse);
pub(crate) const DOCTOR: (&str, &str, Role) = ("doc1", "27182818", Role::Physician);
pub(crate) const COORD: (&str, &str, Role) = ("coord1", "16180339", Role::Coordinator);
pub(crate) const IT: (&str, &str, Role) = ("it1", "14142135", Role::It);
/// A second nurse, for lockout tests that must not lock NURSE.
pub(crate) const NURSE2: (&str, &str, Role) = ("nurse2", "17320508", Role::Nurse);

/// The nurse's display name (with markup: must be escaped wherever it shows).
pub(crate) const NURSE_NAME: &str = "Nina <i>Verpleeg</i>";

/// Marker of hostile text: appears raw in the data, must never appear raw in HTML.
pub(crate) const HOSTILE_RAW: &[&str] = &["<script", "<img src=x", "<b>HOSTILE"];

/// A hostile string for field `f`.
pub(crate) fn hostile(f: &str) -> String {
    format!("<b>HOSTILE {f}</b><script>alert('{f}')</script>\"'><img src=x onerror=alert(1)>&amp;")
}

/// [`hostile`] as a record text.
fn hostile_text(f: &str) -> Text {
    Text::new(hostile(f))
}

/// Identifying values of the test patients that must never show in standby.
pub(crate) const SECRETS: &[&str] = &[
    "Zwartbroek",
    "Hendrika",
    "Oosterwold",
    "999911120",
    "999912345",
    "PN-773101",
    "PN-773102",
    "Metoprololzqx",
    "Pinda-allergie-zqx",
    "HOSTILE",
];

/// Patient keys in the test data.
pub(crate) const KEY_A: &str = "pn-773101";
pub(crate) const KEY_B: &str = "pn-773102";

/// Every URL of the web view that can carry patient data.
pub(crate) fn data_urls() -> Vec<String> {
    vec![
        "/".into(),
        "/?q=Zwartbroek".into(),
        "/?q=12".into(),
        format!("/patient/{KEY_A}"),
        format!("/patient/{KEY_B}"),
        format!("/print/mar/{KEY_A}"),
        format!("/patient/{KEY_B}/mar"),
        "/print/mar".into(),
        "/print/ward".into(),
        "/print/blank-mar".into(),
        "/print/mar-blank".into(),
    ]
}

fn staff() -> &'static Vec<StaffMember> {
    static STAFF: OnceLock<Vec<StaffMember>> = OnceLock::new();
    STAFF.get_or_init(|| {
        [
            (NURSE, NURSE_NAME),
            (DOCTOR, "Dirk Dokter"),
            (COORD, "Carla Coördinator"),
            (IT, "Ivo ICT"),
            (NURSE2, "Nora Tweede"),
        ]
        .iter()
        .map(|((user, code, role), name)| StaffMember {
            user: (*user).into(),
            name: (*name).into(),
            role: *role,
            code_hash: noodepd::roster::hash_code(code).unwrap(),
        })
        .collect()
    })
}

fn moment_day(y: i32, m: u32, d: u32) -> Option<Moment> {
    NaiveDate::from_ymd_opt(y, m, d).map(Moment::Day)
}

/// A patient whose every text field is hostile (apart from the identifying test values).
pub(crate) fn hostile_patient(
    key: &str,
    given: &str,
    surname: &str,
    bsn: &str,
    number: &str,
    bed: &str,
) -> PatientRecord {
    let h = hostile_text;
    let now = Utc::now();
    let code = || {
        Some(Code {
            system: Some(h("code.system")),
            code: Some(h("code.code")),
            display: Some(h("code.display")),
        })
    };
    PatientRecord {
        key: key.into(),
        identity: Identity {
            name: PersonName {
                display: format!("{given} {surname} {}", h("name")).into(),
                sort_key: format!("{surname}, {given}").into(),
                given: vec![given.into()],
                initials: Some(h("initials")),
                prefix: None,
                surname: Some(surname.into()),
                partner_prefix: None,
                partner_surname: None,
            },
            birth_date: moment_day(1944, 2, 29),
            sex: Sex::Female,
            bsn: Some(bsn.into()),
            patient_number: Some(number.into()),
            deceased: false,
        },
        location: BedLocation {
            ward: Some(h("ward")),
            room: Some(h("room")),
            bed: Some(bed.into()),
        },
        admission: Some(Admission {
            start: Some(Moment::Instant(now - ChronoDuration::days(2))),
            attending: Some(h("attending")),
            reason: Some(h("admission.reason")),
            specialty: Some(h("specialty")),
        }),
        alerts: Listed::Items {
            items: vec![Alert {
                kind: AlertKind::Isolation,
                text: format!("MRSA {}", h("alert")).into(),
                code: code(),
                codes: code().into_iter().collect(),
                since: moment_day(2026, 1, 2),
                note: Some(h("alert.note")),
            }],
        },
        allergies: Listed::Items {
            items: vec![Allergy {
                substance: format!("Pinda-allergie-zqx {}", h("allergy")).into(),
                code: code(),
                codes: code().into_iter().collect(),
                criticality: Criticality::High,
                kind: Some(h("allergy.kind")),
                category: vec![h("allergy.category")],
                reactions: vec![Reaction {
                    manifestation: h("reaction"),
                    severity: Some(h("reaction.severity")),
                }],
                clinical_status: Some(h("allergy.status")),
                verification: Some(h("allergy.verification")),
                recorded: moment_day(2020, 5, 6),
                note: Some(h("allergy.note")),
            }],
        },
        directives: Listed::Items {
            items: vec![Directive {
                kind: DirectiveKind::Resuscitation,
                treatment: format!("Reanimatie {}", h("directive")).into(),
                decision: Decision::Deny,
                text: Some(h("directive.text")),
                source: Some(h("directive.source")),
                date: moment_day(2025, 12, 1),
                status: Some(h("directive.status")),
                codes: code().into_iter().collect(),
            }],
        },
        problems: Listed::Items {
            items: vec![Problem {
                name: h("problem"),
                code: code(),
                codes: code().into_iter().collect(),
                status: Some(h("problem.status")),
                onset: Some(Moment::Year(2019)),
            }],
        },
        medication: Listed::Items {
            items: hostile_treatments(
                h,
                now,
                code(),
                vec![
                    MedicationLine {
                        kind: MedicationKind::Agreement,
                        id: "med-1".into(),
                        drug: Drug {
                            name: format!("Metoprololzqx {}", h("drug")).into(),
                            code: code(),
                            codes: code().into_iter().collect(),
                            strength: Some(h("strength")),
                            form: Some(h("form")),
                            ingredients: vec![h("ingredient")],
                        },
                        dosages: vec![Dosage {
                            dose: Some(format!("50 mg {}", h("dose")).into()),
                            route: Some(h("route")),
                            schedule: Schedule {
                                times_of_day: vec![
                                    NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                                    NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
                                ],
                                frequency: Some(Frequency {
                                    count: 2,
                                    count_max: None,
                                    period: "1".into(),
                                    period_unit: "d".into(),
                                }),
                                when: vec![h("when")],
                                days_of_week: vec![],
                                text: Some(h("schedule.text")),
                            },
                            as_needed: None,
                            max_dose: Some(h("max_dose")),
                            text: Some(h("dosage.text")),
                            sequence: Some(1),
                            ..Default::default()
                        }],
                        start: moment_day(2026, 1, 1),
                        end: None,
                        prescriber: Some(h("prescriber")),
                        category: Some(h("category")),
                        status: Some(h("med.status")),
                        reason: Some(h("med.reason")),
                        note: Some(h("med.note")),
                        based_on: None,
                        ..Default::default()
                    },
                    MedicationLine {
                        kind: MedicationKind::Agreement,
                        id: "med-2".into(),
                        drug: Drug {
                            name: format!("Paracetamolzqx {}", h("drug2")).into(),
                            code: None,
                            codes: vec![],
                            strength: Some("500 mg".into()),
                            form: None,
                            ingredients: vec![],
                        },
                        dosages: vec![Dosage {
                            dose: Some("1000 mg".into()),
                            route: Some("oraal".into()),
                            schedule: Schedule::default(),
                            as_needed: Some(AsNeeded {
                                condition: Some(h("as_needed")),
                            }),
                            max_dose: Some("4000 mg per dag".into()),
                            text: None,
                            sequence: None,
                            ..Default::default()
                        }],
                        start: None,
                        end: None,
                        prescriber: None,
                        category: None,
                        status: None,
                        reason: None,
                        note: None,
                        based_on: None,
                        ..Default::default()
                    },
                ],
            ),
        },
        administrations: Listed::Items {
            items: vec![Administration {
                drug: format!("Metoprololzqx {}", h("admin.drug")).into(),
                dose: Some(h("admin.dose")),
                route: Some(h("admin.route")),
                at: Some(Moment::Instant(now - ChronoDuration::hours(3))),
                status: Some(h("admin.status")),
                performer: Some(h("performer")),
                line_id: Some("med-1".into()),
                note: Some(h("admin.note")),
                treatment_id: Some("med-1".into()),
                dose_quantity: Some(Quantity {
                    value: 50.0,
                    unit: Some(h("admin.unit")),
                    system: Some(h("admin.unit.system")),
                    code: Some(h("admin.unit.code")),
                }),
                status_reason: None,
            }],
        },
        vitals: Listed::Items {
            items: vec![Measurement {
                name: h("vital"),
                code: code(),
                value: h("vital.value"),
                unit: Some(h("unit")),
                at: Some(Moment::Instant(now - ChronoDuration::hours(1))),
                flag: Some(h("flag")),
                reference_range: Some(h("range")),
            }],
        },
        labs: Listed::Items {
            items: vec![Measurement {
                name: h("lab"),
                code: code(),
                value: h("lab.value"),
                unit: Some(h("lab.unit")),
                at: Some(Moment::Instant(now - ChronoDuration::hours(5))),
                flag: Some(h("lab.flag")),
                reference_range: Some(h("lab.range")),
            }],
        },
        contacts: Listed::Items {
            items: vec![Contact {
                name: h("contact"),
                relationship: Some(h("relationship")),
                role: Some(h("contact.role")),
                telecom: vec![h("telecom")],
            }],
        },
        devices: Listed::Items {
            items: vec![Device {
                name: h("device"),
                code: code(),
                since: moment_day(2026, 11, 1),
                body_site: Some(h("body_site")),
                note: Some(h("device.note")),
            }],
        },
        notes: vec![
            SectionNote {
                section: NoteSection::Allergies,
                kind: NoteKind::PartialNegation,
                statement: h("note.partial"),
                asserted: None,
            },
            SectionNote {
                section: NoteSection::Medication,
                kind: NoteKind::Contradiction,
                statement: h("note.contradiction"),
                asserted: None,
            },
        ],
        unread: vec![Unread {
            resource_type: h("unread.type"),
            id: Some(h("unread.id")),
            reason: UnreadReason::UnknownModifier,
            detail: h("unread.detail"),
        }],
        unread_more: 0,
        identity_conflicts: vec![IdentityConflict {
            field: "name".into(),
            values: vec![h("conflict.a"), h("conflict.b")],
        }],
    }
}

/// The hostile patient's treatments: each line its own treatment, the first with a
/// stopped predecessor (history), plus one that could not be fully read.
fn hostile_treatments(
    h: fn(&str) -> Text,
    now: chrono::DateTime<Utc>,
    code: Option<Code>,
    lines: Vec<MedicationLine>,
) -> Vec<Treatment> {
    let mut out = Vec::new();
    for (n, line) in lines.into_iter().enumerate() {
        if n == 0 {
            let mut old = line.clone();
            old.id = "med-0".into();
            old.dosages
                .iter_mut()
                .for_each(|d| d.dose = Some(h("history.dose")));
            old.facts.status = BlockStatus::Stopped;
            let blocks = vec![
                Block {
                    line,
                    refers: vec![],
                },
                Block {
                    line: old,
                    refers: vec![],
                },
            ];
            out.push(noodepd::record::medication::resolve(
                "med-1".into(),
                Some(h("treatment.identifier")),
                blocks,
                now,
            ));
        } else {
            out.push(Treatment::single(line, now));
        }
    }
    let mut odd = MedicationLine {
        id: "med-9".into(),
        drug: Drug {
            name: format!("Raadselzqx {}", h("drug3")).into(),
            code: code.clone(),
            codes: code.into_iter().collect(),
            ..Default::default()
        },
        unreadable: vec![Unreadable::UnknownModifier(h("modifier"))],
        ..Default::default()
    };
    odd.dosages.push(Dosage {
        dose: Some(h("odd.dose")),
        ..Default::default()
    });
    out.push(Treatment::single(odd, now));
    out
}

/// The treatment limit of the patient in bed 14 besides the resuscitation policy, as the
/// overview must show it.
pub(crate) const LIMIT_B: &str = "geen beademing-zqx";

/// The test ward: two hostile patients in beds 12 and 14; the one in bed 14 also has a
/// treatment limit (no ventilation) besides the resuscitation policy.
pub(crate) fn ward() -> WardRecord {
    let mut b = hostile_patient(
        KEY_B,
        "Willemijn",
        "Oosterwold",
        "999912345",
        "PN-773102",
        "14",
    );
    if let Listed::Items { items } = &mut b.directives {
        items.push(Directive {
            kind: DirectiveKind::Treatment,
            treatment: "Beademing-zqx".into(),
            decision: Decision::Deny,
            text: None,
            source: None,
            date: None,
            status: Some("active".into()),
            codes: vec![],
        });
    }
    WardRecord {
        ward: "A3".into(),
        patients: vec![
            hostile_patient(
                KEY_A,
                "Hendrika",
                "Zwartbroek",
                "999911120",
                "PN-773101",
                "12",
            ),
            b,
        ],
        report: IngestReport::default(),
        next_change: None,
    }
}

/// A realistic ward: the demo generator's FHIR bundle through the FHIR mapper.
pub(crate) fn generated_ward(patients: usize, seed: u64) -> WardRecord {
    let now = Utc::now();
    let g = noodepd::generate::generate(&noodepd::generate::GenerateOptions::new(
        patients, seed, "A3", now,
    ));
    let (_, bundle) = g.bundles.into_iter().next().unwrap();
    let doc = noodepd::fhir::input::Document {
        path: PathBuf::from("generated.json"),
        line: None,
        value: bundle,
    };
    noodepd::fhir::map_documents(&[doc], &noodepd::fhir::MapOptions::new(now, "A3"))
}

/// How to set up a test server.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub mode: Mode,
    pub roster: bool,
    pub data: bool,
    pub metrics_public: bool,
    /// TLS certificate and key PEM files (plain HTTP when None).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub lockout_attempts: u32,
    /// Use the demo generator (this many patients, this seed), mapped by the FHIR mapper,
    /// instead of the hand-built hostile ward.
    pub generated: Option<(usize, u64)>,
    /// Serve this record (e.g. fixtures mapped at a fixed time) instead of the hostile ward.
    pub record: Option<WardRecord>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Emergency,
            roster: true,
            data: true,
            metrics_public: false,
            tls: None,
            lockout_attempts: 5,
            generated: None,
            record: None,
        }
    }
}

/// A running test server.
pub(crate) struct Server {
    pub addr: SocketAddr,
    pub shared: Arc<App>,
    pub dir: tempfile::TempDir,
    /// The TLS configuration in force (when serving TLS), for reload tests.
    pub tls: Option<Arc<noodepd::web::TlsReloader>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Builds the daemon state in `dir`.
pub(crate) fn shared_in(dir: &Path, opts: &Options) -> Arc<App> {
    let state = dir.join("state");
    let runtime = dir.join("run");
    std::fs::create_dir_all(&state).unwrap();
    let tls = match &opts.tls {
        Some((c, k)) => format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            c.display(),
            k.display()
        ),
        None => "plain_http = true\n".into(),
    };
    let toml = format!(
        "[appliance]\nid = \"box-1\"\nward = \"A3\"\nward_name = \"Interne <em>A3</em>\"\nlanguage = \"nl\"\n\
         [paths]\nstate = \"{}\"\nruntime = \"{}\"\n\
         [web]\nlisten = \"127.0.0.1:0\"\n{tls}metrics_public = {}\nlockout_attempts = {}\n",
        state.display(),
        runtime.display(),
        opts.metrics_public,
        opts.lockout_attempts,
    );
    let config = Config::from_toml(&toml, &dir.join("noodepd.toml")).unwrap();
    let audit = AuditLog::open(&state, "box-1", "A3").unwrap();
    let mode = ModeController::load(&state, config.drill_max_duration).unwrap();
    let store = Store::open(&runtime).unwrap();
    if opts.data {
        let now = Utc::now();
        let meta = GenerationMeta {
            ward: "A3".into(),
            sequence: 7,
            data_as_of: now - ChronoDuration::minutes(4),
            created_at: now - ChronoDuration::minutes(3),
            received_at: now - ChronoDuration::minutes(2),
            snapshot_file: "a3-7.snap".into(),
            report: IngestReport::default(),
            derived_at: None,
            next_change: None,
        };
        let record = match (&opts.record, opts.generated) {
            (Some(r), _) => r.clone(),
            (None, Some((n, seed))) => generated_ward(n, seed),
            (None, None) => ward(),
        };
        let g = store.build(meta, &record).unwrap();
        store.swap(g);
    }
    if opts.mode != Mode::Standby {
        mode.set(&audit, opts.mode, Switcher::Console, "test", Utc::now())
            .unwrap();
    }
    let roster = opts.roster.then(|| {
        Arc::new(Roster {
            ward: "A3".into(),
            staff: staff().clone(),
        })
    });
    Arc::new(App::new(config, store, mode, audit, roster))
}

impl Server {
    /// Starts a server with default options (emergency mode, data, roster, plain HTTP).
    pub(crate) fn start() -> Server {
        Server::with(Options::default())
    }

    /// Starts a server with `opts`.
    pub(crate) fn with(opts: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared_in(dir.path(), &opts);
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let tls = opts.tls.as_ref().map(|(c, k)| {
            Arc::new(
                noodepd::web::TlsReloader::new(&noodepd::config::TlsPaths {
                    cert: c.clone(),
                    key: k.clone(),
                })
                .unwrap(),
            )
        });
        let tls_handle = tls.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
                noodepd::web::run(sh, l, tls, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            addr,
            shared,
            dir,
            tls: tls_handle,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// A client with an empty cookie jar.
    pub(crate) fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// A client logged in as `who` (panics when login fails).
    pub(crate) fn login(&self, who: (&str, &str, Role)) -> Client {
        let mut c = self.client();
        let r = c.login(who.0, who.1);
        assert_eq!(r.status, 303, "login of {} failed: {}", who.0, r.body);
        c
    }

    /// Switches the mode as root would.
    pub(crate) fn set_mode(&self, mode: Mode) {
        self.shared
            .switch_mode(mode, Switcher::Console, "test", Utc::now())
            .unwrap();
    }

    /// The audit log entries, oldest first (as stored JSON events with kind).
    pub(crate) fn audit_entries(&self) -> Vec<serde_json::Value> {
        let conn = rusqlite::Connection::open(self.shared.audit_log().path()).unwrap();
        let mut st = conn
            .prepare("SELECT id, time, event FROM entry ORDER BY id")
            .unwrap();
        st.query_map([], |r| {
            let id: i64 = r.get(0)?;
            let time: String = r.get(1)?;
            let ev: String = r.get(2)?;
            Ok((id, time, ev))
        })
        .unwrap()
        .map(|r| {
            let (id, time, ev) = r.unwrap();
            let mut v: serde_json::Value = serde_json::from_str(&ev).unwrap();
            v["id"] = id.into();
            v["time"] = time.into();
            v
        })
        .collect()
    }
}

impl Server {
    /// Signals shutdown and waits until the server's `run` has returned.
    pub(crate) fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct Res {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Res {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub(crate) fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The Set-Cookie header for cookie `name`.
    pub(crate) fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers_all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the form field `name` in the body (e.g. the CSRF token).
    pub(crate) fn form_value(&self, name: &str) -> Option<String> {
        input_value(&self.body, name)
    }
}

/// Finds `<input ... name="NAME" ... value="V">` in HTML, in any attribute order.
pub(crate) fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    for part in html.split("<input").skip(1) {
        let tag = part.split('>').next()?;
        if tag.contains(&needle) {
            let v = tag.split("value=\"").nth(1)?;
            return v.split('"').next().map(str::to_owned);
        }
    }
    None
}

/// A blocking HTTP/1.1 client with a cookie jar; one connection per request.
pub(crate) struct Client {
    pub addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
    /// Local address to connect from (any 127.x.y.z works on Linux loopback).
    pub from: Option<IpAddr>,
    /// Extra headers sent with every request.
    pub extra: Vec<(String, String)>,
}

impl Client {
    pub(crate) fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            cookies: BTreeMap::new(),
            from: None,
            extra: Vec::new(),
        }
    }

    fn connect(&self) -> TcpStream {
        let s = match self.from {
            None => TcpStream::connect(self.addr).unwrap(),
            Some(ip) => {
                // std cannot bind before connect; a throwaway tokio runtime can.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let addr = self.addr;
                rt.block_on(async move {
                    let sock = tokio::net::TcpSocket::new_v4().unwrap();
                    sock.bind(SocketAddr::new(ip, 0)).unwrap();
                    let s = sock.connect(addr).await.unwrap().into_std().unwrap();
                    s.set_nonblocking(false).unwrap();
                    s
                })
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Sends raw bytes and reads the whole answer (no cookie handling).
    pub(crate) fn raw(&self, request: &[u8]) -> Res {
        let mut s = self.connect();
        s.write_all(request).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        parse_response(&buf)
    }

    /// Sends a request with the jar's cookies; stores cookies from the answer.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Res {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: noodepd-test\r\n",
            self.addr
        );
        if let Some(c) = self.cookie_header() {
            req.push_str(&format!("Cookie: {c}\r\n"));
        }
        for (k, v) in &self.extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        let res = self.raw(&bytes);
        for c in res.headers_all("set-cookie") {
            let first = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                let removed = c.to_ascii_lowercase().contains("max-age=0");
                if removed {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        res
    }

    pub(crate) fn get(&mut self, path: &str) -> Res {
        self.request("GET", path, &[], b"")
    }

    /// POSTs a form (URL-encoded).
    pub(crate) fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Res {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// GET /login, then POST the form with the token from the page.
    pub(crate) fn login(&mut self, user: &str, code: &str) -> Res {
        let page = self.get("/login");
        let csrf = page.form_value("csrf").unwrap_or_default();
        self.post("/login", &[("user", user), ("code", code), ("csrf", &csrf)])
    }

    /// The CSRF token of a logged-in page (from the logout form every page carries).
    pub(crate) fn csrf(&mut self) -> String {
        let r = self.get("/coordinator");
        if let Some(v) = r.form_value("csrf") {
            return v;
        }
        let r = self.get("/");
        r.form_value("csrf").expect("no csrf token on the page")
    }
}

/// Parses an HTTP/1.1 response (Content-Length or read-to-close bodies; chunked decoded).
pub(crate) fn parse_response(buf: &[u8]) -> Res {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n).unwrap_or(after));
            rest = after.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        body.to_owned()
    };
    Res {
        status,
        headers,
        body,
    }
}

/// Today's date at 00:00 UTC (for readable asserts).
pub(crate) fn today() -> NaiveDate {
    Utc.timestamp_opt(Utc::now().timestamp(), 0)
        .unwrap()
        .date_naive()
}
