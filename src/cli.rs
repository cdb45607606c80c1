//! Command-line arguments: every subcommand and its flags, parsed by clap. These names are
//! the interface IT staff and scripts use; change them only with care. Logic lives in the
//! modules; `main.rs` maps each subcommand to its module and errors to exit codes.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default config path on the appliance.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/noodepd/noodepd.toml";

#[derive(Debug, Parser)]
#[command(
    name = "noodepd",
    version,
    about = "Read-only emergency EPD appliance for hospital wards"
)]
/// The `noodepd` command line: one subcommand.
pub struct Cli {
    #[command(subcommand)]
    /// What to do.
    pub command: Command,
}

#[derive(Debug, Subcommand)]
/// The subcommands.
pub enum Command {
    /// Generate a key pair (publisher signing key or appliance decryption key).
    Keygen(KeygenArgs),
    /// Seal FHIR R4 input (or a roster / mode command) into a signed, encrypted snapshot.
    Seal(SealArgs),
    /// Verify and decrypt a snapshot; print its header and payload summary.
    Inspect(InspectArgs),
    /// Map FHIR files without crypto and print what would be served plus the ingest report.
    Preview(PreviewArgs),
    /// Generate a realistic synthetic ward or hospital as FHIR R4 (deterministic per seed).
    #[cfg(feature = "dev-tools")]
    Generate(GenerateArgs),
    /// Run the daemon: watch the inbox, serve the web view.
    Serve(ConfigArg),
    /// Validate a config file; warn about unknown keys.
    CheckConfig(CheckConfigArgs),
    /// Switch the running daemon's mode via its local control socket (root only).
    Mode(ModeArgs),
    /// Staff roster tools.
    Roster(RosterArgs),
    /// The NEN 7513 access log: verify the chain, export.
    Audit(AuditArgs),
    /// Run a complete demo ward locally in drill mode.
    #[cfg(feature = "dev-tools")]
    Demo(DemoArgs),
    /// Benchmarks: ingest, freshness, serving, memory, start-up, print.
    #[cfg(feature = "dev-tools")]
    Bench(BenchArgs),
    /// Image updates: make a signed bundle (release side), verify one, install (on the box).
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
/// `noodepd update`: image update bundles.
pub struct UpdateArgs {
    #[command(subcommand)]
    /// Which update step.
    pub command: UpdateCommand,
}

/// Where the installer looks on the box; every path can be given for a test or a rescue.
#[derive(Debug, Args)]
pub struct SlotPathArgs {
    /// The pinned release public key.
    #[arg(long, default_value = "/usr/share/noodepd/release.pub")]
    pub release_pub: PathBuf,
    /// os-release of the running image (its IMAGE_VERSION is the floor).
    #[arg(long, default_value = "/etc/os-release")]
    pub os_release: PathBuf,
    /// The initramfs's note of the running slot (a or b).
    #[arg(long, default_value = "/run/noodepd-slot")]
    pub running_slot: PathBuf,
    /// Directory of the partitions by GPT label (noodepd-root-a, noodepd-verity-b, ...).
    #[arg(long, default_value = "/dev/disk/by-partlabel")]
    pub partitions: PathBuf,
    /// The ESP's EFI/Linux directory (systemd-boot's unified kernel images).
    #[arg(long, default_value = "/efi/EFI/Linux")]
    pub uki_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
/// The steps of an image update.
pub enum UpdateCommand {
    /// Release side: make a signed update bundle from a build's root, verity and UKI.
    Make {
        /// The release secret key (noodepd keygen release).
        #[arg(long)]
        key: PathBuf,
        /// The release's image version (the IMAGE_VERSION built into it).
        #[arg(long)]
        version: String,
        #[arg(long)]
        /// The root file system image (squashfs).
        root: PathBuf,
        #[arg(long)]
        /// Its dm-verity hash tree.
        verity: PathBuf,
        #[arg(long)]
        /// The unified kernel image that boots them.
        uki: PathBuf,
        /// The bundle to write (NAME.nupd).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle completely (signature, version, every part) without installing it.
    Verify {
        /// The bundle file (NAME.nupd).
        bundle: PathBuf,
        #[arg(long)]
        /// The release public key the bundle must be signed with.
        release_pub: PathBuf,
        /// Refuse it unless it is newer than this version.
        #[arg(long)]
        newer_than: Option<String>,
    },
    /// On the box (root): verify one bundle and install it into the inactive slot.
    Install {
        /// The bundle file (NAME.nupd).
        bundle: PathBuf,
        #[command(flatten)]
        /// Where the installer looks on the box.
        paths: SlotPathArgs,
    },
    /// On the box (root, noodepd-update.service): install the bundles in the inbox, remove them.
    InstallInbox {
        #[arg(long, default_value = "/var/lib/noodepd/inbox")]
        /// Where bundles are delivered.
        inbox: PathBuf,
        #[command(flatten)]
        /// Where the installer looks on the box.
        paths: SlotPathArgs,
        /// After an install, reboot into it at once if this status file says the box is in
        /// standby; in emergency or drill mode the new image waits for the next reboot.
        #[arg(long)]
        reboot_when_standby: Option<PathBuf>,
        /// Write what was done with each bundle (installed, or refused and why) to this
        /// file, where the daemon picks it up for its status (the image: the state
        /// directory's `update/last.json`).
        #[arg(long)]
        result: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
/// Which kind of key pair `noodepd keygen` makes.
pub enum KeyKind {
    /// Ed25519 key that signs snapshots (the publisher).
    Publisher,
    /// X25519 key that decrypts snapshots (one per box).
    Appliance,
    /// Ed25519 key that signs image update bundles (`noodepd update make`).
    Release,
}

#[derive(Debug, Args)]
/// `noodepd keygen`.
pub struct KeygenArgs {
    /// publisher (Ed25519 signing), appliance (X25519 decryption) or release (Ed25519,
    /// signs image update bundles).
    pub kind: KeyKind,
    /// Directory to write KIND.key (mode 0600) and KIND.pub into.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
/// What a sealed snapshot carries.
pub enum PayloadKindArg {
    /// FHIR R4 clinical data (Bundle, resource or NDJSON files/directories).
    Clinical,
    /// The ward's staff roster (JSON, see docs/OPERATIONS.md).
    Roster,
    /// A mode command (JSON: {"mode": "emergency", "reason": "..."}).
    ModeCommand,
}

#[derive(Debug, Args)]
/// `noodepd seal`.
pub struct SealArgs {
    /// The publisher's signing key.
    #[arg(long)]
    pub key: PathBuf,
    /// Recipient appliance public key; repeat for several appliances.
    #[arg(long = "to", required = true)]
    pub to: Vec<PathBuf>,
    /// Ward id the snapshot is for.
    #[arg(long)]
    pub ward: String,
    /// Monotonic sequence number (per ward; must grow with every snapshot of any kind).
    #[arg(long)]
    pub sequence: u64,
    /// When the data was extracted from the EPD (RFC 3339); default: now.
    #[arg(long)]
    pub data_as_of: Option<String>,
    /// Payload kind.
    #[arg(long, value_enum, default_value = "clinical")]
    pub kind: PayloadKindArg,
    /// Plaintext chunk size in bytes (advanced; default 65536).
    #[arg(long)]
    pub chunk_size: Option<u32>,
    /// Let this clinical snapshot replace the served ward although it holds no patients
    /// or far fewer than the box serves (a ward emptied on purpose). Without it the box
    /// refuses such a snapshot as a likely broken export and keeps the last good data.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Output file (write to FILE.part, then rename).
    #[arg(long)]
    pub out: PathBuf,
    /// Input files or directories.
    #[arg(required = true)]
    pub input: Vec<PathBuf>,
}

#[derive(Debug, Args)]
/// `noodepd inspect`.
pub struct InspectArgs {
    /// The appliance's private key.
    #[arg(long)]
    pub key: PathBuf,
    /// The publisher's public key.
    #[arg(long)]
    pub publisher: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The snapshot file.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
/// `noodepd preview`.
pub struct PreviewArgs {
    /// Print JSON (records + report) instead of a readable summary.
    #[arg(long)]
    pub json: bool,
    /// Reference time for the time windows (RFC 3339); default: now.
    #[arg(long)]
    pub now: Option<String>,
    /// Ward id to label the output with.
    #[arg(long, default_value = "preview")]
    pub ward: String,
    /// FHIR files or directories.
    #[arg(required = true)]
    pub input: Vec<PathBuf>,
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Args)]
/// `noodepd generate` (dev tools).
pub struct GenerateArgs {
    /// Number of patients (a ward has up to 40 beds; more makes a hospital of wards).
    #[arg(long, default_value_t = 24)]
    pub patients: usize,
    /// Random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Ward id (with more than one ward: the prefix).
    #[arg(long, default_value = "A3")]
    pub ward: String,
    /// Reference time (RFC 3339) the data is generated around; default: now.
    #[arg(long)]
    pub now: Option<String>,
    /// Also write a demo staff roster (roster.json) with printed codes.
    #[arg(long)]
    pub roster: bool,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
/// A subcommand that only needs the config file.
pub struct ConfigArg {
    /// Config file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
/// `noodepd check-config`.
pub struct CheckConfigArgs {
    /// Config file.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
/// The mode to switch to.
pub enum ModeArg {
    /// No patient data shown.
    Standby,
    /// An outage: the ward's data is shown.
    Emergency,
    /// Practice: as emergency, marked as a drill and ended automatically.
    Drill,
}

#[derive(Debug, Args)]
/// `noodepd mode`.
pub struct ModeArgs {
    /// The mode to switch to.
    pub mode: ModeArg,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    #[arg(long, default_value = DEFAULT_CONFIG)]
    /// Config file (for the control socket's path).
    pub config: PathBuf,
}

#[derive(Debug, Args)]
/// `noodepd roster`.
pub struct RosterArgs {
    #[command(subcommand)]
    /// Which roster tool.
    pub command: RosterCommand,
}

#[derive(Debug, Subcommand)]
/// The roster tools.
pub enum RosterCommand {
    /// Read a personal downtime code on stdin, print its argon2id hash for the roster.
    Hash,
    /// Check a roster JSON file as the appliance would, before sealing it; print a summary.
    Check(RosterCheckArgs),
}

#[derive(Debug, Args)]
/// `noodepd roster check`.
pub struct RosterCheckArgs {
    /// The roster JSON file.
    pub file: PathBuf,
    /// Ward id of the appliances the roster is for; the roster's "ward" must be the same.
    #[arg(long)]
    pub ward: String,
}

#[derive(Debug, Args)]
/// `noodepd audit`.
pub struct AuditArgs {
    #[command(subcommand)]
    /// Which audit tool.
    pub command: AuditCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
/// The export formats of the access log.
pub enum ExportFormat {
    /// One JSON object per line, as stored.
    Jsonl,
    /// CSV for a spreadsheet (cells that could start a formula are defused).
    Csv,
    /// FHIR AuditEvent resources (NDJSON).
    Fhir,
}

#[derive(Debug, Subcommand)]
/// The audit tools.
pub enum AuditCommand {
    /// Check the whole hash chain; exit non-zero naming the first broken entry.
    Verify(ConfigArg),
    /// Export the log (or a period, or one patient's entries).
    Export(AuditExportArgs),
    /// Write the drill report of the last (or a given) drill.
    DrillReport(DrillReportArgs),
}

#[derive(Debug, Args)]
/// `noodepd audit export`.
pub struct AuditExportArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    /// Config file (for the log's place and key).
    pub config: PathBuf,
    #[arg(long, value_enum, default_value = "jsonl")]
    /// Output format.
    pub format: ExportFormat,
    /// Only entries at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only entries before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Only entries about this patient (patient number or BSN).
    #[arg(long)]
    pub patient: Option<String>,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
/// `noodepd audit drill-report`.
pub struct DrillReportArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    /// Config file (for the log's place and key).
    pub config: PathBuf,
    /// Drill id (default: the latest).
    #[arg(long)]
    pub drill: Option<i64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Args)]
/// `noodepd demo` (dev tools).
pub struct DemoArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Keep everything in DIR (keys, snapshot, inbox, state, noodepd.toml).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Number of demo patients.
    #[arg(long, default_value_t = 24)]
    pub patients: usize,
    /// Seed for the demo data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Args)]
/// `noodepd bench` (dev tools).
pub struct BenchArgs {
    /// Small runs that finish in under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Write the table as JSON too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A single scenario instead of the table.
    #[command(subcommand)]
    pub scenario: Option<BenchScenario>,
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Subcommand)]
/// The single scenarios of `noodepd bench`.
pub enum BenchScenario {
    /// Logged-in nurses browse (ward list, patient pages, MAR) while a new snapshot
    /// arrives every second: errors, one-generation pages, latencies.
    LoadIngest(LoadIngestArgs),
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Args)]
/// `noodepd bench load-ingest`.
pub struct LoadIngestArgs {
    /// Concurrent logged-in clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long they browse, seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Patients in the ward.
    #[arg(long, default_value_t = 40)]
    pub patients: usize,
    /// Browse without delivering snapshots (the baseline for the latencies).
    #[arg(long)]
    pub no_ingest: bool,
    /// Write the figures as JSON too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
