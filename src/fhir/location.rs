//! Ward, room and bed of a patient: the convention noodepd reads (and the generator writes).
//!
//! None of the FHIR sources we know carry a bed, so noodepd fixes one convention:
//!
//! - The patient's **current admission** is an `Encounter` with `status` `in-progress`,
//!   `arrived` or `onleave` and `class` inpatient (v3-ActCode `IMP`, `ACUTE`, `NONAC`, `SS`,
//!   or the code `inpatient`), whose `subject` is the Patient. With several, the one with
//!   the latest `period.start` is used; the others are reported as duplicates.
//! - `Encounter.location[]` (entries with `status` `completed` or `planned` are skipped)
//!   points to a `Location`. A Location's level is its `physicalType` coding from
//!   `http://terminology.hl7.org/CodeSystem/location-physical-type`: `bd` bed, `ro` room,
//!   `wa` ward. `Location.partOf` links a bed to its room and a room to its ward (or a bed
//!   directly to its ward); the mapper walks `partOf` upwards (at most 8 steps).
//! - The labels shown are `Location.name`: the bed's name is the bed label ("12-2" or "2"),
//!   the room's name the room ("Kamer 12"), the ward's name the ward ("Cardiologie 4 Oost").
//!   A Location without one of those physicalType codes is not a ward/room/bed and is
//!   ignored for the bed (e.g. the nl-core HealthcareProvider location).
//!
//! See docs/FHIR-MAPPING.md for a complete JSON example.

use super::json::{arr, codings, obj, str_at};
use super::refs::Index;
use super::tree::Value;
use crate::record::BedLocation;
use crate::record::Text;

/// The location-physical-type code system.
pub(crate) const PHYSICAL_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/location-physical-type";
const MAX_PART_OF_STEPS: usize = 8;

/// Encounter statuses that mean "the patient is here now".
pub(crate) fn is_current_status(status: Option<&str>) -> bool {
    matches!(status, Some("in-progress" | "arrived" | "onleave"))
}

/// Encounter classes that mean an inpatient stay.
pub(super) fn is_inpatient_class(class: Option<&Value>) -> bool {
    is_inpatient_code(class.and_then(|c| str_at(c, "code")))
}

/// Encounter class codes (`Encounter.class.code`, trimmed) that mean an inpatient stay.
pub(crate) fn is_inpatient_code(code: Option<&str>) -> bool {
    matches!(
        code.map(str::trim),
        Some("IMP" | "ACUTE" | "NONAC" | "SS" | "inpatient")
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Bed,
    Room,
    Ward,
}

fn level(loc: &Value) -> Option<Level> {
    let pt = obj(loc, "physicalType")?;
    codings(pt).iter().find_map(|c| {
        if str_at(c, "system") != Some(PHYSICAL_TYPE_SYSTEM) {
            return None;
        }
        match str_at(c, "code") {
            Some("bd") => Some(Level::Bed),
            Some("ro") => Some(Level::Room),
            Some("wa") => Some(Level::Ward),
            _ => None,
        }
    })
}

/// Reads ward/room/bed from the encounter at entry `enc` of the index.
pub(crate) fn bed_location(ix: &Index<'_>, enc: usize) -> BedLocation {
    let mut out = BedLocation::default();
    let Some(e) = ix.get(enc) else { return out };
    for l in arr(e.res, "location") {
        if matches!(str_at(l, "status"), Some("completed" | "planned")) {
            continue;
        }
        let Some(r) = l.get("location") else { continue };
        let mut found = BedLocation::default();
        let mut cur = ix.resolve(enc, r);
        let mut steps = 0;
        while let Some(i) = cur {
            let Some(loc) = ix.get(i) else { break };
            if loc.rtype != "Location" || steps >= MAX_PART_OF_STEPS {
                break;
            }
            let name = str_at(loc.res, "name").map(Text::new);
            match level(loc.res) {
                Some(Level::Bed) if found.bed.is_none() => found.bed = name,
                Some(Level::Room) if found.room.is_none() => found.room = name,
                Some(Level::Ward) if found.ward.is_none() => found.ward = name,
                _ => {}
            }
            cur = loc.res.get("partOf").and_then(|p| ix.resolve(i, p));
            steps += 1;
        }
        if found.bed.is_some() || found.room.is_some() || found.ward.is_some() {
            let nothing_yet = out.bed.is_none() && out.room.is_none() && out.ward.is_none();
            if nothing_yet || (out.bed.is_none() && found.bed.is_some()) {
                out = found;
            }
        }
    }
    out
}
