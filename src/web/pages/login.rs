//! The login form: user name and personal downtime code (plus the CSRF token), posted to
//! /login; an error (wrong code, locked out until HH:MM) is shown above the form.

use super::icons::{Icon, icon};
use super::layout::{self, Kind};
use super::text::clean;
use super::{Key, PageCtx, urls};
use maud::{Markup, html};

/// The login page.
pub fn login_page(ctx: &PageCtx, error: Option<&str>) -> Markup {
    let content = html! {
        div class="narrow" {
            h1 { (icon(Icon::Lock)) " " (ctx.t(Key::LoginTitle)) }
            p class="lead" { (ctx.t(Key::LoginLead)) }
            @if let Some(e) = error {
                div class="error-box" role="alert" id="login-error" {
                    (icon(Icon::Warning)) " " strong { (ctx.t(Key::LoginErrorLabel)) ": " } (clean(e))
                }
            }
            form class="stack" method="post" action=(urls::LOGIN) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label for="user" { (ctx.t(Key::UserField)) }
                input type="text" id="user" name="user" required autocomplete="username"
                    autocapitalize="none" spellcheck="false" maxlength="64" autofocus
                    aria-describedby=[error.map(|_| "login-error")];
                label for="code" { (ctx.t(Key::CodeField)) }
                input type="password" id="code" name="code" required autocomplete="current-password" maxlength="128";
                button type="submit" class="btn btn-primary" { (ctx.t(Key::LoginButton)) }
            }
            p class="hint" { (ctx.t(Key::LoginEventHint)) }
        }
    };
    layout::page(ctx, ctx.t(Key::LoginTitle), Kind::Screen, content)
}
