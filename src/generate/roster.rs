//! The demo staff of a generated hospital (nurses, physicians, coordinators, IT) with their
//! plain downtime codes, and the roster payload that carries only argon2id hashes of them.
//!
//! Codes are deterministic per seed (they are demo codes, printed for drills); the hashes use
//! random salts, so the roster file differs per run while everything else does not.

use super::GenerateError;
use super::names::{DutchName, Gender};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::OsRng;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One staff member of the demo roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// Login name, e.g. "jbakker".
    pub user: String,
    /// Display name, e.g. "Jan Bakker".
    pub name: String,
    /// nurse | physician | coordinator | it
    pub role: String,
    /// The plain demo downtime code, 8–10 digits: within the policy `noodepd roster hash`
    /// enforces (8 to 64 characters, not one repeated character nor a straight run), so a
    /// drill can reuse it in a real roster. Never logged, never in the roster JSON.
    pub code: String,
}

/// The shortest demo code: the roster policy's minimum (`commands::roster::MIN_CODE`).
const MIN_CODE_DIGITS: usize = 8;

/// How many of each role a generated hospital has.
const ROLES: &[(&str, usize)] = &[
    ("nurse", 10),
    ("physician", 3),
    ("coordinator", 2),
    ("it", 1),
];

/// A generated staff member with the structured name (for Practitioner resources).
#[derive(Debug, Clone)]
pub(super) struct StaffGen {
    pub member: StaffMember,
    pub name: DutchName,
}

/// The staff list of a run, deterministic for the generator state.
pub(super) fn staff(rng: &mut ChaCha8Rng) -> Vec<StaffGen> {
    let mut users = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let mut out = Vec::new();
    for &(role, n) in ROLES {
        for _ in 0..n {
            let gender = if rng.gen_bool(0.6) {
                Gender::Female
            } else {
                Gender::Male
            };
            let name = DutchName::random(rng, gender, false);
            let base = name.user_id();
            let mut user = base.clone();
            let mut k = 2;
            while !users.insert(user.clone()) {
                user = format!("{base}{k}");
                k += 1;
            }
            let code = loop {
                let len = rng.gen_range(MIN_CODE_DIGITS..=MIN_CODE_DIGITS + 2);
                let mut c = String::with_capacity(len);
                c.push(char::from(b'1' + rng.gen_range(0..9u8)));
                for _ in 1..len {
                    c.push(char::from(b'0' + rng.gen_range(0..10u8)));
                }
                if !is_trivial(&c) && codes.insert(c.clone()) {
                    break c;
                }
            };
            out.push(StaffGen {
                member: StaffMember {
                    user,
                    name: name.short(),
                    role: role.to_string(),
                    code,
                },
                name,
            });
        }
    }
    out
}

/// Codes a person would guess first: one repeated digit or a straight run.
fn is_trivial(code: &str) -> bool {
    let b = code.as_bytes();
    let same = b.windows(2).all(|w| w.first() == w.get(1));
    let up = b
        .windows(2)
        .all(|w| matches!((w.first(), w.get(1)), (Some(a), Some(c)) if c.wrapping_sub(*a) == 1));
    let down = b
        .windows(2)
        .all(|w| matches!((w.first(), w.get(1)), (Some(a), Some(c)) if a.wrapping_sub(*c) == 1));
    same || up || down
}

/// An argon2id PHC string of a code (default parameters, random salt).
pub(super) fn hash_code(code: &str) -> Result<String, GenerateError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(code.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| GenerateError::Hash(e.to_string()))
}

/// The roster payload from precomputed hashes (one per staff member, same order).
pub(super) fn roster_from_hashes(ward: &str, staff: &[StaffMember], hashes: &[String]) -> Value {
    let members: Vec<Value> = staff
        .iter()
        .zip(hashes)
        .map(|(s, h)| json!({"user": s.user, "name": s.name, "role": s.role, "code_hash": h}))
        .collect();
    json!({"ward": ward, "staff": members})
}

/// Hashes every code once.
pub(super) fn hash_all(staff: &[StaffMember]) -> Result<Vec<String>, GenerateError> {
    staff.iter().map(|s| hash_code(&s.code)).collect()
}

/// The plain codes file for a drill (mode 0600 on disk).
pub(super) fn codes_text(ward: &str, staff: &[StaffMember]) -> String {
    let mut s = format!(
        "# noodepd demo-noodcodes, afdeling {ward} — alleen voor demo en oefening.\n\
         # Geheim: niet delen, niet loggen. Formaat: gebruiker<TAB>naam<TAB>rol<TAB>code\n"
    );
    for m in staff {
        s.push_str(&format!("{}\t{}\t{}\t{}\n", m.user, m.name, m.role, m.code));
    }
    s
}
