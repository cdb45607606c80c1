//! The provisioning stick (`image/provision.sh`), run for real: `prepare` on the
//! "workstation" side and `apply --root DIR` on a scratch root standing in for the box's
//! state partition. Guards what a person with hands on the box could otherwise do with a
//! USB stick: only sticks signed by the provisioning key the box pinned at its first stick
//! are applied, and a refused stick changes nothing. Also guards the settings in
//! subdirectories (`--address`, `--ntp`), which once made `apply` stop halfway.
//!
//! `apply` must run as root (as in CI: tests/run.sh); it needs `ssh-keygen` and `openssl`
//! (image/install-test-deps.sh installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/image/provision.sh");

fn geteuid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn ok(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Keys and files a provisioning needs, made once per test in `dir`.
struct Kit {
    dir: PathBuf,
    root: PathBuf,
}

impl Kit {
    fn new(dir: &Path) -> Kit {
        assert_eq!(
            geteuid(),
            0,
            "provision.sh apply runs as root: run this test as root (tests/run.sh in CI)"
        );
        for k in ["it1", "it2", "upload"] {
            ok(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", k, "-f"])
                .arg(dir.join(k)));
        }
        ok(Command::new(env!("CARGO_BIN_EXE_noodepd"))
            .args(["keygen", "publisher", "--out"])
            .arg(dir.join("keys")));
        ok(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=box",
            ])
            .arg("-keyout")
            .arg(dir.join("tls.key"))
            .arg("-out")
            .arg(dir.join("tls.crt")));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
        Kit {
            dir: dir.to_path_buf(),
            root,
        }
    }

    /// `provision.sh prepare` into DIR/NAME, signed with `key`, with `extra` options.
    fn stick(&self, name: &str, key: &str, extra: &[&str]) -> PathBuf {
        let d = &self.dir;
        ok(Command::new("sh")
            .arg(SCRIPT)
            .args(["prepare", "--out"])
            .arg(d.join(name))
            .args([
                "--appliance-id",
                "box-1",
                "--ward",
                "A3",
                "--ward-name",
                "Test A3",
            ])
            .arg("--publisher-key")
            .arg(d.join("keys/publisher.pub"))
            .arg("--inbox-key")
            .arg(d.join("upload.pub"))
            .args([
                "--ward-net",
                "10.20.30.0/24",
                "--publisher-addr",
                "10.1.2.3",
            ])
            .arg("--tls-cert")
            .arg(d.join("tls.crt"))
            .arg("--tls-key")
            .arg(d.join("tls.key"))
            .arg("--signing-key")
            .arg(d.join(key))
            .args(extra));
        d.join(name).join("noodepd-provision")
    }

    fn apply(&self, stick: &Path) -> Output {
        run(Command::new("sh")
            .arg(SCRIPT)
            .arg("apply")
            .arg(stick)
            .arg("--root")
            .arg(&self.root))
    }

    fn etc(&self, name: &str) -> PathBuf {
        self.root.join("var/lib/noodepd-etc").join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.etc(name)).unwrap_or_default()
    }

    /// Every file the box's settings consist of, with its content (what a refusal must
    /// leave exactly as it was).
    fn settings(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.etc("")];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn pub_line(&self, key: &str) -> String {
        let s = std::fs::read_to_string(self.dir.join(format!("{key}.pub"))).unwrap();
        s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }
}

fn assert_refused(kit: &Kit, out: &Output, before: &[(String, Vec<u8>)], why: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{why}: the stick was applied");
    assert!(
        err.contains("refused") || err.contains("not signed"),
        "{why}: no clear refusal: {err}"
    );
    assert_eq!(
        kit.settings(),
        before,
        "{why}: a refused stick changed the settings"
    );
}

#[test]
fn first_stick_pins_its_key_and_only_sticks_signed_by_it_are_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let kit = Kit::new(tmp.path());

    let first = kit.stick("first", "it1", &[]);
    let out = kit.apply(&first);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(kit.read("provisioning.pub").trim(), kit.pub_line("it1"));
    assert!(kit.read("noodepd.toml").contains("ward = \"A3\""));
    assert!(kit.read("firewall.nft").contains("10.20.30.0/24"));
    let before = kit.settings();

    // Another key, with settings that would shut the ward out.
    let forged = kit.stick("forged", "it2", &["--ward-net", "192.0.2.0/24"]);
    let out = kit.apply(&forged);
    assert_refused(&kit, &out, &before, "a stick signed by another key");

    // The right key, but a file changed after signing.
    let tampered = kit.stick("tampered", "it1", &[]);
    let env = tampered.join("provision.env");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, text.replace("10.20.30.0/24", "0.0.0.0/0")).unwrap();
    let out = kit.apply(&tampered);
    assert_refused(&kit, &out, &before, "a file changed after signing");

    // The right key, plus a file the manifest does not list.
    let extra = kit.stick("extra", "it1", &[]);
    std::fs::copy(kit.dir.join("tls.crt"), extra.join("kiosk-ca.crt")).unwrap();
    let out = kit.apply(&extra);
    assert_refused(&kit, &out, &before, "a file outside the manifest");

    // A symlink on the stick (read /etc/shadow as the TLS key).
    let link = kit.stick("link", "it1", &[]);
    std::fs::remove_file(link.join("tls.key")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", link.join("tls.key")).unwrap();
    let out = kit.apply(&link);
    assert_refused(&kit, &out, &before, "a symlink on the stick");

    // No signature at all.
    let unsigned = kit.stick("unsigned", "it1", &[]);
    std::fs::remove_file(unsigned.join("manifest.sig")).unwrap();
    let out = kit.apply(&unsigned);
    assert_refused(&kit, &out, &before, "an unsigned stick");

    // After all these refusals, IT's next stick still applies.
    let out = kit.apply(&kit.stick("again", "it1", &["--ward-net", "10.20.31.0/24"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kit.read("firewall.nft").contains("10.20.31.0/24"));
}

#[test]
fn a_stick_signed_with_the_old_key_rotates_the_pin_to_the_next_key() {
    let tmp = tempfile::tempdir().unwrap();
    let kit = Kit::new(tmp.path());
    assert!(kit.apply(&kit.stick("first", "it1", &[])).status.success());

    let next = kit.dir.join("it2.pub");
    let next = next.to_str().unwrap();
    let out = kit.apply(&kit.stick("rotate", "it1", &["--next-signing-key", next]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(kit.read("provisioning.pub").trim(), kit.pub_line("it2"));

    let before = kit.settings();
    let out = kit.apply(&kit.stick("old", "it1", &[]));
    assert_refused(&kit, &out, &before, "a stick signed by the retired key");
    let out = kit.apply(&kit.stick("new", "it2", &[]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn static_address_and_ntp_server_are_written_where_networkd_and_timesyncd_read_them() {
    let tmp = tempfile::tempdir().unwrap();
    let kit = Kit::new(tmp.path());
    let out = kit.apply(&kit.stick(
        "net",
        "it1",
        &[
            "--address",
            "10.20.30.40/24",
            "--gateway",
            "10.20.30.1",
            "--ntp",
            "10.1.2.3,10.1.2.4",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let net = kit.read("network/10-noodepd-static.network");
    assert!(net.contains("Address=10.20.30.40/24"), "{net}");
    assert!(net.contains("Gateway=10.20.30.1"), "{net}");
    let ntp = kit.read("timesyncd.conf.d/ntp.conf");
    assert!(ntp.contains("NTP=10.1.2.3 10.1.2.4"), "{ntp}");
    assert!(
        ntp.contains("FallbackNTP=\n") || ntp.ends_with("FallbackNTP="),
        "{ntp}"
    );
    // No temporary file is left next to them.
    for d in ["network", "timesyncd.conf.d", ""] {
        for e in std::fs::read_dir(kit.etc(d)).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.ends_with(".new"), "left behind: {d}/{n}");
        }
    }

    // A later stick without them removes both (DHCP, no NTP).
    let out = kit.apply(&kit.stick("plain", "it1", &[]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!kit.etc("network/10-noodepd-static.network").exists());
    assert!(!kit.etc("timesyncd.conf.d/ntp.conf").exists());
}
