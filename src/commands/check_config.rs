//! `noodepd check-config FILE`: validate a config file the way `serve` reads it, then the
//! files it names: the appliance key and the publisher key must exist, be readable and be
//! of the right kind (secret keys 0600), and so must the TLS certificate and key. Any of
//! those missing or unusable fails the check (exit 1, one line per problem). Unknown keys
//! and plain HTTP on an address other than loopback are warnings.

use crate::cli::CheckConfigArgs;
use crate::config::Config;
use crate::keys::{ApplianceSecret, PublisherPublic};
use std::process::ExitCode;

/// What is wrong with a loaded config: `errors` fail the check, `warnings` do not.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Findings {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks the files and settings a valid config points at (no daemon, no network).
pub(crate) fn findings(c: &Config) -> Findings {
    let mut f = Findings::default();
    for k in &c.unknown_keys {
        f.warnings.push(format!("unknown key {k:?} (ignored)"));
    }
    if let Err(e) = ApplianceSecret::read(&c.keys.appliance_key) {
        f.errors.push(format!(
            "keys.appliance_key: {e} — snapshots cannot be opened; put this box's \
             appliance.key there (mode 0600) or make one with `noodepd keygen appliance`"
        ));
    }
    if let Err(e) = PublisherPublic::read(&c.keys.publisher_pub) {
        f.errors.push(format!(
            "keys.publisher_pub: {e} — no snapshot can be verified; install the publisher's \
             publisher.pub"
        ));
    }
    if let Some(tls) = &c.web.tls
        && let Err(e) = crate::web::tls::TlsReloader::new(tls)
    {
        f.errors.push(format!(
            "web.tls_cert / web.tls_key: {e} — the ward view cannot be served"
        ));
    }
    if c.web.plain_http && !c.web.listen.ip().to_canonical().is_loopback() {
        f.warnings.push(format!(
            "web.plain_http = true on {}, which is not loopback: downtime codes and patient \
             data would cross the network unencrypted; use TLS (web.tls_cert, web.tls_key) \
             on a ward network",
            c.web.listen
        ));
    }
    f
}

/// Runs `noodepd check-config`.
pub(crate) fn run(args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let c = Config::load(&args.file)?;
    let f = findings(&c);
    for w in &f.warnings {
        eprintln!("noodepd: warning: {}: {w}", args.file.display());
    }
    for e in &f.errors {
        eprintln!("noodepd: error: {}: {e}", args.file.display());
    }
    if !f.errors.is_empty() {
        eprintln!(
            "noodepd: error: {}: {} problem(s); the daemon would start but could not do its job",
            args.file.display(),
            f.errors.len()
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "{}: OK (ward {}, appliance {}, listen {}{})",
        args.file.display(),
        c.ward,
        c.appliance_id,
        c.web.listen,
        if c.web.plain_http {
            ", plain HTTP"
        } else {
            ", TLS"
        }
    );
    Ok(ExitCode::SUCCESS)
}
