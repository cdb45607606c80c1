//! Shared test harness for the ingest tests: real keys, snapshots sealed from generator
//! data, a real inbox / quarantine / state directory, restarts as a new `Ingestor`.
#![allow(dead_code)]

use chrono::{DateTime, Duration as TimeDelta, Utc};
use noodepd::app::App;
use noodepd::audit::AuditLog;
use noodepd::config::Config;
use noodepd::generate::{GenerateOptions, generate};
use noodepd::ingest::Ingestor;
use noodepd::keys::{AppliancePublic, KeyKind, PublisherSecret, write_key_pair};
use noodepd::mode::ModeController;
use noodepd::snapshot::{PayloadKind, SealRequest, seal};
use noodepd::store::Store;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) const WARD: &str = "A3";

pub(crate) struct Env {
    pub dir: tempfile::TempDir,
    pub publisher: PublisherSecret,
    pub appliance: AppliancePublic,
    pub keep: usize,
}

impl Env {
    pub(crate) fn new(keep: usize) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let p = write_key_pair(KeyKind::Publisher, &keys, false).unwrap();
        let a = write_key_pair(KeyKind::Appliance, &keys, false).unwrap();
        Env {
            publisher: PublisherSecret::read(&p.secret_path).unwrap(),
            appliance: AppliancePublic::read(&a.public_path).unwrap(),
            dir,
            keep,
        }
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A fresh daemon state on the same directories (a restart).
    pub(crate) fn start(&self) -> Arc<Ingestor> {
        let d = self.dir.path().display();
        let text = format!(
            "[appliance]\nid = \"box-1\"\nward = \"{WARD}\"\n\
             [paths]\nstate = \"{d}/state\"\nruntime = \"{d}/run\"\ninbox = \"{d}/inbox\"\n\
             quarantine = \"{d}/quarantine\"\ncontrol_socket = \"{d}/control.sock\"\n\
             [keys]\nappliance_key = \"{d}/keys/appliance.key\"\n\
             publisher_pub = \"{d}/keys/publisher.pub\"\n\
             [data]\nkeep_snapshots = {}\n\
             [web]\nplain_http = true\nlisten = \"127.0.0.1:0\"\n",
            self.keep
        );
        let cfg = self.path("noodepd.toml");
        std::fs::write(&cfg, text).unwrap();
        let config = Config::load(&cfg).unwrap();
        std::fs::create_dir_all(&config.paths.state).unwrap();
        let store = Store::open(&config.paths.runtime).unwrap();
        let mode = ModeController::load(&config.paths.state, config.drill_max_duration).unwrap();
        let audit =
            AuditLog::open(&config.paths.state, &config.appliance_id, &config.ward).unwrap();
        let shared = Arc::new(App::new(config, store, mode, audit, None));
        Arc::new(Ingestor::new(shared).unwrap())
    }

    pub(crate) fn seal(
        &self,
        ward: &str,
        kind: PayloadKind,
        seq: u64,
        as_of: DateTime<Utc>,
        payload: &[u8],
    ) -> Vec<u8> {
        self.seal_flagged(ward, kind, seq, as_of, payload, false)
    }

    /// As [`Env::seal`], with the header's allow-shrink flag.
    pub(crate) fn seal_flagged(
        &self,
        ward: &str,
        kind: PayloadKind,
        seq: u64,
        as_of: DateTime<Utc>,
        payload: &[u8],
        allow_shrink: bool,
    ) -> Vec<u8> {
        seal(
            &self.publisher,
            std::slice::from_ref(&self.appliance),
            &SealRequest {
                ward,
                sequence: seq,
                created_at: as_of,
                data_as_of: as_of,
                kind,
                chunk_size: 64 * 1024,
                allow_shrink,
            },
            payload,
        )
        .unwrap()
    }

    pub(crate) fn clinical(&self, seq: u64, patients: usize) -> Vec<u8> {
        let as_of = Utc::now() - TimeDelta::minutes(3);
        self.seal(
            WARD,
            PayloadKind::Clinical,
            seq,
            as_of,
            &ward_payload(patients, seq),
        )
    }

    /// A clinical snapshot of `patients` generated patients (0: an empty ward), with the
    /// allow-shrink flag as given.
    pub(crate) fn clinical_flagged(
        &self,
        seq: u64,
        patients: usize,
        allow_shrink: bool,
    ) -> Vec<u8> {
        let as_of = Utc::now() - TimeDelta::minutes(3);
        let payload = if patients == 0 {
            br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#.to_vec()
        } else {
            ward_payload(patients, seq)
        };
        self.seal_flagged(
            WARD,
            PayloadKind::Clinical,
            seq,
            as_of,
            &payload,
            allow_shrink,
        )
    }

    /// Drops a file into the inbox the way a publisher does: NAME.part, then rename.
    pub(crate) fn drop_in(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let inbox = self.path("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        let part = inbox.join(format!("{name}.part"));
        std::fs::write(&part, bytes).unwrap();
        let fin = inbox.join(name);
        std::fs::rename(&part, &fin).unwrap();
        fin
    }
}

/// The clinical payload for one ward: the generator's bundle as one NDJSON line.
pub(crate) fn ward_payload(patients: usize, seed: u64) -> Vec<u8> {
    let g = generate(&GenerateOptions {
        patients,
        seed,
        ward: WARD.into(),
        now: Utc::now(),
        beds_per_ward: 40,
    });
    let mut out = serde_json::to_vec(&g.bundles[0].1).unwrap();
    out.push(b'\n');
    out
}

pub(crate) fn served(ing: &Ingestor) -> Option<(u64, usize, DateTime<Utc>)> {
    ing.shared()
        .store
        .current()
        .map(|g| (g.meta().sequence, g.summaries().len(), g.meta().data_as_of))
}

pub(crate) fn audit_kinds(env: &Env) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(env.path("state/audit.sqlite")).unwrap();
    let mut st = conn
        .prepare("SELECT kind, event FROM entry ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (k, e) = r.unwrap();
            let v: serde_json::Value = serde_json::from_str(&e).unwrap();
            (k, v["detail"].as_str().unwrap().to_owned())
        })
        .collect()
}
