//! The synthetic ward/hospital generator: realistic Dutch wards as FHIR R4 collection
//! Bundles in the nl-core / zib 2020 and MP9 shapes, with beds, medication treatments
//! (agreements, schedules, administration agreements; every ward has a paused, a stopped, a
//! cancelled and a dose-changed one), administrations, alerts, directives, vitals and labs —
//! the project's source of wards, beds and administrations for the demo, the tests and the
//! benchmarks.
//!
//! Invariants:
//! - Deterministic: the same [`GenerateOptions`] give byte-identical bundles. All randomness
//!   comes from ChaCha8 streams derived from the seed (one per ward, one per patient, one for
//!   staff); no wall clock (every time is relative to `opts.now`); no hash-map iteration.
//!   Only the roster's argon2 salts are random.
//! - Every reference in a bundle is a `urn:uuid:` that resolves to an entry's fullUrl in the
//!   same bundle.
//! - Ward and bed convention (see docs/ARCHITECTURE.md): `Encounter.location[0].location` →
//!   `Location` with `physicalType` `bd` (bed), `partOf` → `ro` (room), `partOf` → `wa` (ward);
//!   `Location.name` is the label shown ("A3", "Kamer 3", "3-2").
//! - Identifiers are fake: BSNs from the RvIG test range (see [`bsn_pool`]), patient numbers
//!   under a documented fake OID, drug codes in a fake G-Standaard PRK range (see `drugs`).

mod clinical;
mod drugs;
mod fhirout;
pub mod hostile;
mod names;
mod patient;
mod roster;

pub use patient::{BSN_SYSTEM, PATIENT_NUMBER_SYSTEM};
pub use roster::StaffMember;

use chrono::{DateTime, Utc};
use fhirout::{Entry, coding, concept, meta, reference, uuid};
use patient::{AllergyState, Course, Shared, Slot};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of patients in all.
    pub patients: usize,
    /// The random seed: the same seed (and options) give the same data.
    pub seed: u64,
    /// Ward id, or the prefix when the patients need several wards.
    pub ward: String,
    /// The reference time all data is generated around.
    pub now: DateTime<Utc>,
    /// Beds per ward (40 by default).
    pub beds_per_ward: usize,
}

impl GenerateOptions {
    /// Options with the default ward size (40 beds).
    pub fn new(patients: usize, seed: u64, ward: &str, now: DateTime<Utc>) -> Self {
        GenerateOptions {
            patients,
            seed,
            ward: ward.to_string(),
            now,
            beds_per_ward: DEFAULT_BEDS_PER_WARD,
        }
    }
}

/// Default beds per ward.
pub(crate) const DEFAULT_BEDS_PER_WARD: usize = 40;
/// The most patients one run generates (bounds memory; the BSN pool holds ~9,000 numbers,
/// patients beyond it get no BSN, as foreign patients in real wards).
pub(crate) const MAX_PATIENTS: usize = 100_000;

/// The generated hospital.
#[derive(Debug, Clone)]
pub struct Generated {
    /// One collection Bundle per ward, with the ward id.
    pub bundles: Vec<(String, Value)>,
    /// The demo staff of the run (with plain codes).
    pub staff: Vec<StaffMember>,
}

/// Errors of writing generated output.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "ward id {0:?} is not usable: use 1–32 letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    /// The ward id cannot be used in file names and ids.
    InvalidWard(String),
    /// An output file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A ward's bundle could not be serialised (the ward id is given).
    #[error("could not serialise the bundle for ward {0}")]
    Json(String, #[source] serde_json::Error),
    /// A demo roster code could not be hashed.
    #[error("could not hash a roster code: {0}")]
    Hash(String),
}

/// True when `ward` is usable as a ward id and file-name component.
pub(crate) fn valid_ward_id(ward: &str) -> bool {
    let mut chars = ward.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && ward.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A ChaCha8 stream of the seed.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

const STREAM_STAFF: u64 = 1;
const STREAM_HOSPITAL: u64 = 2;
const STREAM_WARD: u64 = 1 << 20;
const STREAM_PATIENT: u64 = 1 << 32;

/// All valid BSNs `9999xxxxC`: the range RvIG reserves for test persons (BRP/GBA-V test
/// environments), never issued to citizens. About 9,000 numbers.
pub(crate) fn bsn_pool() -> Vec<String> {
    let mut out = Vec::new();
    for mid in 0..10_000u32 {
        let base = format!("9999{mid:04}");
        let partial: i64 = base
            .chars()
            .filter_map(|c| c.to_digit(10).map(i64::from))
            .zip([9, 8, 7, 6, 5, 4, 3, 2])
            .map(|(x, w)| x * w)
            .sum();
        // partial − check ≡ 0 (mod 11), check a single digit.
        let check = partial.rem_euclid(11);
        if check <= 9 {
            out.push(format!("{base}{check}"));
        }
    }
    out
}

/// Room sizes of a ward with `beds` beds: two single (isolation) rooms when the ward is big
/// enough, the rest four-bed rooms, the last one taking the remainder.
fn room_sizes(beds: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = beds;
    if beds >= 8 {
        sizes.extend([1, 1]);
        left -= 2;
    }
    while left > 0 {
        let n = left.min(4);
        sizes.push(n);
        left -= n;
    }
    sizes
}

/// Generates the hospital: one bundle per ward plus the staff list.
pub fn generate(opts: &GenerateOptions) -> Generated {
    let patients = opts.patients.min(MAX_PATIENTS);
    let beds = opts.beds_per_ward.max(1);
    let n_wards = patients.div_ceil(beds).max(1);

    let staff = roster::staff(&mut stream(opts.seed, STREAM_STAFF));
    let mut hospital = stream(opts.seed, STREAM_HOSPITAL);
    let mut bsns = bsn_pool();
    bsns.shuffle(&mut hospital);
    let specialty_offset = hospital.gen_range(0..clinical::SPECIALTIES.len());

    // The plan: (ward index, ward id, patients, index of its first patient in the run).
    let mut plan = Vec::with_capacity(n_wards);
    let mut first = 0usize;
    for w in 0..n_wards {
        let ward_id = if n_wards == 1 {
            opts.ward.clone()
        } else {
            format!("{}-{}", opts.ward, w + 1)
        };
        let count = patients / n_wards + usize::from(w < patients % n_wards);
        plan.push((w, ward_id, count, first));
        first += count;
    }
    let build = |(w, ward_id, count, first): &(usize, String, usize, usize)| {
        let specialty = clinical::SPECIALTIES
            .get((specialty_offset + w) % clinical::SPECIALTIES.len())
            .unwrap_or(&clinical::SPECIALTIES[0]);
        let bundle = ward_bundle(
            opts, ward_id, *w, specialty, beds, *count, *first, &bsns, &staff,
        );
        (ward_id.clone(), bundle)
    };
    // Wards are independent (own random streams), so they are built in parallel; the
    // result is the same as sequentially, in ward order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(n_wards)
        .max(1);
    let mut built: Vec<Option<(String, Value)>> = vec![None; n_wards];
    if threads > 1 {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let plan = &plan;
                    let build = &build;
                    scope.spawn(move || {
                        plan.iter()
                            .filter(|p| p.0 % threads == t)
                            .map(|p| (p.0, build(p)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                if let Ok(done) = h.join() {
                    for (w, b) in done {
                        if let Some(slot) = built.get_mut(w) {
                            *slot = Some(b);
                        }
                    }
                }
            }
        });
    }
    let bundles: Vec<(String, Value)> = plan
        .iter()
        .zip(built)
        .map(|(p, b)| b.unwrap_or_else(|| build(p)))
        .collect();
    Generated {
        bundles,
        staff: staff.into_iter().map(|s| s.member).collect(),
    }
}

#[allow(clippy::too_many_arguments)]
fn ward_bundle(
    opts: &GenerateOptions,
    ward_id: &str,
    w: usize,
    specialty: &clinical::Specialty,
    beds: usize,
    count: usize,
    first: usize,
    bsns: &[String],
    staff: &[roster::StaffGen],
) -> Value {
    let mut rng = stream(opts.seed, STREAM_WARD + w as u64);
    let mut entries: Vec<Entry> = Vec::with_capacity(count * 120 + beds * 2 + 32);
    let bundle_id = uuid(&mut rng);

    // Organizations: the hospital and its pharmacy. The AGB code 99999999 is fake.
    let hospital_id = uuid(&mut rng);
    let hospital_name = "Ziekenhuis De Nooduitgang (fictief)".to_string();
    entries.push(Entry {
        id: hospital_id.clone(),
        resource: json!({
            "resourceType": "Organization",
            "id": hospital_id,
            "meta": meta("nl-core-HealthcareProvider-Organization"),
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/agb-z", "value": "99999999"}],
            "type": [concept("urn:oid:2.16.840.1.113883.2.4.15.1060", "V4", "Ziekenhuis")],
            "name": hospital_name,
        }),
    });
    let pharmacy_id = uuid(&mut rng);
    let pharmacy_name = "Ziekenhuisapotheek De Nooduitgang (fictief)".to_string();
    entries.push(Entry {
        id: pharmacy_id.clone(),
        resource: json!({
            "resourceType": "Organization",
            "id": pharmacy_id,
            "meta": meta("nl-core-HealthcareProvider-Organization"),
            "type": [fhirout::text_concept("Ziekenhuisapotheek")],
            "name": pharmacy_name,
            "partOf": reference(&hospital_id, "Organization", &hospital_name),
        }),
    });

    // Staff as Practitioners; physicians also as PractitionerRole with the ward specialty.
    let mut physicians = Vec::new();
    let mut nurses = Vec::new();
    for s in staff {
        let role = s.member.role.as_str();
        if role != "physician" && role != "nurse" {
            continue;
        }
        let pid = uuid(&mut rng);
        entries.push(Entry {
            id: pid.clone(),
            resource: json!({
                "resourceType": "Practitioner",
                "id": pid,
                "meta": meta("nl-core-HealthProfessional-Practitioner"),
                "name": if role == "physician" { vec![s.name.fhir_initials()] } else { s.name.fhir() },
            }),
        });
        if role == "physician" {
            let rid = uuid(&mut rng);
            let display = format!("{} ({})", s.member.name, specialty.name.to_lowercase());
            entries.push(Entry {
                id: rid.clone(),
                resource: json!({
                    "resourceType": "PractitionerRole",
                    "id": rid,
                    "meta": meta("nl-core-HealthProfessional-PractitionerRole"),
                    "practitioner": reference(&pid, "Practitioner", &s.member.name),
                    "organization": reference(&hospital_id, "Organization", &hospital_name),
                    "specialty": [concept(clinical::SPECIALTY_SYSTEM, specialty.code, specialty.name)],
                }),
            });
            physicians.push((rid, display));
        } else {
            nurses.push((pid, s.member.name.clone()));
        }
    }

    // Ward → rooms → beds.
    let physical = |code: &str, display: &str| {
        concept(
            "http://terminology.hl7.org/CodeSystem/location-physical-type",
            code,
            display,
        )
    };
    let ward_loc = uuid(&mut rng);
    entries.push(Entry {
        id: ward_loc.clone(),
        resource: json!({
            "resourceType": "Location",
            "id": ward_loc,
            "status": "active",
            "name": ward_id,
            "description": format!("Verpleegafdeling {} {ward_id}", specialty.name.to_lowercase()),
            "mode": "instance",
            "physicalType": physical("wa", "Ward"),
            "managingOrganization": reference(&hospital_id, "Organization", &hospital_name),
        }),
    });
    // (bed location id, bed label, single room)
    let mut bed_list: Vec<(String, String, bool)> = Vec::with_capacity(beds);
    let mut room_ids: Vec<(String, String)> = Vec::new();
    let sizes = room_sizes(beds);
    for (r, size) in sizes.iter().enumerate() {
        let room_no = r + 1;
        let room_id = uuid(&mut rng);
        let room_name = format!("Kamer {room_no}");
        entries.push(Entry {
            id: room_id.clone(),
            resource: json!({
                "resourceType": "Location",
                "id": room_id,
                "status": "active",
                "name": room_name,
                "mode": "instance",
                "physicalType": physical("ro", "Room"),
                "partOf": reference(&ward_loc, "Location", ward_id),
            }),
        });
        // Bed resources are pushed after occupancy is known (operationalStatus).
        for b in 1..=*size {
            let bed_id = uuid(&mut rng);
            bed_list.push((bed_id, format!("{room_no}-{b}"), *size == 1));
        }
        room_ids.push((room_id, room_name));
    }
    let mut occupied: Vec<usize> = (0..bed_list.len()).collect();
    occupied.shuffle(&mut rng);
    occupied.truncate(count);
    occupied.sort_unstable();

    // Bed Locations, with the room they belong to.
    let mut k = 0usize;
    for (r, size) in sizes.iter().enumerate() {
        for _ in 0..*size {
            if let (Some((bed_id, label, _)), Some((room_id, room_name))) =
                (bed_list.get(k), room_ids.get(r))
            {
                let is_occupied = occupied.binary_search(&k).is_ok();
                let (sc, sd) = if is_occupied {
                    ("O", "Occupied")
                } else {
                    ("U", "Unoccupied")
                };
                entries.push(Entry {
                    id: bed_id.clone(),
                    resource: json!({
                        "resourceType": "Location",
                        "id": bed_id,
                        "status": "active",
                        "operationalStatus": coding("http://terminology.hl7.org/CodeSystem/v2-0116", sc, sd),
                        "name": label,
                        "mode": "instance",
                        "physicalType": physical("bd", "Bed"),
                        "partOf": reference(room_id, "Location", room_name),
                    }),
                });
            }
            k += 1;
        }
    }

    let shared = Shared {
        now: opts.now,
        specialty,
        hospital: (hospital_id.clone(), hospital_name.clone()),
        pharmacy: (pharmacy_id, pharmacy_name),
        physicians,
        nurses,
    };
    // Every ward shows a paused, a stopped, a cancelled and a dose-changed treatment.
    let mut forced = vec![
        Course::Paused,
        Course::Stopped,
        Course::Cancelled,
        Course::DoseChanged,
    ];
    for (i, bed_index) in occupied.iter().enumerate() {
        let g = first + i;
        let Some((bed_id, bed_name, single)) = bed_list.get(*bed_index) else {
            continue;
        };
        let mut prng = stream(opts.seed, STREAM_PATIENT + g as u64);
        let slot = Slot {
            bed_id: bed_id.clone(),
            bed_name: bed_name.clone(),
            single_room: *single,
            bsn: bsns.get(g).cloned(),
            patient_number: format!("{}", 1_000_000 + g * 97 + prng.gen_range(0..97)),
            allergy_state: match i {
                0 => Some(AllergyState::Items),
                1 => Some(AllergyState::NoneKnown),
                2 => Some(AllergyState::NotRecorded),
                _ => None,
            },
            // From the fourth patient on, one each until every course is shown.
            course: (i >= 3).then(|| forced.first().copied()).flatten(),
        };
        let left = patient::generate(&mut prng, &shared, &slot, &mut entries);
        if slot.course.is_some() && left.is_none() {
            forced.remove(0);
        }
    }
    fhirout::bundle(&bundle_id, opts.now, entries)
}

/// The roster payload JSON for a ward, with argon2id PHC hashes of the codes (never the
/// codes): `{"ward": "A3", "staff": [{"user", "name", "role", "code_hash"}]}`.
///
/// Hashing is slow by design; [`write_output`] hashes each member once for all wards. Should
/// hashing ever fail, that member gets an empty hash, which matches no code (fails closed).
pub fn roster_json(ward: &str, staff: &[StaffMember]) -> Value {
    let hashes: Vec<String> = staff
        .iter()
        .map(|s| roster::hash_code(&s.code).unwrap_or_default())
        .collect();
    roster::roster_from_hashes(ward, staff, &hashes)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` via a temporary file and a rename, with `mode` on Unix.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), GenerateError> {
    let tmp = path.with_extension("part");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
        #[cfg(unix)]
        {
            // An existing file keeps its old mode on open; enforce it.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(io_err(&tmp))?;
        }
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Writes one `WARD.json` bundle per ward into `dir` (created if needed), and with
/// `with_roster` also `roster-WARD.json` (hashes only) and `codes-WARD.txt` (the plain demo
/// codes, mode 0600). Returns the paths written, in order.
pub fn write_output(
    g: &Generated,
    dir: &Path,
    with_roster: bool,
) -> Result<Vec<PathBuf>, GenerateError> {
    for (ward, _) in &g.bundles {
        if !valid_ward_id(ward) {
            return Err(GenerateError::InvalidWard(ward.clone()));
        }
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    for (ward, bundle) in &g.bundles {
        let path = dir.join(format!("{ward}.json"));
        let mut bytes =
            serde_json::to_vec(bundle).map_err(|e| GenerateError::Json(ward.clone(), e))?;
        bytes.push(b'\n');
        write_file(&path, &bytes, 0o644)?;
        written.push(path);
    }
    if with_roster {
        let hashes = roster::hash_all(&g.staff)?;
        for (ward, _) in &g.bundles {
            let roster = roster::roster_from_hashes(ward, &g.staff, &hashes);
            let path = dir.join(format!("roster-{ward}.json"));
            let mut bytes = serde_json::to_vec_pretty(&roster)
                .map_err(|e| GenerateError::Json(ward.clone(), e))?;
            bytes.push(b'\n');
            write_file(&path, &bytes, 0o644)?;
            written.push(path);
            let path = dir.join(format!("codes-{ward}.txt"));
            write_file(&path, roster::codes_text(ward, &g.staff).as_bytes(), 0o600)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Counts of resources by type in a bundle, sorted by type.
pub(crate) fn resource_counts(bundle: &Value) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for e in bundle
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = e
            .get("resource")
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str)
        {
            *counts.entry(t.to_string()).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}
