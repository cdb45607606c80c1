//! `noodepd keygen publisher|appliance|release --out DIR`: make a key pair, write `KIND.key`
//! (mode 0600, never overwritten without `--force`) and `KIND.pub`, print the paths and
//! the fingerprint to compare by eye.

use crate::cli::{KeyKind as KeyKindArg, KeygenArgs};
use crate::keys::{self, KeyKind};
use anyhow::Context as _;
use std::process::ExitCode;

/// Runs `noodepd keygen`.
pub(crate) fn run(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let kind = match args.kind {
        KeyKindArg::Publisher => KeyKind::Publisher,
        KeyKindArg::Appliance => KeyKind::Appliance,
        KeyKindArg::Release => KeyKind::Release,
    };
    let written = keys::write_key_pair(kind, &args.out, args.force)
        .with_context(|| format!("cannot write the {} key pair", kind.name()))?;
    println!(
        "wrote {} (secret, mode 0600: keep it on this machine only)",
        written.secret_path.display()
    );
    println!(
        "wrote {} (public: give this to {})",
        written.public_path.display(),
        match kind {
            KeyKind::Publisher => "every ward appliance",
            KeyKind::Appliance => "the publisher",
            KeyKind::Release => "the image build (image/build.sh --release-pub)",
        }
    );
    println!("fingerprint {}", written.key_id.fingerprint());
    Ok(ExitCode::SUCCESS)
}
