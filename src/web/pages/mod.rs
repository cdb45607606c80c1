//! The HTML of the ward web view: every page and print view as a pure function from
//! (context, data) to maud [`Markup`], plus the one stylesheet and the one small script
//! (the live data age). No I/O, no inline script or style (the CSP forbids them), nothing a
//! page needs from the script: the server calls these and sends the result.
//!
//! Invariants: every string that comes from a snapshot or a request goes through maud's
//! escaping (and [`text::clean`] for control and bidi characters); `PreEscaped` is used only
//! on constant icons. Every page carries the mode, the data age (escalating when stale) and,
//! in drill mode, the "OEFENING / DRILL" marker — on screen and on paper. "Not recorded" is
//! always shown differently from "none".

pub mod coordinator;
pub mod errors;
pub mod i18n;
pub mod icons;
pub mod identity;
pub mod labels;
pub mod layout;
pub mod login;
pub mod mar;
pub mod marfill;
pub mod marheight;
pub mod marpage;
pub mod marprn;
pub mod marslots;
pub mod medgroup;
pub mod patient;
pub mod status;
pub mod text;
pub mod urls;
pub mod ward;

use crate::config::Language;
use chrono::{DateTime, NaiveDate, Utc};
pub use i18n::Key;
pub use maud::Markup;

pub use coordinator::coordinator_page;
pub use errors::error_page;
pub use labels::print_labels;
pub use login::login_page;
pub use mar::{print_blank_mar, print_mar};
pub use patient::patient_page;
pub use status::status_page;
pub use ward::print_ward_list;
pub use ward::ward_overview;

/// The one stylesheet, served at [`urls::STYLESHEET`].
pub const STYLESHEET: &str = include_str!("style.css");

/// The one script, served at [`urls::AGE_SCRIPT`]: it keeps the data age on an open page
/// current. Every page is complete without it.
pub const AGE_SCRIPT: &str = include_str!("age.js");

/// The one script element every page carries, exactly as rendered: the page checkers
/// (`generate::hostile::check_html`, the page tests) allow this string and no other script.
pub const AGE_SCRIPT_TAG: &str = r#"<script src="/static/age.js" defer></script>"#;

/// Most days a printed MAR covers (more is clamped).
pub const MAX_MAR_DAYS: u32 = 14;

/// What every page needs to know besides its own data.
pub struct PageCtx<'a> {
    /// Nl by default, En via the switch.
    pub lang: Language,
    pub tz: chrono_tz::Tz,
    pub now: DateTime<Utc>,
    pub ward_name: &'a str,
    pub appliance_id: &'a str,
    pub mode: &'a crate::mode::ModeState,
    /// None: no data received yet.
    pub data: Option<&'a crate::store::GenerationMeta>,
    pub stale_after: std::time::Duration,
    pub user: Option<&'a crate::web::SessionUser>,
    /// Token for every POST form (hidden input "csrf").
    pub csrf: &'a str,
    /// The current path (for the language switch link).
    pub path: &'a str,
}

/// How old the data is, as every page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataAge {
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
pub const FUTURE_TOLERANCE_SECONDS: i64 = 300;

impl PageCtx<'_> {
    /// The UI text for `key`.
    pub fn t(&self, key: Key) -> &'static str {
        i18n::t(self.lang, key)
    }

    /// Today in the ward's time zone.
    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.tz).date_naive()
    }

    /// The data age, fresh or stale against `stale_after`.
    pub fn data_age(&self) -> DataAge {
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
    pub fn is_drill(&self) -> bool {
        self.mode.mode == crate::mode::Mode::Drill
    }

    /// The `lang` attribute value.
    pub fn lang_code(&self) -> &'static str {
        match self.lang {
            Language::Nl => "nl",
            Language::En => "en",
        }
    }
}
