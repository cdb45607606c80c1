//! The real `noodepd` binary: `keygen`, `seal` and `inspect` as IT staff and scripts use
//! them — file modes, exit codes, and the one-line reason for a refused snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn noodepd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_noodepd"))
        .args(args)
        .output()
        .expect("run noodepd")
}

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Keys for one publisher and two appliances, and a clinical snapshot for appliance `a`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        for (kind, sub) in [("publisher", "pub"), ("appliance", "a"), ("appliance", "b")] {
            let out = noodepd(&["keygen", kind, "--out", &s(&dir.path().join(sub))]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
        Setup { dir }
    }

    fn p(&self, rel: &str) -> String {
        s(&self.dir.path().join(rel))
    }

    fn seal(&self, out: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "seal".to_string(),
            "--key".into(),
            self.p("pub/publisher.key"),
            "--to".into(),
            self.p("a/appliance.pub"),
            "--ward".into(),
            "A3".into(),
            "--sequence".into(),
            "17".into(),
            "--data-as-of".into(),
            "2026-11-22T05:00:00Z".into(),
            "--out".into(),
            self.p(out),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        noodepd(&refs)
    }

    fn inspect(&self, key: &str, file: &str, json: bool) -> Output {
        let key = self.p(key);
        let publisher = self.p("pub/publisher.pub");
        let file = self.p(file);
        let mut args = vec!["inspect", "--key", &key, "--publisher", &publisher, &file];
        if json {
            args.push("--json");
        }
        noodepd(&args)
    }
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_0600_secret_and_prints_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("keys");
    let out = noodepd(&["keygen", "appliance", "--out", &s(&out_dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = s(&out_dir.join("appliance.key"));
    let public = s(&out_dir.join("appliance.pub"));
    assert_eq!(mode(&key), 0o600);
    let line = std::fs::read_to_string(&public).unwrap();
    assert!(line.starts_with("noodepd-appliance-v1 "), "{line}");
    assert_eq!(line.lines().count(), 1);
    let text = stdout(&out);
    assert!(text.contains(&key) && text.contains(&public), "{text}");
    let fp = text
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint "))
        .expect("fingerprint line");
    assert_eq!(fp.len(), 19);
    assert_eq!(fp.matches('-').count(), 3);

    // A second run must not overwrite the key.
    let before = std::fs::read(&key).unwrap();
    let again = noodepd(&["keygen", "appliance", "--out", &s(&out_dir)]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    let forced = noodepd(&["keygen", "appliance", "--out", &s(&out_dir), "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read(&key).unwrap(), before);
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn seal_then_inspect_a_synthea_bundle_succeeds() {
    let t = Setup::new();
    let sealed = t.seal(
        "s.snap",
        &[&fixture(
            "synthea-smart-r4/Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json",
        )],
    );
    assert!(sealed.status.success(), "{}", stderr(&sealed));
    assert!(
        !Path::new(&t.p("s.snap.part")).exists(),
        "no .part left behind"
    );
    let out = t.inspect("a/appliance.key", "s.snap", false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("valid for this appliance"), "{text}");
    assert!(text.contains("ward            A3"), "{text}");
    assert!(text.contains("sequence        17"), "{text}");
    assert!(text.contains("2026-11-22T05:00:00"), "{text}");
    assert!(text.contains("Patient 1"), "{text}");
    // No patient data on screen: Synthea's patient is Clemente Kreiger.
    assert!(
        !text.contains("Kreiger") && !text.contains("Clemente"),
        "{text}"
    );
    let pub_fp = std::fs::read_to_string(t.p("pub/publisher.pub")).unwrap();
    assert!(pub_fp.starts_with("noodepd-publisher-v1"));
}

#[test]
fn inspect_json_reports_header_and_resource_counts() {
    let t = Setup::new();
    let sealed = t.seal(
        "s.snap",
        &[
            &fixture("nictiz-zib2020/examples/nl-core-Patient-01.json"),
            &fixture("nictiz-zib2020/examples/nl-core-AllergyIntolerance-01.json"),
            &fixture("nictiz-zib2020/examples-mp/nl-core-MedicationAgreement-01.json"),
            &fixture("ips-2.0.0/Bundle-bundle-minimal.json"),
            &fixture("ips-2.0.0/Bundle-IPS-examples-Bundle-01.json"),
        ],
    );
    assert!(sealed.status.success(), "{}", stderr(&sealed));
    let out = t.inspect("a/appliance.key", "s.snap", true);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["header"]["ward"], "A3");
    assert_eq!(v["header"]["sequence"], 17);
    assert_eq!(v["header"]["kind"], "clinical");
    assert_eq!(v["summary"]["documents"], 5);
    // One Patient in nl-core-Patient-01 and one in each of the two IPS bundles.
    assert_eq!(v["summary"]["resources"]["Patient"], 3);
    assert_eq!(v["header"]["recipients"][0]["this_appliance"], true);
}

#[test]
fn tampered_snapshot_is_refused_with_one_line() {
    let t = Setup::new();
    assert!(
        t.seal("s.snap", &[&fixture("synthea-smart-r4")])
            .status
            .success()
    );
    let mut bytes = std::fs::read(t.p("s.snap")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(t.p("bad.snap"), &bytes).unwrap();
    let out = t.inspect("a/appliance.key", "bad.snap", false);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.snap refused: bad signature"), "{err}");
    assert!(stdout(&out).is_empty());

    let original = std::fs::read(t.p("s.snap")).unwrap();
    std::fs::write(t.p("short.snap"), &original[..original.len() - 100]).unwrap();
    let out = t.inspect("a/appliance.key", "short.snap", true);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refused: truncated"),
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["code"], "truncated");
}

#[test]
fn snapshot_for_another_appliance_is_refused() {
    let t = Setup::new();
    assert!(t.seal("s.snap", &[&fixture("ips-2.0.0")]).status.success());
    let out = t.inspect("b/appliance.key", "s.snap", false);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not addressed to this appliance"), "{err}");
}

#[test]
fn publisher_key_where_appliance_key_is_expected_is_refused() {
    let t = Setup::new();
    assert!(t.seal("s.snap", &[&fixture("ips-2.0.0")]).status.success());
    let out = t.inspect("pub/publisher.key", "s.snap", false);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("publisher secret (signing) key")
            && err.contains("appliance secret (decryption) key is needed"),
        "{err}"
    );
    // And on the sealing side: a publisher public key given as a recipient.
    let out = noodepd(&[
        "seal",
        "--key",
        &t.p("pub/publisher.key"),
        "--to",
        &t.p("pub/publisher.pub"),
        "--ward",
        "A3",
        "--sequence",
        "1",
        "--out",
        &t.p("x.snap"),
        &fixture("ips-2.0.0"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("publisher public key"),
        "{}",
        stderr(&out)
    );
    assert!(!Path::new(&t.p("x.snap")).exists());
}

#[test]
fn secret_key_readable_by_others_is_refused() {
    let t = Setup::new();
    assert!(t.seal("s.snap", &[&fixture("ips-2.0.0")]).status.success());
    let key = t.p("a/appliance.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = t.inspect("a/appliance.key", "s.snap", false);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("0644"), "{}", stderr(&out));
}

#[test]
fn seal_refuses_invalid_input() {
    let t = Setup::new();
    std::fs::write(t.p("broken.json"), "{\"resourceType\": \"Patient\"").unwrap();
    let out = t.seal("s.snap", &[&t.p("broken.json")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
    assert!(!Path::new(&t.p("s.snap")).exists());

    std::fs::write(t.p("roster.json"), "[1, 2]").unwrap();
    let out = t.seal("r.snap", &["--kind", "roster", &t.p("roster.json")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("JSON object"), "{}", stderr(&out));
}

#[test]
fn mode_command_seals_and_inspects() {
    let t = Setup::new();
    std::fs::write(
        t.p("mode.json"),
        r#"{"mode": "drill", "reason": "oefening"}"#,
    )
    .unwrap();
    let out = t.seal("m.snap", &["--kind", "mode-command", &t.p("mode.json")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t.inspect("a/appliance.key", "m.snap", false);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mode-command"), "{text}");
    assert!(text.contains("mode, reason"), "{text}");
}

#[test]
fn seal_warns_on_an_empty_ward_and_allow_shrink_sets_the_header_flag() {
    let t = Setup::new();
    std::fs::write(
        t.p("empty.json"),
        r#"{"resourceType":"Bundle","type":"collection","entry":[]}"#,
    )
    .unwrap();
    let out = t.seal("e.snap", &[&t.p("empty.json")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("no patients") && err.contains("--allow-shrink"),
        "{err}"
    );
    assert!(stdout(&out).contains("0 patients"), "{}", stdout(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&t.inspect("a/appliance.key", "e.snap", true).stdout).unwrap();
    assert_eq!(v["header"]["version"], 1);
    assert_eq!(v["header"]["allow_shrink"], false);

    let out = t.seal("f.snap", &["--allow-shrink", &t.p("empty.json")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--allow-shrink: a ward box accepts"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("allow-shrink"), "{}", stdout(&out));
    let shown = t.inspect("a/appliance.key", "f.snap", false);
    assert!(
        stdout(&shown).contains("flags           allow-shrink"),
        "{}",
        stdout(&shown)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&t.inspect("a/appliance.key", "f.snap", true).stdout).unwrap();
    assert_eq!(v["header"]["version"], 2);
    assert_eq!(v["header"]["allow_shrink"], true);

    // A ward with patients seals without a warning.
    let out = t.seal(
        "s.snap",
        &[&fixture("ips-2.0.0/Bundle-IPS-examples-Bundle-01.json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // The flag means nothing for a roster: refused rather than silently dropped.
    std::fs::write(t.p("roster.json"), r#"{"ward":"A3","staff":[]}"#).unwrap();
    let out = t.seal(
        "r.snap",
        &["--kind", "roster", "--allow-shrink", &t.p("roster.json")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("only for clinical"),
        "{}",
        stderr(&out)
    );
}
