//! The ward's staff roster: who may log in when Active Directory is down. It arrives as its
//! own signed snapshot payload kind, so the hospital controls it; each person has a role and
//! an argon2id hash of a personal downtime code (never the code itself).
//!
//! Payload (JSON): `{"ward": "A3", "staff": [{"user": "jbakker", "name": "Jan Bakker",
//! "role": "nurse", "code_hash": "$argon2id$v=19$m=19456,t=2,p=1$..."}]}`.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Version};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Most staff entries accepted in one roster.
pub(crate) const MAX_STAFF: usize = 2000;
/// Longest display name.
pub(crate) const MAX_NAME: usize = 100;
/// Longest code accepted at login (before hashing).
pub(crate) const MAX_CODE: usize = 64;
/// Largest argon2 memory cost accepted, KiB (64 MiB: RFC 9106's second recommendation).
/// Every check allocates this much; the web server runs at most
/// `web::hash_gate::AT_ONCE` checks at once, so logins take at most that many times this.
pub(crate) const MAX_ARGON2_M_KIB: u32 = 64 * 1024;
/// Most argon2 passes accepted.
pub(crate) const MAX_ARGON2_T: u32 = 8;
/// Most argon2 lanes accepted.
pub(crate) const MAX_ARGON2_P: u32 = 4;
/// Largest memory × passes accepted (KiB × passes): 64 MiB × 3, about five times the
/// default's time per check.
pub(crate) const MAX_ARGON2_WORK: u64 = 64 * 1024 * 3;
/// Smallest memory cost accepted, KiB, and smallest memory × passes: OWASP's floor for
/// argon2id (7 MiB with 5 passes, 19 MiB with 2 — the default, which is above it).
pub(crate) const MIN_ARGON2_M_KIB: u32 = 7 * 1024;
/// See [`MIN_ARGON2_M_KIB`].
pub(crate) const MIN_ARGON2_WORK: u64 = 7 * 1024 * 5;

/// A role. `It` sees status pages only, never patient data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees the ward's data in an emergency or a drill.
    Nurse,
    /// Sees the ward's data in an emergency or a drill.
    Physician,
    /// Sees the ward's data, and may also issue guest codes, lift lockouts and switch modes
    /// in the web view.
    Coordinator,
    /// IT staff: status pages only, never patient data.
    It,
}

impl Role {
    /// Whether this role may see patient data (in emergency or drill mode).
    pub(crate) fn sees_patient_data(self) -> bool {
        !matches!(self, Role::It)
    }
    /// The lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Nurse => "nurse",
            Role::Physician => "physician",
            Role::Coordinator => "coordinator",
            Role::It => "it",
        }
    }
}

/// One person on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMember {
    /// The login name, unique in the roster.
    pub user: String,
    /// The person's name, shown in the header and recorded in the access log.
    pub name: String,
    /// What the person may see and do.
    pub role: Role,
    /// The personal code's argon2id hash (PHC string); the code itself is never stored.
    pub code_hash: String,
}

/// A validated roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// The ward the roster is for; a roster for another ward is refused.
    pub ward: String,
    /// Everyone who may log in, at most 2,000.
    pub staff: Vec<StaffMember>,
}

/// Why a roster payload is refused.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// Told without the input's values (see [`crate::jsonerr`]).
    #[error(
        "roster is not valid JSON of the documented shape: {}",
        crate::jsonerr::describe(.0)
    )]
    Json(#[from] serde_json::Error),
    /// More staff entries than the 2,000 a roster may hold (the count is given).
    #[error("roster has {0} staff entries; at most {MAX_STAFF}")]
    TooMany(usize),
    /// One entry is invalid (user id, name or code hash).
    #[error("roster entry {index}: {message}")]
    Entry {
        /// The entry's position, counted from 0.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A user id appears twice.
    #[error("roster lists user {0:?} twice")]
    Duplicate(String),
    /// A code could not be hashed (argon2 refused the parameters).
    #[error("cannot hash code: {0}")]
    Hash(String),
}

impl Roster {
    /// Parses and validates a roster payload.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Roster, RosterError> {
        let r: Roster = serde_json::from_slice(bytes)?;
        if r.staff.len() > MAX_STAFF {
            return Err(RosterError::TooMany(r.staff.len()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, s) in r.staff.iter().enumerate() {
            let bad = |message: String| RosterError::Entry { index, message };
            // Not check_id's message: it quotes the refused value.
            crate::config::check_id(&s.user).map_err(|_| {
                bad("user must be 1 to 64 letters, digits, '-', '_' or '.' (not first)".into())
            })?;
            if s.name.trim().is_empty() || s.name.chars().count() > MAX_NAME {
                return Err(bad(format!("name must be 1 to {MAX_NAME} characters")));
            }
            if s.name.chars().any(char::is_control) {
                return Err(bad("name contains control characters".into()));
            }
            let h = PasswordHash::new(&s.code_hash)
                .map_err(|e| bad(format!("code_hash is not a PHC string: {e}")))?;
            if h.algorithm.as_str() != "argon2id" {
                return Err(bad("code_hash is not an argon2id hash".into()));
            }
            check_cost(&h).map_err(bad)?;
            if !seen.insert(s.user.as_str()) {
                return Err(RosterError::Duplicate(s.user.clone()));
            }
        }
        Ok(r)
    }

    /// Looks a user up and checks the code. Returns the member only when the code matches.
    /// Runs a dummy verification for unknown users so timing does not reveal who exists.
    pub fn verify(&self, user: &str, code: &str) -> Option<&StaffMember> {
        self.verify_in(&mut Argon2Memory::default(), user, code)
    }

    /// As [`Roster::verify`], computing in `mem` (reused between checks).
    pub(crate) fn verify_in(
        &self,
        mem: &mut Argon2Memory,
        user: &str,
        code: &str,
    ) -> Option<&StaffMember> {
        if code.len() > MAX_CODE {
            return None;
        }
        match self.staff.iter().find(|s| s.user == user) {
            Some(s) => verify_code_in(mem, &s.code_hash, code).then_some(s),
            None => {
                let _ = verify_code_in(mem, DUMMY_HASH, code);
                None
            }
        }
    }

    /// The member with this user id.
    pub(crate) fn get(&self, user: &str) -> Option<&StaffMember> {
        self.staff.iter().find(|s| s.user == user)
    }
}

/// A fixed argon2id hash used to spend the same time on unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zr5cTNSRmE1JZ8bpsvb1A3ZCnWhI0cnDx8jGv3yoBFQ";

/// Whether an argon2id hash's cost parameters are within the bounds above: enough to
/// make guessing slow, small enough that checking a code cannot exhaust the box's memory
/// or time (`m` is memory in KiB, `t` passes, `p` lanes).
pub(crate) fn check_cost(h: &PasswordHash<'_>) -> Result<(), String> {
    let p = argon2::Params::try_from(h)
        .map_err(|e| format!("code_hash has invalid argon2 parameters: {e}"))?;
    let (m, t, lanes) = (p.m_cost(), p.t_cost(), p.p_cost());
    let work = u64::from(m) * u64::from(t);
    if m > MAX_ARGON2_M_KIB || t > MAX_ARGON2_T || lanes > MAX_ARGON2_P || work > MAX_ARGON2_WORK {
        return Err(format!(
            "code_hash costs too much to check (m={m} KiB, t={t}, p={lanes}); at most \
             m={MAX_ARGON2_M_KIB}, t={MAX_ARGON2_T}, p={MAX_ARGON2_P} and m×t ≤ \
             {MAX_ARGON2_WORK} — hash the code again with `noodepd roster hash`"
        ));
    }
    if m < MIN_ARGON2_M_KIB || work < MIN_ARGON2_WORK {
        return Err(format!(
            "code_hash is too cheap to guard a code (m={m} KiB, t={t}); at least \
             m={MIN_ARGON2_M_KIB} and m×t ≥ {MIN_ARGON2_WORK} — hash the code again with \
             `noodepd roster hash`"
        ));
    }
    Ok(())
}

/// argon2's working memory, kept and reused between computations: a server that checks
/// codes on a few threads then holds a few blocks of memory for good, instead of asking the
/// allocator for ~19 MiB per check (glibc keeps freed blocks of that size in per-thread
/// arenas, so checks spread over many threads grew the process by hundreds of MiB). It is
/// wiped after every use: it holds values derived from the code.
#[derive(Default)]
pub struct Argon2Memory {
    blocks: Vec<Block>,
}

impl Argon2Memory {
    /// The first `count` blocks (grown when needed; `check_cost` bounds `count`).
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        // Never short after the resize; an empty slice would make argon2 refuse anyway.
        self.blocks.get_mut(..count).unwrap_or_default()
    }

    fn wipe(&mut self) {
        self.blocks.fill(Block::default());
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }
}

/// Checks a code against an argon2id PHC hash. A hash whose cost is out of bounds
/// ([`check_cost`]) never matches: it is not computed at all.
pub fn verify_code(hash: &str, code: &str) -> bool {
    verify_code_in(&mut Argon2Memory::default(), hash, code)
}

/// As [`verify_code`], computing in `mem`.
pub(crate) fn verify_code_in(mem: &mut Argon2Memory, hash: &str, code: &str) -> bool {
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    if h.algorithm.as_str() != "argon2id" || check_cost(&h).is_err() {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) = (argon2::Params::try_from(&h), h.salt, h.hash)
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let count = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    let ok = argon
        .hash_password_into_with_memory(code.as_bytes(), salt, &mut out, mem.blocks(count))
        .is_ok();
    mem.wipe();
    ok && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Hashes a code with argon2id (default parameters) and a random salt.
pub fn hash_code(code: &str) -> Result<String, RosterError> {
    hash_code_in(&mut Argon2Memory::default(), code)
}

/// As [`hash_code`], computing in `mem`.
pub(crate) fn hash_code_in(mem: &mut Argon2Memory, code: &str) -> Result<String, RosterError> {
    let err = |e: &dyn std::fmt::Display| RosterError::Hash(e.to_string());
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| err(&e))?;
    let params = argon2::Params::default();
    let mut out = Zeroizing::new(vec![0u8; argon2::Params::DEFAULT_OUTPUT_LEN]);
    let count = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let r = argon.hash_password_into_with_memory(
        code.as_bytes(),
        salt_bytes,
        &mut out,
        mem.blocks(count),
    );
    mem.wipe();
    r.map_err(|e| err(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster_with(code: &str) -> Vec<u8> {
        let h = hash_code(code).unwrap();
        format!(
            r#"{{"ward":"A3","staff":[{{"user":"jbakker","name":"Jan Bakker","role":"nurse","code_hash":"{h}"}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn verifies_the_right_code_only() {
        let r = Roster::from_json(&roster_with("482913")).unwrap();
        assert_eq!(
            r.verify("jbakker", "482913").map(|s| s.role),
            Some(Role::Nurse)
        );
        assert!(r.verify("jbakker", "482914").is_none());
        assert!(r.verify("nobody", "482913").is_none());
    }

    #[test]
    fn refuses_roster_with_plain_code_or_unknown_field() {
        let plain = br#"{"ward":"A3","staff":[{"user":"a","name":"A","role":"nurse","code_hash":"123456"}]}"#;
        assert!(matches!(
            Roster::from_json(plain),
            Err(RosterError::Entry { .. })
        ));
        let extra = br#"{"ward":"A3","staff":[],"admin":true}"#;
        assert!(Roster::from_json(extra).is_err());
    }

    #[test]
    fn argon2_costs_outside_the_bounds_are_refused_and_never_computed() {
        let entry = |params: &str| {
            format!(
                r#"{{"ward":"A3","staff":[{{"user":"a","name":"A","role":"nurse","code_hash":"$argon2id$v=19${params}$c29tZXNhbHRzb21lc2FsdA$Zr5cTNSRmE1JZ8bpsvb1A3ZCnWhI0cnDx8jGv3yoBFQ"}}]}}"#
            )
        };
        for params in [
            "m=4194304,t=2,p=1",
            "m=65537,t=1,p=1",
            "m=65536,t=4,p=1",
            "m=19456,t=9,p=1",
            "m=19456,t=2,p=8",
            "m=1024,t=2,p=1",
            "m=8192,t=2,p=1",
        ] {
            let e = Roster::from_json(entry(params).as_bytes()).unwrap_err();
            assert!(matches!(e, RosterError::Entry { .. }), "{params}: {e}");
            let hash = format!(
                "$argon2id$v=19${params}$c29tZXNhbHRzb21lc2FsdA$Zr5cTNSRmE1JZ8bpsvb1A3ZCnWhI0cnDx8jGv3yoBFQ"
            );
            assert!(!verify_code(&hash, "000000"), "{params}");
        }
        for params in ["m=19456,t=2,p=1", "m=65536,t=3,p=4", "m=7168,t=5,p=1"] {
            assert!(
                Roster::from_json(entry(params).as_bytes()).is_ok(),
                "{params}"
            );
        }
    }

    #[test]
    fn hashes_made_in_reused_memory_verify_with_the_library_and_back() {
        use argon2::PasswordVerifier;
        let mut mem = Argon2Memory::default();
        let h = hash_code_in(&mut mem, "31415926").unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"31415926", &parsed)
                .is_ok()
        );
        assert!(verify_code_in(&mut mem, &h, "31415926"));
        assert!(!verify_code_in(&mut mem, &h, "31415927"));
        let lib = {
            use argon2::PasswordHasher;
            let salt = SaltString::generate(&mut rand_core::OsRng);
            Argon2::default()
                .hash_password(b"27182818", &salt)
                .unwrap()
                .to_string()
        };
        assert!(verify_code_in(&mut mem, &lib, "27182818"));
        assert_eq!(
            mem.size(),
            19 * 1024 * 1024,
            "one default check's worth, kept"
        );
        assert!(
            mem.blocks
                .iter()
                .all(|b| format!("{b:?}") == format!("{:?}", Block::default()))
        );
    }

    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_code(DUMMY_HASH, "000000"));
    }
}
