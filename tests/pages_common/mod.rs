//! Builders for the page tests: a page context with owned parts, a realistic Dutch
//! patient, and a patient whose every rendered field carries a unique hostile marker.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use noodepd::config::Language;
use noodepd::mode::{Mode, ModeState, Switcher};
use noodepd::record::*;
use noodepd::roster::Role;
use noodepd::store::GenerationMeta;
use noodepd::web::SessionUser;
use noodepd::web::pages::PageCtx;
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

/// The proof the pages with patient data take (`noodepd::audit::Receipt`), made the only way
/// there is: a durable entry in a real access log (one per test binary, in Cargo's test
/// scratch directory).
pub(crate) fn seen() -> &'static noodepd::audit::Receipt {
    use noodepd::audit::{Action, AuditLog, Event, EventKind, Outcome};
    static SEEN: OnceLock<noodepd::audit::Receipt> = OnceLock::new();
    SEEN.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("pages-seen")
            .join(env!("CARGO_CRATE_NAME"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = AuditLog::open(&dir, "box-1", "A3").unwrap();
        log.append_receipt(Event::new(
            EventKind::PatientView,
            Action::R,
            Outcome::Success,
            "drill",
            "page test".into(),
        ))
        .unwrap()
    })
}

pub(crate) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// "Now" in the tests: Sunday 22-11-2026 14:17 Amsterdam (13:17 UTC).
pub(crate) fn now() -> DateTime<Utc> {
    utc(2026, 11, 22, 13, 17)
}

/// Everything a PageCtx borrows.
pub(crate) struct Fixture {
    pub lang: Language,
    pub mode: ModeState,
    pub meta: Option<GenerationMeta>,
    pub user: Option<SessionUser>,
    pub ward_name: String,
    pub appliance_id: String,
    pub path: String,
    pub stale_after: Duration,
}

impl Fixture {
    /// Emergency mode, data 12 minutes old (as of 14:05 Amsterdam), nurse logged in.
    pub(crate) fn new(mode: Mode) -> Fixture {
        Fixture {
            lang: Language::Nl,
            mode: ModeState {
                mode,
                since: utc(2026, 11, 22, 12, 0),
                by: Switcher::Console,
                reason: "EPD storing".into(),
                drill_ends_at: (mode == Mode::Drill).then(|| utc(2026, 11, 22, 15, 0)),
                drill_id: None,
            },
            meta: Some(GenerationMeta {
                ward: "A3".into(),
                sequence: 42,
                data_as_of: utc(2026, 11, 22, 13, 5),
                created_at: utc(2026, 11, 22, 13, 6),
                received_at: utc(2026, 11, 22, 13, 7),
                snapshot_file: "a3-42.snap".into(),
                report: IngestReport::default(),
                derived_at: None,
                next_change: None,
            }),
            user: Some(SessionUser {
                id: "jdevries".into(),
                name: "Jolien de Vries".into(),
                role: Role::Nurse,
                issued_by: None,
            }),
            ward_name: "Interne geneeskunde A3".into(),
            appliance_id: "a3-box1".into(),
            path: "/".into(),
            stale_after: Duration::from_secs(30 * 60),
        }
    }

    pub(crate) fn ctx(&self) -> PageCtx<'_> {
        PageCtx {
            lang: self.lang,
            tz: chrono_tz::Europe::Amsterdam,
            now: now(),
            ward_name: &self.ward_name,
            appliance_id: &self.appliance_id,
            mode: &self.mode,
            data: self.meta.as_ref(),
            stale_after: self.stale_after,
            user: self.user.as_ref(),
            csrf: "csrf-token-123",
            path: &self.path,
        }
    }
}

pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(crate) fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

pub(crate) fn name(display: &str) -> PersonName {
    PersonName {
        display: display.into(),
        sort_key: display.into(),
        ..Default::default()
    }
}

pub(crate) fn drug(n: &str, strength: &str) -> Drug {
    Drug {
        name: n.into(),
        code: None,
        codes: vec![],
        strength: Some(strength.into()),
        form: Some("tablet".into()),
        ingredients: vec![],
    }
}

pub(crate) fn timed(dose: &str, route: &str, times: &[NaiveTime]) -> Dosage {
    Dosage {
        dose: Some(dose.into()),
        route: Some(route.into()),
        schedule: Schedule {
            times_of_day: times.to_vec(),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub(crate) fn line(id: &str, d: Drug, dosages: Vec<Dosage>) -> MedicationLine {
    MedicationLine {
        kind: MedicationKind::Agreement,
        id: id.into(),
        drug: d,
        dosages,
        start: Some(Moment::Day(day(2026, 11, 18))),
        end: None,
        prescriber: Some("dr. A. Bakker".into()),
        category: None,
        status: Some("active".into()),
        reason: None,
        note: None,
        based_on: None,
        ..Default::default()
    }
}

/// The facts of a line from its start and end (what a mapper would have read).
fn with_facts(mut l: MedicationLine) -> MedicationLine {
    if l.facts.periods.is_empty() && (l.start.is_some() || l.end.is_some()) {
        l.facts.periods = vec![Span {
            start: l.start,
            end: l.end,
        }];
    }
    l
}

/// A treatment of one line, decided at the tests' `now`.
pub(crate) fn single(l: MedicationLine) -> Treatment {
    Treatment::single(with_facts(l), now())
}

/// A treatment of several blocks; every block after the first refers to the first.
pub(crate) fn treatment(id: &str, lines: Vec<MedicationLine>) -> Treatment {
    let blocks = lines
        .into_iter()
        .enumerate()
        .map(|(n, l)| Block {
            line: with_facts(l),
            refers: if n == 0 { vec![] } else { vec![0] },
        })
        .collect();
    noodepd::record::medication::resolve(id.into(), None, blocks, now())
}

pub(crate) fn given(line_id: &str, drug: &str, at: DateTime<Utc>) -> Administration {
    Administration {
        drug: drug.into(),
        dose: Some("1 stuk".into()),
        route: Some("oraal".into()),
        at: Some(Moment::Instant(at)),
        status: Some("completed".into()),
        performer: Some("M. Jansen".into()),
        line_id: Some(line_id.into()),
        note: None,
        treatment_id: None,
        dose_quantity: None,
        status_reason: None,
    }
}

/// A plausible patient: paracetamol 4x daily, metoprolol at 08:00, oxazepam as needed.
pub(crate) fn realistic_patient(key: &str, display: &str, bed: &str) -> PatientRecord {
    PatientRecord {
        key: key.into(),
        identity: Identity {
            name: name(display),
            birth_date: Some(Moment::Day(day(1948, 2, 3))),
            sex: Sex::Female,
            bsn: Some("999911120".into()),
            patient_number: Some("7654321".into()),
            deceased: false,
        },
        location: BedLocation {
            ward: Some("A3".into()),
            room: Some("3".into()),
            bed: Some(bed.into()),
        },
        admission: Some(Admission {
            start: Some(Moment::Instant(utc(2026, 11, 18, 9, 30))),
            attending: Some("dr. A. Bakker".into()),
            reason: Some("Pneumonie".into()),
            specialty: Some("Interne geneeskunde".into()),
        }),
        alerts: Listed::Items {
            items: vec![Alert {
                kind: AlertKind::FallRisk,
                text: "Valrisico".into(),
                code: None,
                codes: vec![],
                since: Some(Moment::Day(day(2026, 11, 18))),
                note: None,
            }],
        },
        allergies: Listed::Items {
            items: vec![Allergy {
                substance: "Penicilline".into(),
                code: None,
                codes: vec![],
                criticality: Criticality::High,
                kind: Some("allergy".into()),
                category: vec!["medication".into()],
                reactions: vec![Reaction {
                    manifestation: "Anafylaxie".into(),
                    severity: Some("severe".into()),
                }],
                clinical_status: Some("active".into()),
                verification: Some("confirmed".into()),
                recorded: Some(Moment::Year(2011)),
                note: None,
            }],
        },
        directives: Listed::Items {
            items: vec![Directive {
                kind: DirectiveKind::Resuscitation,
                treatment: "Reanimatie".into(),
                decision: Decision::Deny,
                text: Some("Besproken met patiënte en dochter".into()),
                source: Some("dr. A. Bakker".into()),
                date: Some(Moment::Day(day(2026, 11, 18))),
                status: Some("active".into()),
                codes: vec![],
            }],
        },
        problems: Listed::Items {
            items: vec![Problem {
                name: "Pneumonie".into(),
                code: None,
                codes: vec![],
                status: Some("active".into()),
                onset: Some(Moment::Day(day(2026, 11, 17))),
            }],
        },
        medication: Listed::Items {
            items: [
                line(
                    "med-1",
                    drug("Paracetamol", "500 mg"),
                    vec![timed(
                        "1000 mg",
                        "oraal",
                        &[hm(8, 0), hm(14, 0), hm(20, 0), hm(23, 0)],
                    )],
                ),
                line(
                    "med-2",
                    drug("Metoprolol", "50 mg"),
                    vec![timed("1 stuk", "oraal", &[hm(8, 0)])],
                ),
                line(
                    "med-3",
                    drug("Oxazepam", "10 mg"),
                    vec![Dosage {
                        dose: Some("1 stuk".into()),
                        route: Some("oraal".into()),
                        as_needed: Some(AsNeeded {
                            condition: Some("onrust".into()),
                        }),
                        max_dose: Some("2 stuks per dag".into()),
                        ..Default::default()
                    }],
                ),
            ]
            .into_iter()
            .map(single)
            .collect(),
        },
        administrations: Listed::Items {
            items: vec![
                given("med-1", "Paracetamol 500 mg", utc(2026, 11, 22, 13, 0)),
                given("med-2", "Metoprolol 50 mg", utc(2026, 11, 22, 7, 2)),
                given("med-1", "Paracetamol 500 mg", utc(2026, 11, 22, 7, 0)),
            ],
        },
        vitals: Listed::Items {
            items: vec![Measurement {
                name: "Bloeddruk".into(),
                code: None,
                value: "128/76".into(),
                unit: Some("mmHg".into()),
                at: Some(Moment::Instant(utc(2026, 11, 22, 12, 0))),
                flag: None,
                reference_range: None,
            }],
        },
        labs: Listed::Items {
            items: vec![Measurement {
                name: "CRP".into(),
                code: None,
                value: "84".into(),
                unit: Some("mg/l".into()),
                at: Some(Moment::Instant(utc(2026, 11, 21, 6, 30))),
                flag: Some("H".into()),
                reference_range: Some("< 10".into()),
            }],
        },
        contacts: Listed::Items {
            items: vec![Contact {
                name: "Anna Visser".into(),
                relationship: Some("dochter".into()),
                role: Some("eerste contactpersoon".into()),
                telecom: vec!["06-12345678".into()],
            }],
        },
        devices: Listed::NoneDocumented {
            statement: "Geen hulpmiddelen".into(),
            asserted: None,
        },
        notes: vec![],
        unread: vec![],
        unread_more: 0,
        identity_conflicts: vec![],
    }
}

/// Hands out hostile strings, each with a unique marker `F<n>`, and remembers them.
#[derive(Default)]
pub(crate) struct Hostile {
    n: Cell<u32>,
    pub issued: std::cell::RefCell<Vec<String>>,
}

impl Hostile {
    pub(crate) fn s(&self) -> Text {
        let n = self.n.get() + 1;
        self.n.set(n);
        let v = format!(
            "F{n}Q<script>alert({n})</script>\"><img src=x onerror=alert({n})></textarea>javascript:alert({n})\u{202E}R"
        );
        self.issued.borrow_mut().push(v.clone());
        Text::new(v)
    }
    pub(crate) fn o(&self) -> Option<Text> {
        Some(self.s())
    }
}

/// The escaped form a hostile string must take in the HTML.
pub(crate) fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{202E}', "\u{FFFD}")
}

/// A patient with a hostile string in every field the pages render.
pub(crate) fn hostile_patient(h: &Hostile) -> PatientRecord {
    let dosage = |prn: bool| Dosage {
        dose: h.o(),
        route: h.o(),
        schedule: Schedule {
            times_of_day: vec![hm(8, 0)],
            text: h.o(),
            ..Default::default()
        },
        as_needed: prn.then(|| AsNeeded { condition: h.o() }),
        max_dose: h.o(),
        text: h.o(),
        sequence: None,
        ..Default::default()
    };
    let meas = || Measurement {
        name: h.s(),
        code: None,
        value: h.s(),
        unit: h.o(),
        at: Some(Moment::Instant(utc(2026, 11, 22, 10, 0))),
        flag: h.o(),
        reference_range: h.o(),
    };
    PatientRecord {
        key: "javascript:alert(1)\"><script>".into(),
        identity: Identity {
            name: name(&h.s()),
            birth_date: Some(Moment::Day(day(1960, 5, 5))),
            sex: Sex::Male,
            bsn: h.o(),
            patient_number: h.o(),
            deceased: false,
        },
        location: BedLocation {
            ward: h.o(),
            room: h.o(),
            bed: h.o(),
        },
        admission: Some(Admission {
            start: None,
            attending: h.o(),
            reason: h.o(),
            specialty: h.o(),
        }),
        alerts: Listed::Items {
            items: vec![Alert {
                kind: AlertKind::Isolation,
                text: h.s(),
                code: None,
                codes: vec![],
                since: None,
                note: h.o(),
            }],
        },
        allergies: Listed::Items {
            items: vec![Allergy {
                substance: h.s(),
                code: None,
                codes: vec![],
                criticality: Criticality::High,
                kind: h.o(),
                category: vec![h.s()],
                reactions: vec![Reaction {
                    manifestation: h.s(),
                    severity: h.o(),
                }],
                clinical_status: h.o(),
                verification: h.o(),
                recorded: None,
                note: h.o(),
            }],
        },
        directives: Listed::Items {
            items: vec![Directive {
                kind: DirectiveKind::Resuscitation,
                treatment: h.s(),
                decision: Decision::Permit,
                text: h.o(),
                source: h.o(),
                date: None,
                status: h.o(),
                codes: vec![],
            }],
        },
        problems: Listed::Items {
            items: vec![Problem {
                name: h.s(),
                code: None,
                codes: vec![],
                status: h.o(),
                onset: None,
            }],
        },
        medication: Listed::Items {
            items: hostile_treatments(h, dosage),
        },
        administrations: Listed::Items {
            items: vec![Administration {
                drug: h.s(),
                dose: h.o(),
                route: h.o(),
                at: Some(Moment::Instant(utc(2026, 11, 22, 9, 0))),
                status: h.o(),
                performer: h.o(),
                line_id: Some("l1".into()),
                note: h.o(),
                treatment_id: None,
                dose_quantity: None,
                status_reason: None,
            }],
        },
        vitals: Listed::Items {
            items: vec![meas()],
        },
        labs: Listed::Items {
            items: vec![meas()],
        },
        contacts: Listed::Items {
            items: vec![Contact {
                name: h.s(),
                relationship: h.o(),
                role: h.o(),
                telecom: vec![h.s()],
            }],
        },
        devices: Listed::Items {
            items: vec![Device {
                name: h.s(),
                code: None,
                since: None,
                body_site: h.o(),
                note: h.o(),
            }],
        },
        notes: vec![SectionNote {
            section: NoteSection::Allergies,
            kind: NoteKind::Contradiction,
            statement: h.s(),
            asserted: None,
        }],
        unread: vec![Unread {
            resource_type: h.s(),
            id: h.o(),
            reason: UnreadReason::Invalid,
            detail: h.s(),
        }],
        unread_more: 0,
        identity_conflicts: vec![IdentityConflict {
            field: "name".into(),
            values: vec![h.s(), h.s()],
        }],
    }
}

/// No executable or styling content smuggled in: no tag from the hostile strings, no
/// inline style, no script, no event-handler attribute.
pub(crate) fn assert_inert(html: &str) {
    // The layout's one script element (the live data age) is allowed, nothing else.
    let html = &html.replace(noodepd::web::pages::AGE_SCRIPT_TAG, "");
    assert!(!html.contains("<script"), "raw <script in output");
    assert!(!html.contains("<img"), "raw <img in output");
    assert!(!html.contains(" style="), "inline style attribute");
    assert!(!html.contains("<style"), "style element");
    assert!(!html.contains("href=\"javascript"), "javascript: link");
    assert!(!html.contains('\u{202E}'), "bidi override survived");
    for (i, _) in html.match_indices("onerror=") {
        let before = &html[i.saturating_sub(14)..i];
        assert_eq!(before, "&lt;img src=x ", "onerror= outside escaped text");
    }
}

/// The hostile patient's treatments: an agreement with its administration agreement, a
/// stopped predecessor and a use statement; and one that could not be fully read.
fn hostile_treatments(h: &Hostile, dosage: impl Fn(bool) -> Dosage) -> Vec<Treatment> {
    let block = |kind: MedicationKind, id: &str, dosages: Vec<Dosage>| MedicationLine {
        kind,
        id: id.into(),
        drug: Drug {
            name: h.s(),
            strength: h.o(),
            form: h.o(),
            ..Default::default()
        },
        dosages,
        prescriber: h.o(),
        category: h.o(),
        reason: h.o(),
        note: h.o(),
        ..Default::default()
    };
    let ma = block(MedicationKind::Agreement, "l0", vec![dosage(false)]);
    let ta = block(
        MedicationKind::AdministrationAgreement,
        "l1",
        vec![dosage(false), dosage(true)],
    );
    let mut old = MedicationLine {
        kind: MedicationKind::Agreement,
        id: "l2".into(),
        dosages: vec![Dosage {
            dose: h.o(),
            ..Default::default()
        }],
        ..Default::default()
    };
    old.facts.status = BlockStatus::Stopped;
    let mut odd = MedicationLine {
        id: "l9".into(),
        drug: Drug {
            name: h.s(),
            ..Default::default()
        },
        dosages: vec![Dosage {
            dose: h.o(),
            ..Default::default()
        }],
        unreadable: vec![Unreadable::UnknownModifier(h.s())],
        ..Default::default()
    };
    odd.facts.periods = vec![];
    let t = noodepd::record::medication::resolve(
        "t1".into(),
        None,
        vec![
            Block {
                line: ma,
                refers: vec![],
            },
            Block {
                line: ta,
                refers: vec![0],
            },
            Block {
                line: old,
                refers: vec![],
            },
        ],
        now(),
    );
    vec![t, Treatment::single(odd, now())]
}

/// The text a person sees: tags removed, elements marked `hidden` (shown only by the live
/// data-age script when the data turns stale) left out, entities as they are.
pub(crate) fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let hidden = tag
            .split_whitespace()
            .any(|a| a == "hidden" || a.starts_with("hidden="));
        if hidden && !name.is_empty() {
            // Skip to the matching close tag of the same name.
            let (open, close) = (format!("<{name}"), format!("</{name}>"));
            let mut depth = 1;
            while depth > 0 {
                let o = rest.find(&open);
                let Some(c) = rest.find(&close) else {
                    rest = "";
                    break;
                };
                match o {
                    Some(o) if o < c => {
                        depth += 1;
                        rest = &rest[o + open.len()..];
                    }
                    _ => {
                        depth -= 1;
                        rest = &rest[c + close.len()..];
                    }
                }
            }
        }
    }
    out.push_str(rest);
    out
}
