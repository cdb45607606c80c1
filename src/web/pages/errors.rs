//! Error pages (403, 404, 503 ...): a clear title, the server's message, a way back.

use super::icons::{Icon, icon};
use super::layout::{self, Kind};
use super::text::clean;
use super::{Key, PageCtx, urls};
use maud::{Markup, html};

/// An error page for `status` with `message` (escaped like any other text).
pub fn error_page(ctx: &PageCtx, status: u16, message: &str) -> Markup {
    let title = ctx.t(match status {
        403 => Key::Error403,
        404 => Key::Error404,
        503 => Key::Error503,
        _ => Key::ErrorOther,
    });
    let content = html! {
        div class="narrow" {
            h1 { (icon(Icon::Warning)) " " (title) }
            div class="error-box" role="alert" { (clean(message)) }
            p class="sub" { (ctx.t(Key::ErrorCode)) ": " (status) }
            p { a class="btn" href=(urls::HOME) { (ctx.t(Key::GoHome)) } }
        }
    };
    layout::page(ctx, title, Kind::Screen, content)
}
