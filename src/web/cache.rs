//! The rendered pages of one generation: the parts of the patient page and the ward
//! overview that depend only on the generation, the language and the day, rendered once and
//! kept *with the generation* (attached to its `Arc<Generation>` through
//! [`Generation::attached`]), so a swap can never serve an old page: the next generation
//! starts empty and the old renderings go when its last reader drops it.
//!
//! What stays per request is added around the kept parts by the same page functions the
//! uncached path uses ([`pages::patient_page_from`], [`pages::ward_overview_around`]): user
//! and role, language switch link, CSRF token, mode and drill marker, data age (top bar,
//! banner and the print frame's running head). The kept parts depend on the language (UI
//! text is woven through every section, so they are kept per language) and on the day (the
//! ages in whole years): an entry made on another day is rendered again and replaced.
//!
//! Bounded: at most one rendering per patient per language and one overview table per
//! language, filled lazily by the requests that need them (each after its own durable audit
//! entry: rendering needs the entry's [`Receipt`]), and at most [`BUDGET_BYTES`] of HTML per
//! generation — beyond it a page is rendered per request as before. A corrupt generation
//! serves nothing from here either ([`find_patient`] asks the store first).

use crate::audit::{PatientRef, Receipt};
use crate::config::Language;
use crate::record::{PatientRecord, PatientSummary};
use crate::store::{Generation, StoreError};
use crate::web::pages::{self, Markup, PageCtx, PatientParts};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most bytes of rendered HTML kept per generation: every page of the generated 40-bed
/// ward in both languages with both overview tables takes 2.2 MB (21–39 KB a page), so a
/// ward fits many times over; a 1,000-patient hospital fits for about 400 patients in both
/// languages, the rest is rendered per request (docs/PERFORMANCE.md).
pub const BUDGET_BYTES: usize = 24 << 20;

/// One patient's kept page parts.
#[derive(Debug)]
pub struct KeptPatient {
    /// Who the page is about, for its audit entry.
    pub who: PatientRef,
    /// The day the parts were rendered for (ward time zone).
    pub day: NaiveDate,
    /// The rendered parts of the page (title, running head, body).
    pub parts: PatientParts,
}

#[derive(Debug)]
struct KeptTable {
    day: NaiveDate,
    table: Arc<Markup>,
}

#[derive(Debug, Default)]
struct Kept {
    patients: HashMap<(String, Language), Arc<KeptPatient>>,
    overview: HashMap<Language, KeptTable>,
    bytes: usize,
}

impl Kept {
    /// Makes room for `new` bytes replacing `old`: false when the budget does not allow it.
    fn admit(&mut self, old: usize, new: usize) -> bool {
        let after = self.bytes.saturating_sub(old).saturating_add(new);
        if after > BUDGET_BYTES {
            return false;
        }
        self.bytes = after;
        true
    }
}

/// The renderings kept for one generation.
#[derive(Debug, Default)]
pub struct Renders {
    kept: Mutex<Kept>,
}

impl Renders {
    /// The renderings of `g` (made empty on first use, dropped with `g`).
    pub fn of(g: &Generation) -> Option<&Renders> {
        g.attached(Renders::default)
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        match self.kept.lock() {
            Ok(k) => k,
            Err(p) => p.into_inner(),
        }
    }

    /// Bytes of HTML kept now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Patient pages kept now (all languages).
    pub fn patient_pages(&self) -> usize {
        self.lock().patients.len()
    }

    fn patient(&self, key: &str, lang: Language, day: NaiveDate) -> Option<Arc<KeptPatient>> {
        self.lock()
            .patients
            .get(&(key.to_owned(), lang))
            .filter(|k| k.day == day)
            .cloned()
    }

    fn keep_patient(&self, lang: Language, kept: Arc<KeptPatient>) {
        let mut k = self.lock();
        let id = (kept.who.key.clone(), lang);
        let old = k.patients.get(&id).map_or(0, |o| o.parts.bytes());
        if k.admit(old, kept.parts.bytes()) {
            k.patients.insert(id, kept);
        }
    }
}

/// One patient as the route needs it before the audit entry.
#[derive(Debug)]
pub enum Found {
    /// The page parts are kept for this language and day.
    Rendered(Arc<KeptPatient>),
    /// Not kept: the record, read and checked from the generation.
    Read(Box<PatientRecord>),
    /// No patient with this key in the generation.
    Missing,
}

impl Found {
    /// Who the page is about (for the audit entry); `None` when missing.
    pub fn who(&self) -> Option<PatientRef> {
        match self {
            Found::Rendered(k) => Some(k.who.clone()),
            Found::Read(p) => Some(who_of(p)),
            Found::Missing => None,
        }
    }
}

/// Who a record is about, as its audit entry names the patient.
pub fn who_of(p: &PatientRecord) -> PatientRef {
    PatientRef {
        key: p.key.to_string(),
        patient_number: p.identity.patient_number.as_deref().map(str::to_owned),
        bsn: p.identity.bsn.as_deref().map(str::to_owned),
    }
}

/// Finds patient `key` for a page in `ctx`'s language and day: kept parts when there are,
/// else the record from the store. A generation found corrupt answers an error even when
/// the parts are kept (its pages are refused from then on).
pub fn find_patient(g: &Generation, ctx: &PageCtx, key: &str) -> Result<Found, StoreError> {
    if !g.is_corrupt()
        && let Some(k) = Renders::of(g).and_then(|r| r.patient(key, ctx.lang, ctx.today()))
    {
        return Ok(Found::Rendered(k));
    }
    Ok(match g.patient(key)? {
        Some(p) => Found::Read(Box::new(p)),
        None => Found::Missing,
    })
}

/// The patient page for what [`find_patient`] found (`None` for [`Found::Missing`]);
/// a record read from the store is rendered and its parts kept for the next request.
pub fn patient_page(g: &Generation, ctx: &PageCtx, found: Found, seen: &Receipt) -> Option<Markup> {
    match found {
        Found::Rendered(k) => Some(pages::patient_page_from(ctx, &k.parts, seen)),
        Found::Read(p) => {
            let mut parts = pages::patient_parts(ctx, &p, seen);
            // What is counted against the budget is what is held.
            parts.running_head.0.shrink_to_fit();
            parts.body.0.shrink_to_fit();
            let kept = KeptPatient {
                who: who_of(&p),
                day: ctx.today(),
                parts,
            };
            let page = pages::patient_page_from(ctx, &kept.parts, seen);
            if let Some(r) = Renders::of(g) {
                r.keep_patient(ctx.lang, Arc::new(kept));
            }
            Some(page)
        }
        Found::Missing => None,
    }
}

/// The ward overview without a search: every patient of `g`, its table kept per language
/// and day.
pub fn ward_overview(g: &Generation, ctx: &PageCtx, seen: &Receipt) -> Markup {
    let rows: Vec<&PatientSummary> = g.summaries().iter().collect();
    let day = ctx.today();
    let renders = Renders::of(g);
    let kept = renders.and_then(|r| {
        r.lock()
            .overview
            .get(&ctx.lang)
            .filter(|t| t.day == day)
            .map(|t| t.table.clone())
    });
    let table = match kept {
        Some(t) => t,
        None => {
            let mut t = pages::ward_table(ctx, &rows, seen);
            t.0.shrink_to_fit();
            let t = Arc::new(t);
            if let Some(r) = renders {
                let mut k = r.lock();
                let old = k.overview.get(&ctx.lang).map_or(0, |o| o.table.0.len());
                if k.admit(old, t.0.len()) {
                    k.overview.insert(
                        ctx.lang,
                        KeptTable {
                            day,
                            table: t.clone(),
                        },
                    );
                }
            }
            t
        }
    };
    pages::ward_overview_around(ctx, rows.len(), None, &table, seen)
}
