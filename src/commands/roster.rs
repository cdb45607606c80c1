//! `noodepd roster`: the tools IT uses on the publisher host to build a ward's staff roster.
//! `roster hash` reads one personal downtime code on stdin, refuses a code the login form
//! could not take or that is too easy to guess, and prints only its argon2id PHC string;
//! `roster check` runs a roster JSON file through the daemon's own check
//! ([`crate::ingest::check_roster`]) and prints a summary (counts per role, user ids).
//!
//! Invariants: the code is never printed, logged or put in an error message; the bytes read
//! from stdin sit in one fixed buffer that is zeroised on drop (stdin is read with plain
//! `read(2)` calls, not through std's buffered stdin, so no other copy is left behind by
//! this module); every code `roster hash` accepts is one `POST /login` accepts as it is
//! (the form trims the field and [`crate::roster::Roster::verify`] takes at most
//! [`MAX_CODE`] bytes).

use crate::cli::{RosterArgs, RosterCheckArgs, RosterCommand};
use crate::roster::{MAX_CODE, Role};
use anyhow::{Context as _, bail};
use std::io::{IsTerminal as _, Read as _};
use std::os::fd::AsFd as _;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Fewest characters in a personal downtime code.
pub(crate) const MIN_CODE: usize = 8;

/// Largest roster file read; `noodepd seal` reads no more either (the daemon's own bound,
/// [`crate::ingest::MAX_ROSTER`], is smaller and is checked by `check_roster`).
const MAX_ROSTER_FILE: u64 = 16 * 1024 * 1024;

/// Bytes read from stdin at most: the longest code, "\r\n", and one more to notice excess.
const STDIN_LIMIT: usize = MAX_CODE + 3;

/// Why a downtime code is refused. The messages never contain the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    #[error("no code on stdin")]
    /// Nothing was read.
    Empty,
    #[error("more than one line on stdin; give exactly one code")]
    /// More than one line was given.
    SeveralLines,
    #[error("the code contains control characters (such as a tab)")]
    /// The code holds control characters.
    Control,
    #[error(
        "the code may contain only letters a-z and A-Z, digits, spaces and the punctuation \
         of a US keyboard (printable ASCII), so it can be typed on any ward keyboard"
    )]
    /// The code holds characters outside printable ASCII.
    NotPlainAscii,
    #[error("the code starts or ends with a space; the login form would drop it")]
    /// The code starts or ends with a space.
    OuterSpace,
    #[error("the code is too short: at least {MIN_CODE} characters")]
    /// Shorter than the minimum length.
    TooShort,
    #[error("the code is too long: at most {MAX_CODE} characters")]
    /// Longer than the maximum length.
    TooLong,
    #[error(
        "the code is one repeated character or a straight run (each character one up or down from the last): too easy to guess"
    )]
    /// One repeated character or a straight run ("aaaa", "1234").
    Trivial,
}

/// The code in what was read from stdin: exactly one trailing "\n" or "\r\n" is removed,
/// then the code must pass [`check_code`].
pub(crate) fn code_from_input(input: &[u8]) -> Result<&str, CodeRefusal> {
    let line = input
        .strip_suffix(b"\r\n")
        .or_else(|| input.strip_suffix(b"\n"))
        .unwrap_or(input);
    if line.contains(&b'\n') {
        return Err(CodeRefusal::SeveralLines);
    }
    if line.len() > MAX_CODE {
        return Err(CodeRefusal::TooLong);
    }
    let code = std::str::from_utf8(line).map_err(|_| CodeRefusal::NotPlainAscii)?;
    check_code(code)?;
    Ok(code)
}

/// The policy for personal downtime codes: 8 to 64 characters of printable ASCII (letters,
/// digits, spaces, punctuation), not starting or ending with a space, not one repeated
/// character or a straight run. Printable ASCII only, because the code is typed on whatever
/// keyboard (or on-screen keyboard) the ward's PC has, at night, and non-ASCII letters can
/// arrive in another Unicode form than the one hashed.
pub fn check_code(code: &str) -> Result<(), CodeRefusal> {
    if code.is_empty() {
        return Err(CodeRefusal::Empty);
    }
    if code.chars().any(char::is_control) {
        return Err(CodeRefusal::Control);
    }
    if !code.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(CodeRefusal::NotPlainAscii);
    }
    if code.trim() != code {
        return Err(CodeRefusal::OuterSpace);
    }
    if code.len() < MIN_CODE {
        return Err(CodeRefusal::TooShort);
    }
    if code.len() > MAX_CODE {
        return Err(CodeRefusal::TooLong);
    }
    if is_trivial(code.as_bytes()) {
        return Err(CodeRefusal::Trivial);
    }
    Ok(())
}

/// One repeated character, or each character one up (or one down) from the one before.
fn is_trivial(code: &[u8]) -> bool {
    let all = |f: fn(u8, u8) -> bool| code.windows(2).all(|w| matches!(w, [a, b] if f(*a, *b)));
    all(|a, b| a == b) || all(|a, b| b.wrapping_sub(a) == 1) || all(|a, b| a.wrapping_sub(b) == 1)
}

/// Runs `noodepd roster`.
pub fn run(args: &RosterArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        RosterCommand::Hash => hash(),
        RosterCommand::Check(a) => check(a),
    }
}

/// `noodepd roster hash`: one code on stdin, its PHC string on stdout.
fn hash() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "stdin is a terminal, where the code would be shown as it is typed; pipe it in: \
             read -rs CODE; printf '%s\\n' \"$CODE\" | noodepd roster hash; unset CODE"
        );
    }
    // A duplicate of fd 0 read with plain read(2) calls: std's stdin keeps its own 8 KiB
    // buffer, which would hold a copy of the code that nobody zeroises.
    let fd = stdin
        .as_fd()
        .try_clone_to_owned()
        .context("cannot read stdin")?;
    let mut input = std::fs::File::from(fd);
    let mut buf = Zeroizing::new([0u8; STDIN_LIMIT]);
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("cannot read stdin"),
        }
    }
    if filled >= STDIN_LIMIT {
        return Err(CodeRefusal::TooLong.into());
    }
    let code = code_from_input(buf.get(..filled).unwrap_or_default())?;
    let phc = crate::roster::hash_code(code).context("cannot hash the code")?;
    println!("{phc}");
    Ok(ExitCode::SUCCESS)
}

/// `noodepd roster check FILE --ward WARD`: the daemon's verdict and a summary.
fn check(args: &RosterCheckArgs) -> anyhow::Result<ExitCode> {
    crate::config::check_id(&args.ward).map_err(|e| anyhow::anyhow!("--ward {e}"))?;
    let path = &args.file;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ROSTER_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_ROSTER_FILE {
        bail!(
            "{} is larger than {MAX_ROSTER_FILE} bytes; noodepd seal refuses it",
            path.display()
        );
    }
    let roster = crate::ingest::check_roster(&bytes, &args.ward).map_err(|r| {
        anyhow::anyhow!(
            "{}: the appliance would refuse this roster ({}): {}",
            path.display(),
            r.code,
            r.reason
        )
    })?;
    let roles = [Role::Nurse, Role::Physician, Role::Coordinator, Role::It];
    let counts: Vec<String> = roles
        .iter()
        .map(|&role| {
            let n = roster.staff.iter().filter(|s| s.role == role).count();
            format!("{} {n}", role.as_str())
        })
        .collect();
    println!(
        "roster for ward {}: {} staff ({})",
        roster.ward,
        roster.staff.len(),
        counts.join(", ")
    );
    for s in &roster.staff {
        println!("{}", s.user);
    }
    if roster.staff.is_empty() {
        eprintln!("noodepd: warning: the roster lists no staff: nobody can log in on the box");
    } else if !roster.staff.iter().any(|s| s.role == Role::Coordinator) {
        eprintln!(
            "noodepd: warning: no coordinator on the roster: nobody can switch the mode or \
             issue guest codes on the box's web pages"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::{Roster, hash_code};

    #[test]
    fn strips_exactly_one_line_ending() {
        assert_eq!(code_from_input(b"Kamer 12 koffie\n"), Ok("Kamer 12 koffie"));
        assert_eq!(
            code_from_input(b"Kamer 12 koffie\r\n"),
            Ok("Kamer 12 koffie")
        );
        assert_eq!(code_from_input(b"Kamer 12 koffie"), Ok("Kamer 12 koffie"));
        assert_eq!(
            code_from_input(b"Kamer 12 koffie\n\n"),
            Err(CodeRefusal::SeveralLines)
        );
        assert_eq!(
            code_from_input(b"Kamer 12 koffie\r\r\n"),
            Err(CodeRefusal::Control)
        );
        assert_eq!(
            code_from_input(b"84736251\n90817263\n"),
            Err(CodeRefusal::SeveralLines)
        );
        assert_eq!(code_from_input(b"\n"), Err(CodeRefusal::Empty));
        assert_eq!(code_from_input(b""), Err(CodeRefusal::Empty));
    }

    #[test]
    fn refuses_codes_outside_the_policy() {
        assert_eq!(check_code("8473625"), Err(CodeRefusal::TooShort));
        assert_eq!(check_code("84736251"), Ok(()));
        assert_eq!(check_code(&"7a".repeat(32)), Ok(()));
        assert_eq!(check_code(&"7a".repeat(33)), Err(CodeRefusal::TooLong));
        assert_eq!(check_code("8473\t6251"), Err(CodeRefusal::Control));
        assert_eq!(check_code("8473\u{7f}6251"), Err(CodeRefusal::Control));
        assert_eq!(check_code("café-8473625"), Err(CodeRefusal::NotPlainAscii));
        assert_eq!(check_code(" 84736251"), Err(CodeRefusal::OuterSpace));
        assert_eq!(check_code("84736251 "), Err(CodeRefusal::OuterSpace));
        assert_eq!(check_code("11111111"), Err(CodeRefusal::Trivial));
        assert_eq!(check_code("12345678"), Err(CodeRefusal::Trivial));
        assert_eq!(check_code("98765432"), Err(CodeRefusal::Trivial));
        assert_eq!(check_code("abcdefghij"), Err(CodeRefusal::Trivial));
        assert_eq!(check_code("12345679"), Ok(()));
    }

    #[test]
    fn input_longer_than_the_login_bound_is_too_long() {
        let long = format!("{}\n", "8a".repeat(MAX_CODE));
        assert_eq!(code_from_input(long.as_bytes()), Err(CodeRefusal::TooLong));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Whatever the policy accepts, the login path takes unchanged: the form trims the
        /// field, `Roster::verify` refuses more than MAX_CODE bytes.
        #[test]
        fn every_accepted_code_survives_the_login_path(code in "[ -~]{0,70}") {
            if check_code(&code).is_ok() {
                proptest::prop_assert_eq!(code.trim(), code.as_str());
                proptest::prop_assert!(code.len() <= MAX_CODE && code.len() >= MIN_CODE);
                proptest::prop_assert!(!code.chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn accepted_codes_at_the_bounds_log_in_through_roster_verify() {
        for code in [
            "Kamer 12 & koffie+%20=",
            &"x7".repeat(MAX_CODE / 2),
            "84736251",
        ] {
            check_code(code).unwrap();
            let h = hash_code(code).unwrap();
            let json = format!(
                r#"{{"ward":"A3","staff":[{{"user":"jbakker","name":"Jan Bakker","role":"nurse","code_hash":"{h}"}}]}}"#
            );
            let r = Roster::from_json(json.as_bytes()).unwrap();
            assert!(r.verify("jbakker", code).is_some(), "{code:?}");
            assert!(r.verify("jbakker", "84736252").is_none());
        }
    }
}
