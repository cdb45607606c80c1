//! The checks a file must pass before anything is applied: the header (ward, clock), the
//! sequence (never backwards), a suspicious shrink of the ward, the resource bound that
//! follows the memory limit, and the roster check (shared with the publisher).

use super::outcome::*;
use super::pipeline::*;
use crate::roster::Roster;
use crate::snapshot::Header;
pub(super) use crate::snapshot::MAX_CLOCK_AHEAD;
use crate::status::code;
use chrono::{DateTime, SecondsFormat, Utc};

/// Largest roster payload (2000 staff with argon2 hashes fit in well under 1 MiB).
pub const MAX_ROSTER: usize = 4 * 1024 * 1024;

/// Memory one input resource may take once parsed and mapped, for the resource cap:
/// measured 1.2–2.4 KiB for the smallest resources (docs/SNAPSHOT-FORMAT.md), with room
/// for the rest of what the daemon holds while it maps.
pub const MEMORY_PER_RESOURCE: u64 = 10 * 1024;

/// Most resources a clinical payload may hold for a service allowed `memory` bytes
/// (about 100,000 for 1 GiB: a 40-bed ward has about 4,500).
pub fn max_resources(memory: u64) -> u64 {
    memory / MEMORY_PER_RESOURCE
}

/// An upper bound of the resources in a clinical payload, without parsing it: the number
/// of `"resourceType"` tokens (every resource has one; a string value that merely
/// contains the word has its quotes escaped, so it is not counted). Stops counting past
/// `limit`.
pub fn resource_count_bound(payload: &[u8], limit: u64) -> u64 {
    const TOKEN: &[u8] = b"\"resourceType\"";
    let mut n = 0u64;
    let mut i = 0;
    while let Some(rest) = payload.get(i..) {
        let Some(q) = rest.iter().position(|&b| b == b'"') else {
            break;
        };
        let at = i + q;
        if payload.get(at..at + TOKEN.len()) == Some(TOKEN) {
            n += 1;
            if n > limit {
                break;
            }
            i = at + TOKEN.len();
        } else {
            i = at + 1;
        }
    }
    n
}

/// Why a roster payload is refused: the rejection code (`/ready`, quarantine note) and the
/// reason, which names no value from the payload but a plain ward id.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct RosterRefusal {
    /// Stable rejection code.
    pub code: &'static str,
    /// One line for a person.
    pub reason: String,
}

/// Parses a roster payload and checks it is for `ward`, exactly as the daemon does before
/// putting a roster in force. `noodepd roster check` calls it too, so IT sees the daemon's
/// own refusal before sealing.
pub fn check_roster(payload: &[u8], ward: &str) -> Result<Roster, RosterRefusal> {
    let refusal = |code, reason| RosterRefusal { code, reason };
    if payload.len() > MAX_ROSTER {
        return Err(refusal(
            "roster_invalid",
            format!(
                "roster payload is {} bytes; at most {MAX_ROSTER}",
                payload.len()
            ),
        ));
    }
    let roster =
        Roster::from_json(payload).map_err(|e| refusal("roster_invalid", e.to_string()))?;
    if roster.ward != ward {
        // A plain ward id is named (as the header's is); anything else is payload text.
        let named = if crate::config::check_id(&roster.ward).is_ok() {
            format!("ward {:?}", roster.ward)
        } else {
            "a ward id that is not a plain id".to_owned()
        };
        return Err(refusal(
            "roster_wrong_ward",
            format!("the roster inside is for {named}, this appliance serves {ward:?}"),
        ));
    }
    Ok(roster)
}

impl Ingestor {
    pub(super) fn check_header(&self, h: &Header, now: DateTime<Utc>) -> Result<(), Failure> {
        let ward = &self.shared.config.ward;
        if &h.ward != ward {
            return Err(refuse(
                "wrong_ward",
                format!(
                    "snapshot is for ward {:?}, this appliance serves ward {ward:?}",
                    h.ward
                ),
            ));
        }
        for (what, t) in [("data_as_of", h.data_as_of), ("created_at", h.created_at)] {
            if t > now + MAX_CLOCK_AHEAD {
                let ahead = (t - now).num_seconds();
                log::warn!(
                    "snapshot {what} is {ahead} s ahead of this appliance's clock: check the \
                     clocks (NTP) of the publisher and this box"
                );
                return Err(refuse(
                    "from_the_future",
                    format!(
                        "{what} {} is {ahead} s ahead of this appliance's clock ({}); more \
                         than {} min ahead is refused — the publisher's or this box's clock \
                         is wrong",
                        t.to_rfc3339_opts(SecondsFormat::Secs, true),
                        now.to_rfc3339_opts(SecondsFormat::Secs, true),
                        MAX_CLOCK_AHEAD.num_minutes()
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn check_sequence(&self, seq: u64) -> Result<(), Failure> {
        if let Some(last) = self.last_sequence()
            && seq <= last
        {
            let (code, what) = if seq == last {
                ("replayed_sequence", "replay?")
            } else {
                ("old_sequence", "rollback or replay?")
            };
            return Err(refuse(
                code,
                format!("sequence {seq} is not newer than the last accepted {last} ({what})"),
            ));
        }
        Ok(())
    }

    /// Refuses a clinical snapshot that holds no patients, or fewer than
    /// `data.min_patient_share_percent` of the patients served now: the typical broken export
    /// (a failed query, a wrong filter) would otherwise replace a whole ward with nothing.
    /// `Ok(true)` when it would refuse but the header's `allow_shrink` flag lets it through.
    pub(super) fn check_shrink(&self, h: &Header, patients: usize) -> Result<bool, Failure> {
        let served = self.shared.store.current();
        let served = served
            .as_ref()
            .map(|g| (g.summaries().len(), g.meta().sequence));
        let share = u64::from(self.shared.config.data.min_patient_share_percent);
        let refusal = if patients == 0 {
            let kept = match served {
                Some((n, seq)) => format!("the last good data ({n} patients, sequence {seq})"),
                None => "no data (nothing was served yet)".to_owned(),
            };
            Some((
                "snapshot_empty",
                format!(
                    "the snapshot holds no patients; still serving {kept}. A failed or \
                     filtered export looks like this: check the publisher's export. If the \
                     ward is really empty, seal with --allow-shrink"
                ),
            ))
        } else {
            match served {
                Some((n, seq)) if (patients as u64).saturating_mul(100) < (n as u64) * share => {
                    Some((
                        "snapshot_shrunk",
                        format!(
                            "the snapshot holds {patients} patients, fewer than {share}% of the \
                             {n} served now (sequence {seq}, still served); a partial export \
                             looks like this: check the publisher's export. If the ward really \
                             shrank, seal with --allow-shrink (or lower \
                             data.min_patient_share_percent)"
                        ),
                    ))
                }
                _ => None,
            }
        };
        match refusal {
            None => Ok(false),
            Some((code, reason)) if h.allow_shrink => {
                log::warn!(
                    "snapshot sequence {} accepted although {code}: sealed with allow_shrink \
                     ({reason})",
                    h.sequence
                );
                Ok(true)
            }
            Some((code, reason)) => {
                self.set_problem(
                    code::SNAPSHOT_SHRINK_REFUSED,
                    Some(format!(
                        "clinical snapshot sequence {} refused ({code}): {reason}",
                        h.sequence
                    )),
                );
                Err(refuse(code, reason))
            }
        }
    }
}
