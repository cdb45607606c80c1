//! Image update bundles through the real `noodepd` binary, on real files: a release key from
//! `noodepd keygen release`, bundles from `noodepd update make`, and `noodepd update
//! install` / `install-inbox` writing into a box layout made of plain files (the slot
//! partitions under a by-partlabel directory, the ESP's EFI/Linux, os-release, the
//! initramfs's note of the running slot). Every refusal (another key, a downgrade, the same version, truncated,
//! oversized, trailing data, a slot too small) must leave every slot byte and every boot
//! entry as it was; a good bundle must land in the slot the box is not running, with a
//! boot entry on trial (`+3`), and the old boot entry of that slot must be gone. A refusal's
//! reason reaches the running daemon's status page and status file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn noodepd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_noodepd"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run noodepd")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A box made of files: running slot `a`, image version `installed`.
struct Box_ {
    dir: tempfile::TempDir,
}

const SLOT_SIZE: usize = 256 * 1024;

impl Box_ {
    fn new(installed: &str, release_pub: &Path) -> Box_ {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("by-partlabel")).unwrap();
        std::fs::create_dir_all(d.join("EFI/Linux")).unwrap();
        std::fs::create_dir_all(d.join("inbox")).unwrap();
        for (name, fill) in [
            ("noodepd-root-a", b'A'),
            ("noodepd-verity-a", b'a'),
            ("noodepd-root-b", b'B'),
            ("noodepd-verity-b", b'b'),
        ] {
            std::fs::write(d.join("by-partlabel").join(name), vec![fill; SLOT_SIZE]).unwrap();
        }
        std::fs::write(
            d.join("EFI/Linux/noodepd-2026.12.1-a.efi"),
            b"uki of slot a",
        )
        .unwrap();
        std::fs::write(
            d.join("EFI/Linux/noodepd-2026.11.1-b.efi"),
            b"old uki of slot b",
        )
        .unwrap();
        std::fs::write(
            d.join("os-release"),
            format!("ID=debian\nIMAGE_ID=noodepd\nIMAGE_VERSION={installed}\n"),
        )
        .unwrap();
        std::fs::write(d.join("running-slot"), "a\n").unwrap();
        std::fs::copy(release_pub, d.join("release.pub")).unwrap();
        Box_ { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn args(&self, cmd: &mut Command) {
        cmd.arg("--release-pub")
            .arg(self.path("release.pub"))
            .arg("--os-release")
            .arg(self.path("os-release"))
            .arg("--running-slot")
            .arg(self.path("running-slot"))
            .arg("--partitions")
            .arg(self.path("by-partlabel"))
            .arg("--uki-dir")
            .arg(self.path("EFI/Linux"));
    }

    fn install(&self, bundle: &Path) -> Output {
        let mut cmd = noodepd();
        cmd.args(["update", "install"]).arg(bundle);
        self.args(&mut cmd);
        run(&mut cmd)
    }

    /// Every slot byte and boot entry, to compare before and after.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut all = Vec::new();
        for sub in ["by-partlabel", "EFI/Linux"] {
            let mut names: Vec<_> = std::fs::read_dir(self.path(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for p in names {
                all.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
        all
    }
}

struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn new() -> Release {
        let dir = tempfile::tempdir().unwrap();
        let out = run(noodepd()
            .args(["keygen", "release", "--out"])
            .arg(dir.path().join("keys")));
        assert!(out.status.success(), "{}", text(&out));
        std::fs::write(dir.path().join("root.sqfs"), pattern(100_000, 1)).unwrap();
        std::fs::write(dir.path().join("root.verity"), pattern(8192, 2)).unwrap();
        std::fs::write(dir.path().join("noodepd.efi"), pattern(30_000, 3)).unwrap();
        Release { dir }
    }

    fn public(&self) -> PathBuf {
        self.dir.path().join("keys/release.pub")
    }

    fn make(&self, version: &str, name: &str) -> PathBuf {
        let d = self.dir.path();
        let out = d.join(name);
        let o = run(noodepd()
            .args(["update", "make", "--key"])
            .arg(d.join("keys/release.key"))
            .args(["--version", version, "--root"])
            .arg(d.join("root.sqfs"))
            .arg("--verity")
            .arg(d.join("root.verity"))
            .arg("--uki")
            .arg(d.join("noodepd.efi"))
            .arg("--out")
            .arg(&out));
        assert!(o.status.success(), "{}", text(&o));
        out
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn assert_refused(out: &Output, words: &str) {
    assert!(!out.status.success(), "should be refused: {}", text(out));
    assert!(
        text(out).contains(words),
        "expected {words:?} in: {}",
        text(out)
    );
}

#[test]
fn good_bundle_lands_in_the_inactive_slot_on_trial() {
    let release = Release::new();
    let bundle = release.make("2026.12.2", "n1.nupd");
    let b = Box_::new("2026.12.1", &release.public());
    let out = b.install(&bundle);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("slot b"), "{}", text(&out));

    let root = std::fs::read(b.path("by-partlabel/noodepd-root-b")).unwrap();
    assert_eq!(&root[..100_000], &pattern(100_000, 1)[..]);
    assert_eq!(root.len(), SLOT_SIZE, "a partition is written, not resized");
    let verity = std::fs::read(b.path("by-partlabel/noodepd-verity-b")).unwrap();
    assert_eq!(&verity[..8192], &pattern(8192, 2)[..]);
    assert_eq!(
        std::fs::read(b.path("EFI/Linux/noodepd-2026.12.2-b+3.efi")).unwrap(),
        pattern(30_000, 3)
    );
    // The slot's old entry is gone; the running slot is untouched.
    assert!(!b.path("EFI/Linux/noodepd-2026.11.1-b.efi").exists());
    assert_eq!(
        std::fs::read(b.path("EFI/Linux/noodepd-2026.12.1-a.efi")).unwrap(),
        b"uki of slot a"
    );
    assert_eq!(
        std::fs::read(b.path("by-partlabel/noodepd-root-a")).unwrap(),
        vec![b'A'; SLOT_SIZE]
    );
    // `update verify` agrees, and says no for an older floor.
    let v = run(noodepd()
        .args(["update", "verify"])
        .arg(&bundle)
        .arg("--release-pub")
        .arg(release.public()));
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn bundle_of_another_release_key_is_refused_and_nothing_written() {
    let ours = Release::new();
    let theirs = Release::new();
    let bundle = theirs.make("2026.12.2", "foreign.nupd");
    let b = Box_::new("2026.12.1", &ours.public());
    let before = b.snapshot();
    let out = b.install(&bundle);
    assert_refused(&out, "signed by another release key");
    assert!(text(&out).contains("nothing made bootable"));
    assert_eq!(b.snapshot(), before);
}

#[test]
fn downgrade_and_reinstall_are_refused_and_nothing_written() {
    let release = Release::new();
    let b = Box_::new("2026.12.1", &release.public());
    let before = b.snapshot();
    for (version, name) in [
        ("2026.11.30", "old.nupd"),
        ("2026.12.1", "same.nupd"),
        ("2026.2", "short.nupd"),
    ] {
        let out = b.install(&release.make(version, name));
        assert_refused(&out, "not newer than the running image 2026.12.1");
        assert_eq!(b.snapshot(), before, "{version}");
    }
}

#[test]
fn truncated_trailing_and_oversized_bundles_are_refused_and_nothing_written() {
    let release = Release::new();
    let good = release.make("2026.12.2", "good.nupd");
    let bytes = std::fs::read(&good).unwrap();
    let b = Box_::new("2026.12.1", &release.public());
    let before = b.snapshot();

    let cut = release.dir.path().join("cut.nupd");
    for len in [bytes.len() - 1, bytes.len() / 2, 300, 10, 0] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let out = b.install(&cut);
        assert!(!out.status.success(), "cut to {len}: {}", text(&out));
        let t = text(&out);
        assert!(
            t.contains("truncated") || t.contains("not an update bundle"),
            "cut to {len}: {t}"
        );
        assert_eq!(b.snapshot(), before);
    }

    let long = release.dir.path().join("long.nupd");
    let mut more = bytes.clone();
    more.extend_from_slice(b"extra");
    std::fs::write(&long, &more).unwrap();
    assert_refused(&b.install(&long), "data after its last part");

    // Larger than any bundle may be: refused from its size alone (a sparse file).
    let huge = release.dir.path().join("huge.nupd");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(5 << 30).unwrap();
    drop(f);
    assert_refused(&b.install(&huge), "more than the");

    // A flipped byte in a part.
    let flipped = release.dir.path().join("flipped.nupd");
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&flipped, &bad).unwrap();
    assert_refused(&b.install(&flipped), "does not match its SHA-256");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn slot_too_small_is_refused_before_a_byte_is_written() {
    let release = Release::new();
    let bundle = release.make("2026.12.2", "n1.nupd");
    let b = Box_::new("2026.12.1", &release.public());
    std::fs::write(b.path("by-partlabel/noodepd-root-b"), vec![b'B'; 1000]).unwrap();
    let before = b.snapshot();
    assert_refused(&b.install(&bundle), "too small");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn box_without_image_version_or_slot_refuses() {
    let release = Release::new();
    let bundle = release.make("2026.12.2", "n1.nupd");
    let b = Box_::new("2026.12.1", &release.public());
    std::fs::write(b.path("os-release"), "ID=debian\n").unwrap();
    let before = b.snapshot();
    assert_refused(&b.install(&bundle), "downgrade cannot be ruled out");
    std::fs::write(b.path("os-release"), "IMAGE_VERSION=2026.12.1\n").unwrap();
    std::fs::remove_file(b.path("running-slot")).unwrap();
    assert_refused(&b.install(&bundle), "not an A/B image");
    std::fs::write(b.path("running-slot"), "x\n").unwrap();
    assert_refused(&b.install(&bundle), "neither a nor b");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn inbox_bundles_are_installed_or_refused_and_always_removed() {
    let release = Release::new();
    let other = Release::new();
    let b = Box_::new("2026.12.1", &release.public());
    // Running slot b this time: the update goes to a.
    std::fs::write(b.path("running-slot"), "b\n").unwrap();
    std::fs::copy(
        other.make("2026.12.3", "x.nupd"),
        b.path("inbox/a-foreign.nupd"),
    )
    .unwrap();
    std::fs::copy(
        release.make("2026.12.2", "n1.nupd"),
        b.path("inbox/b-n1.nupd"),
    )
    .unwrap();
    std::fs::copy(
        release.make("2026.12.4", "n2.nupd"),
        b.path("inbox/c-n2.nupd"),
    )
    .unwrap();
    std::fs::write(
        b.path("inbox/keep-me.snap"),
        b"a snapshot is not the installer's",
    )
    .unwrap();
    std::fs::write(b.path("inbox/d-upload.nupd.part"), b"still uploading").unwrap();

    let mut cmd = noodepd();
    cmd.args(["update", "install-inbox", "--inbox"])
        .arg(b.path("inbox"))
        .env_remove("JOURNAL_STREAM");
    b.args(&mut cmd);
    let out = run(&mut cmd);
    // One refused: the run reports failure (the unit shows it), after doing the rest.
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("installed version 2026.12.2 into slot a"), "{t}");
    assert!(
        t.contains("a-foreign.nupd refused (wrong_release_key)"),
        "{t}"
    );
    // A second good bundle in the same run would overwrite the first before it was tried.
    assert!(t.contains("c-n2.nupd refused (one_at_a_time)"), "{t}");
    assert!(b.path("EFI/Linux/noodepd-2026.12.2-a+3.efi").exists());
    assert!(!b.path("EFI/Linux/noodepd-2026.12.1-a.efi").exists());
    assert!(b.path("EFI/Linux/noodepd-2026.11.1-b.efi").exists());
    let mut left: Vec<_> = std::fs::read_dir(b.path("inbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["d-upload.nupd.part", "keep-me.snap"]);
}

/// IT must see why an update did not arrive without a console: a bundle signed by another
/// release key, refused by the installer while the real daemon runs, shows up as the last
/// refused delivery on the box's status page and in its status file (what the publisher's
/// fleet page reads), with its reason; and it is still there after the daemon restarts (a
/// reboot). The daemon never reads the bundle: it reads the installer's result file.
#[test]
fn a_refused_bundle_shows_its_reason_on_the_status_page_and_in_the_status_file() {
    use e2e_common::{Ward, get, poll};
    let w = Ward::new("A3");
    let config = std::fs::read_to_string(w.config()).unwrap().replace(
        "[paths]\n",
        "[paths]\nstatus_file = \"state/status/status.json\"\n",
    );
    std::fs::write(w.config(), config).unwrap();
    std::fs::create_dir_all(w.state().join("status")).unwrap();
    std::fs::create_dir_all(w.state().join("update")).unwrap();
    std::fs::create_dir_all(w.inbox()).unwrap();
    let (daemon, addr) = w.serve();

    let release = Release::new();
    let other = Release::new();
    let b = Box_::new("2026.12.1", &release.public());
    std::fs::copy(
        other.make("2026.12.2", "x.nupd"),
        w.inbox().join("noodepd-2026.12.2.nupd"),
    )
    .unwrap();
    let before = b.snapshot();
    let mut cmd = noodepd();
    cmd.args(["update", "install-inbox", "--inbox"])
        .arg(w.inbox())
        .arg("--result")
        .arg(w.state().join("update/last.json"))
        .env_remove("JOURNAL_STREAM");
    b.args(&mut cmd);
    let out = run(&mut cmd);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("NOODEPD-UPDATE noodepd-2026.12.2.nupd refused wrong_release_key"),
        "{}",
        text(&out)
    );
    assert_eq!(b.snapshot(), before, "a refused bundle wrote something");

    let page_shows_it = |addr| {
        poll("the status page to show the refused bundle", || {
            let r = get(addr, "/status").map_err(|e| e.to_string())?;
            let t = r.text();
            if r.status == 200
                && t.contains("update_wrong_release_key")
                && t.contains("signed by another release key")
                && t.contains("noodepd-2026.12.2.nupd")
            {
                Ok(())
            } else {
                Err(format!("status {}", r.status))
            }
        })
    };
    page_shows_it(addr);
    let status_path = w.state().join("status/status.json");
    let rejection = poll("the status file to name the refused bundle", || {
        let v: serde_json::Value = std::fs::read(&status_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))?;
        let r = v["last_rejection"].clone();
        if r["code"] == "update_wrong_release_key" {
            Ok(r)
        } else {
            Err(v.to_string())
        }
    });
    assert_eq!(rejection["file"], "noodepd-2026.12.2.nupd");
    let reason = rejection["reason"].as_str().unwrap();
    assert!(
        reason.contains("image update refused, nothing installed")
            && reason.contains("signed by another release key"),
        "{reason}"
    );

    // After a restart (a reboot of the box) the last run's refusal is still shown.
    drop(daemon);
    let (_daemon, addr) = w.serve();
    page_shows_it(addr);
}
