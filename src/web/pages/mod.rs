//! The HTML of the ward web view: every page and print view as a pure function from
//! (context, data) to maud [`Markup`], plus the one stylesheet and the one small script
//! (the live data age). No I/O, no inline script or style (the CSP forbids them), nothing a
//! page needs from the script: the server calls these and sends the result.
//!
//! Invariants: every string that comes from a snapshot or a request goes through maud's
//! escaping (and [`text::clean`] for control and bidi characters); `PreEscaped` is used only
//! on constant icons, and [`Markup`] rendered by these functions is kept and placed again
//! only as `Markup` (`parts`, the ward table: rendered once per generation, `web::cache`). Every page carries the mode, the data age (escalating when stale) and,
//! in drill mode, the "OEFENING / DRILL" marker — on screen and on paper. "Not recorded" is
//! always shown differently from "none".

pub(crate) mod chips;
pub(crate) mod coordinator;
pub(crate) mod dosetext;
pub(crate) mod errors;
pub(crate) mod i18n;
pub(crate) mod icons;
pub(crate) mod identity;
pub(crate) mod labels;
pub(crate) mod layout;
pub(crate) mod login;
pub(crate) mod mar;
pub(crate) mod marfill;
pub(crate) mod marheight;
pub(crate) mod marpage;
pub(crate) mod marparts;
pub(crate) mod marprn;
pub(crate) mod marslots;
pub mod medgroup;
pub(crate) mod parts;
pub(crate) mod patient;
pub(crate) mod status;
pub mod text;
pub mod urls;
pub(crate) mod ward;

use crate::config::Language;
use chrono::{DateTime, NaiveDate, Utc};
pub use i18n::Key;
pub use maud::Markup;

pub use coordinator::coordinator_page;
pub use errors::error_page;
pub use labels::print_labels;
pub use login::login_page;
pub use mar::{print_blank_mar, print_mar};
pub use parts::{PatientParts, patient_page, patient_page_from, patient_parts};
pub use status::status_page;
pub use ward::print_ward_list;
pub use ward::{ward_overview, ward_overview_around, ward_table};

/// The one stylesheet, served at [`urls::STYLESHEET`].
pub const STYLESHEET: &str = include_str!("style.css");

/// The one script, served at [`urls::AGE_SCRIPT`]: it keeps the data age on an open page
/// current. Every page is complete without it.
pub(crate) const AGE_SCRIPT: &str = include_str!("age.js");

/// The one script element every page carries, exactly as rendered: the page checkers
/// (`generate::hostile::check_html`, the page tests) allow this string and no other script.
pub const AGE_SCRIPT_TAG: &str = r#"<script src="/static/age.js" defer></script>"#;

/// Most days a printed MAR covers (more is clamped).
pub(crate) const MAX_MAR_DAYS: u32 = 14;

/// What every page needs to know besides its own data.
pub struct PageCtx<'a> {
    /// Nl by default, En via the switch.
    pub lang: Language,
    /// The ward's time zone: every time on the page is shown in it.
    pub tz: chrono_tz::Tz,
    /// The request's time (ages, staleness and "today" are taken from it).
    pub now: DateTime<Utc>,
    /// The ward's name for the header.
    pub ward_name: &'a str,
    /// This box's id, shown in the footer.
    pub appliance_id: &'a str,
    /// The mode in force (a drill is marked on every page).
    pub mode: &'a crate::mode::ModeState,
    /// None: no data received yet.
    pub data: Option<&'a crate::store::GenerationMeta>,
    /// Data older than this is shown with a warning.
    pub stale_after: std::time::Duration,
    /// Who is logged in, if anyone.
    pub user: Option<&'a crate::web::SessionUser>,
    /// Token for every POST form (hidden input "csrf").
    pub csrf: &'a str,
    /// The current path (for the language switch link).
    pub path: &'a str,
}

/// How old the data is, as every page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataAge {
    None,
    Fresh {
        as_of: DateTime<Utc>,
        seconds: i64,
    },
    Stale {
        as_of: DateTime<Utc>,
        seconds: i64,
    },
    /// The data is dated more than [`FUTURE_TOLERANCE_SECONDS`] after the box's clock: the
    /// clock is wrong, so the age is unknown. Shown as urgently as stale data.
    Future {
        as_of: DateTime<Utc>,
        ahead: i64,
    },
}

/// How far data may be dated after the box's clock (clock drift between publisher and box)
/// before the pages say the clock is wrong; the same bound as `/ready`'s `clock_behind_data`.
pub(crate) const FUTURE_TOLERANCE_SECONDS: i64 = 300;

impl PageCtx<'_> {
    /// The UI text for `key`.
    pub(crate) fn t(&self, key: Key) -> &'static str {
        i18n::t(self.lang, key)
    }

    /// Today in the ward's time zone.
    pub(crate) fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.tz).date_naive()
    }

    /// The data age, fresh or stale against `stale_after`.
    pub(crate) fn data_age(&self) -> DataAge {
        let Some(meta) = self.data else {
            return DataAge::None;
        };
        let seconds = (self.now - meta.data_as_of).num_seconds();
        let limit = i64::try_from(self.stale_after.as_secs()).unwrap_or(i64::MAX);
        if seconds < -FUTURE_TOLERANCE_SECONDS {
            DataAge::Future {
                as_of: meta.data_as_of,
                ahead: -seconds,
            }
        } else if seconds > limit {
            DataAge::Stale {
                as_of: meta.data_as_of,
                seconds,
            }
        } else {
            DataAge::Fresh {
                as_of: meta.data_as_of,
                seconds,
            }
        }
    }

    /// True in drill mode.
    pub(crate) fn is_drill(&self) -> bool {
        self.mode.mode == crate::mode::Mode::Drill
    }

    /// The `lang` attribute value.
    pub(crate) fn lang_code(&self) -> &'static str {
        match self.lang {
            Language::Nl => "nl",
            Language::En => "en",
        }
    }
}
