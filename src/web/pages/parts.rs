//! The patient page in two parts: what depends only on the generation, the language and the
//! day ([`PatientParts`]: the print frame's running head and the page body, which
//! `web::cache` renders once per generation), and what every request adds around them (the
//! layout with user, mode, drill marker, data age and CSRF token, and the data age in the
//! running head). [`patient_page`] is both in one call; the cached path assembles the same
//! parts with the same function, so a cached page is the uncached page byte for byte.

use super::identity::location_text;
use super::layout::{self, Kind, opt};
use super::text::{clean, moment};
use super::{Key, PageCtx};
use crate::record::PatientRecord;
use maud::{Markup, html};

/// The rendered generation-dependent parts of one patient's page, for one language and one
/// day (the age in the identity banner counts in whole years from today).
#[derive(Debug, Clone)]
pub struct PatientParts {
    /// The patient's display name as in the record (the layout cleans it for the title).
    pub title: String,
    /// The running head's fixed spans: name, birth date, patient number, location.
    pub running_head: Markup,
    /// Everything under the running head: banner, notices, sections.
    pub body: Markup,
}

impl PatientParts {
    /// The heap bytes these parts hold (for the cache's budget).
    pub fn bytes(&self) -> usize {
        self.title.len() + self.running_head.0.len() + self.body.0.len()
    }
}

/// Renders the parts of `p`'s page that depend only on the record, the language and the
/// day. `_seen`: rendered only for a look that is durable in the access log.
pub fn patient_parts(
    ctx: &PageCtx,
    p: &PatientRecord,
    _seen: &crate::audit::Receipt,
) -> PatientParts {
    let id = &p.identity;
    let running_head = html! {
        span class="ph-title" { (clean(&id.name.display)) }
        span { (ctx.t(Key::BirthDate)) ": " @match &id.birth_date { Some(b) => (moment(ctx, b)), None => (ctx.t(Key::Unknown)) } }
        span { (ctx.t(Key::PatientNumber)) ": " (opt(id.patient_number.as_deref())) }
        span { (clean(&location_text(ctx, p))) }
    };
    PatientParts {
        title: id.name.display.to_string(),
        running_head,
        body: super::patient::body(ctx, p),
    }
}

/// The whole patient page around `parts` rendered for `ctx`'s language and day.
///
/// The page sits in a table whose header row repeats on every printed sheet (Ctrl+P), so
/// that page 2 of a printout can never be mistaken for another patient's: name, birth date,
/// patient number, bed and the age of the data. On screen the frame is invisible.
/// `_seen` is the proof that this look is durable in the access log
/// ([`crate::audit::Receipt`]): without one the page cannot be rendered.
pub fn patient_page_from(
    ctx: &PageCtx,
    parts: &PatientParts,
    _seen: &crate::audit::Receipt,
) -> Markup {
    let content = html! {
        table class="print-frame" role="presentation" {
            thead class="print-running" {
                tr { td {
                    div class="print-head" {
                        div class="ph-row" {
                            (parts.running_head)
                            span class=(layout::data_age_class(ctx)) { (layout::data_age_text(ctx)) }
                        }
                    }
                } }
            }
            tbody { tr { td { (parts.body) } } }
        }
    };
    layout::page(ctx, &parts.title, Kind::Screen, content)
}

/// The whole patient page, rendered from the record.
/// `seen` is the proof that this look is durable in the access log
/// ([`crate::audit::Receipt`]): without one the page cannot be rendered.
pub fn patient_page(ctx: &PageCtx, p: &PatientRecord, seen: &crate::audit::Receipt) -> Markup {
    patient_page_from(ctx, &patient_parts(ctx, p, seen), seen)
}
