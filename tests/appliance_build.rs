//! The ward box's binary as image/build.sh makes it (`--no-default-features`): it must carry
//! no synthetic-data generator (with its attack payloads), no demo and no bench, and still
//! be the whole appliance. The test builds that binary for real (in its own target directory,
//! so it never waits on or disturbs the test build; the first run takes minutes, later runs
//! are incremental), asks it what it can do, and looks for the dev tools' strings in its
//! bytes — next to the default build, which must contain them, so the check cannot pass by
//! looking for the wrong thing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use std::path::{Path, PathBuf};
use std::process::Command;

/// Strings that exist only in the dev tools: the bench's nginx installer, the generator's,
/// demo's and bench's subcommand descriptions.
const DEV_TOOL_MARKERS: &[&str] = &[
    "nginx-light",
    "Generate a realistic synthetic",
    "Run a complete demo ward",
    "Benchmarks: ingest, freshness",
];

/// Builds `noodepd` exactly as the image does, but in the dev profile.
fn appliance_binary() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("appliance");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--no-default-features",
            "--bin",
            "noodepd",
        ])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the appliance build (--no-default-features) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug/noodepd")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_appliance_binary_has_no_generator_demo_or_bench() {
    let appliance = appliance_binary();

    // What an administrator on the box sees.
    let help = Command::new(&appliance).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for wanted in [
        "keygen",
        "seal",
        "inspect",
        "preview",
        "serve",
        "check-config",
        "mode",
        "roster",
        "audit",
    ] {
        assert!(
            commands.contains(&wanted),
            "the appliance lost `{wanted}`: {commands:?}"
        );
    }
    for dev in ["generate", "demo", "bench"] {
        assert!(
            !commands.contains(&dev),
            "the appliance offers `{dev}`: {commands:?}"
        );
        let run = Command::new(&appliance).arg(dev).output().unwrap();
        assert_eq!(
            run.status.code(),
            Some(2),
            "`noodepd {dev}` on the appliance must be an unknown command"
        );
        assert!(String::from_utf8_lossy(&run.stderr).contains("unrecognized subcommand"));
    }

    // What is in the file, whether reachable from the command line or not.
    let appliance_bytes = std::fs::read(&appliance).unwrap();
    let default_bytes = std::fs::read(env!("CARGO_BIN_EXE_noodepd")).unwrap();
    for marker in DEV_TOOL_MARKERS {
        assert!(
            contains(&default_bytes, marker),
            "the default build lacks {marker:?}: the marker no longer marks the dev tools"
        );
        assert!(
            !contains(&appliance_bytes, marker),
            "the appliance binary contains the dev tools' {marker:?}"
        );
    }
}
