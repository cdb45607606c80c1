//! Command-line arguments: every subcommand and its flags, parsed by clap. These names are
//! the interface IT staff and scripts use; change them only with care. Logic lives in the
//! modules; `main.rs` maps each subcommand to its module and errors to exit codes.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default config path on the appliance.
pub const DEFAULT_CONFIG: &str = "/etc/noodepd/noodepd.toml";

#[derive(Debug, Parser)]
#[command(
    name = "noodepd",
    version,
    about = "Read-only emergency EPD appliance for hospital wards"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
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
pub struct UpdateArgs {
    #[command(subcommand)]
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
        root: PathBuf,
        #[arg(long)]
        verity: PathBuf,
        #[arg(long)]
        uki: PathBuf,
        /// The bundle to write (NAME.nupd).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle completely (signature, version, every part) without installing it.
    Verify {
        bundle: PathBuf,
        #[arg(long)]
        release_pub: PathBuf,
        /// Refuse it unless it is newer than this version.
        #[arg(long)]
        newer_than: Option<String>,
    },
    /// On the box (root): verify one bundle and install it into the inactive slot.
    Install {
        bundle: PathBuf,
        #[command(flatten)]
        paths: SlotPathArgs,
    },
    /// On the box (root, noodepd-update.service): install the bundles in the inbox, remove them.
    InstallInbox {
        #[arg(long, default_value = "/var/lib/noodepd/inbox")]
        inbox: PathBuf,
        #[command(flatten)]
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
pub enum KeyKind {
    Publisher,
    Appliance,
    /// Ed25519 key that signs image update bundles (`noodepd update make`).
    Release,
}

#[derive(Debug, Args)]
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
pub enum PayloadKindArg {
    /// FHIR R4 clinical data (Bundle, resource or NDJSON files/directories).
    Clinical,
    /// The ward's staff roster (JSON, see docs/OPERATIONS.md).
    Roster,
    /// A mode command (JSON: {"mode": "emergency", "reason": "..."}).
    ModeCommand,
}

#[derive(Debug, Args)]
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
pub struct ConfigArg {
    /// Config file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Config file.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Standby,
    Emergency,
    Drill,
}

#[derive(Debug, Args)]
pub struct ModeArgs {
    pub mode: ModeArg,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct RosterArgs {
    #[command(subcommand)]
    pub command: RosterCommand,
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Read a personal downtime code on stdin, print its argon2id hash for the roster.
    Hash,
    /// Check a roster JSON file as the appliance would, before sealing it; print a summary.
    Check(RosterCheckArgs),
}

#[derive(Debug, Args)]
pub struct RosterCheckArgs {
    /// The roster JSON file.
    pub file: PathBuf,
    /// Ward id of the appliances the roster is for; the roster's "ward" must be the same.
    #[arg(long)]
    pub ward: String,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    Fhir,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exit non-zero naming the first broken entry.
    Verify(ConfigArg),
    /// Export the log (or a period, or one patient's entries).
    Export(AuditExportArgs),
    /// Write the drill report of the last (or a given) drill.
    DrillReport(DrillReportArgs),
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    #[arg(long, value_enum, default_value = "jsonl")]
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
pub struct DrillReportArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
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
pub enum BenchScenario {
    /// Logged-in nurses browse (ward list, patient pages, MAR) while a new snapshot
    /// arrives every second: errors, one-generation pages, latencies.
    LoadIngest(LoadIngestArgs),
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Args)]
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
