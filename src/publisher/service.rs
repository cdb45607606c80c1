//! The service loop: per source, every `interval`, one cycle — read every ward of the
//! source (census, data by search or bulk, references), check the census against the last
//! one, seal per ward with the next sequence, deliver to each of the ward's boxes (and
//! collect each box's status on the same connection), update the fleet. `--once` runs one
//! cycle of every source.
//!
//! **Never a partial ward**: any read failure after retries (or a census that shrank
//! without the ward allowing it) means that ward is not sealed this cycle; its boxes keep
//! serving the last good data, whose age they show, and the failure is in the log, on the
//! status page and in `/metrics`. A snapshot a box did not receive is delivered again next
//! cycle (or replaced by a newer one).

use super::bulk::{self, BulkCache};
use super::census;
use super::client::{self, FhirClient};
use super::config::{BoxConfig, PublisherConfig, ReadMode, WardConfig};
use super::delivery::{self, Upload};
use super::fleet::{self, Fleet, SharedFleet};
use super::hydrate::{self, Hydrated, RefCache};
use super::resources::{ReadError, ResourceSet};
use super::seal::{self, Sealed, StateStore};
use super::search;
use crate::keys::{AppliancePublic, PublisherSecret};
use crate::snapshot::PayloadKind;
use crate::statusfile::BoxStatus;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Boxes served at once in one cycle (sftp sessions are processes).
const PARALLEL_SESSIONS: usize = 8;

/// Why the publisher could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("cannot use the publisher key: {0}")]
    Key(#[from] crate::keys::KeyError),
    #[error(transparent)]
    State(#[from] seal::StateError),
    #[error("{0}")]
    Source(String),
}

/// A ward that was read and sealed.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub sequence: u64,
    pub census: usize,
    pub data_as_of: DateTime<Utc>,
    pub read: Duration,
    pub seal: Duration,
    pub requests: u64,
    pub shrink_allowed: bool,
}

/// What one cycle did for one ward.
#[derive(Debug, Clone)]
pub(crate) struct WardOutcome {
    pub ward: String,
    /// Sealed, or why not (one line, no patient data).
    pub result: Result<Published, String>,
    /// Per box: delivered (`Ok`) or why not; `None` when there was nothing to deliver.
    pub boxes: Vec<BoxResult>,
    pub deliver: Duration,
}

impl WardOutcome {
    /// Sealed and delivered to every box.
    pub(crate) fn complete(&self) -> bool {
        self.result.is_ok() && self.boxes.iter().all(|(_, r)| matches!(r, Some(Ok(_))))
    }

    /// One line for `--once` and the journal.
    pub(crate) fn line(&self) -> String {
        let delivered = self
            .boxes
            .iter()
            .filter(|(_, r)| matches!(r, Some(Ok(_))))
            .count();
        let failed: Vec<String> = self
            .boxes
            .iter()
            .filter_map(|(b, r)| match r {
                Some(Err(e)) => Some(format!("box {b}: {e}")),
                _ => None,
            })
            .collect();
        match &self.result {
            Ok(p) => {
                let per = if p.census > 0 {
                    format!(" ({:.1} per patient)", p.requests as f64 / p.census as f64)
                } else {
                    String::new()
                };
                let mut s = format!(
                    "ward {}: published sequence {} ({} patient{}{}) to {delivered} of {} boxes; \
                     read {:.2} s, {} requests{per}, sealed {:.2} s, delivered {:.2} s",
                    self.ward,
                    p.sequence,
                    p.census,
                    if p.census == 1 { "" } else { "s" },
                    if p.shrink_allowed {
                        ", shrink allowed"
                    } else {
                        ""
                    },
                    self.boxes.len(),
                    p.read.as_secs_f64(),
                    p.requests,
                    p.seal.as_secs_f64(),
                    self.deliver.as_secs_f64(),
                );
                if !failed.is_empty() {
                    s.push_str(&format!(" — NOT delivered: {}", failed.join("; ")));
                }
                s
            }
            Err(e) => {
                let mut s = format!("ward {}: NOT published: {e}", self.ward);
                if !failed.is_empty() {
                    s.push_str(&format!(" (and {})", failed.join("; ")));
                }
                s
            }
        }
    }
}

/// Per box: delivered (the sequence), why not, or nothing to deliver.
pub(crate) type BoxResult = (String, Option<Result<u64, String>>);

/// A snapshot waiting for a box that did not get it.
struct Pending {
    sealed: Arc<Sealed>,
}

/// The running publisher.
pub(crate) struct Publisher {
    pub cfg: Arc<PublisherConfig>,
    key: PublisherSecret,
    state: StateStore,
    clients: Vec<Arc<FhirClient>>,
    refs: Vec<RefCache>,
    bulk: Vec<tokio::sync::Mutex<BulkCache>>,
    pub fleet: SharedFleet,
    /// Per box id: a sealed snapshot not yet delivered.
    pending: Mutex<HashMap<String, Pending>>,
    /// Per box id: a `.part` a failed upload may have left.
    stale_parts: Mutex<HashMap<String, String>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A ward's data, read and ready to seal.
struct WardData {
    set: ResourceSet,
    census: usize,
    data_as_of: DateTime<Utc>,
}

impl Publisher {
    /// Loads the key, the state directory and every source's client (CA, credentials).
    pub(crate) fn new(cfg: PublisherConfig) -> Result<Publisher, StartError> {
        let key = PublisherSecret::read(&cfg.key)?;
        let state = StateStore::open(&cfg.state_dir)?;
        let mut clients = Vec::new();
        for s in &cfg.sources {
            if s.base_url.starts_with("http://") {
                log::warn!(
                    "source {}: plain http to {} — patient data unencrypted on the network; \
                     use https outside a test",
                    s.name,
                    s.base_url
                );
            }
            clients.push(Arc::new(FhirClient::new(s).map_err(StartError::Source)?));
        }
        // What was sealed before a restart still counts (the alert on "not published for
        // two intervals" must not fire just because the service restarted).
        let mut fleet = Fleet::new(&cfg);
        for w in &mut fleet.wards {
            if let Ok(st) = state.get(&w.id) {
                w.last_success = st.last_sealed_at;
                w.census = st.last_census;
            }
        }
        Ok(Publisher {
            fleet: Arc::new(Mutex::new(fleet)),
            refs: cfg.sources.iter().map(|_| RefCache::default()).collect(),
            bulk: cfg
                .sources
                .iter()
                .map(|_| tokio::sync::Mutex::new(BulkCache::default()))
                .collect(),
            cfg: Arc::new(cfg),
            key,
            state,
            clients,
            pending: Mutex::new(HashMap::new()),
            stale_parts: Mutex::new(HashMap::new()),
        })
    }

    /// The boxes' public keys: those that can be read, and an error per box that cannot.
    fn recipients(ward: &WardConfig) -> (Vec<AppliancePublic>, HashMap<String, String>) {
        let mut keys = Vec::new();
        let mut bad = HashMap::new();
        for b in &ward.boxes {
            match AppliancePublic::read(&b.key) {
                Ok(k)
                    if keys
                        .iter()
                        .any(|o: &AppliancePublic| o.key_id() == k.key_id()) =>
                {
                    bad.insert(
                        b.id.clone(),
                        format!(
                            "{}: the same key as another box of the ward",
                            b.key.display()
                        ),
                    );
                }
                Ok(k) => keys.push(k),
                Err(e) => {
                    bad.insert(b.id.clone(), format!("key unusable: {e}"));
                }
            }
        }
        (keys, bad)
    }

    /// Reads one ward (census, data, references).
    async fn read_ward(&self, wi: usize) -> Result<WardData, ReadError> {
        let ward = &self.cfg.wards[wi];
        let si = ward.source;
        let source = &self.cfg.sources[si];
        let client = self.clients[si].clone();
        let started = Utc::now();
        let c = census::read(&client, source, ward).await?;
        let patients: Vec<String> = c.patients.iter().cloned().collect();
        let mut set = c.resources;
        let mut data_as_of = started;
        match &source.mode {
            ReadMode::Search => {
                let data =
                    search::read_patients(client.clone(), source, &ward.id, &patients, started)
                        .await?;
                set.extend(data, &ward.id)?;
            }
            ReadMode::Bulk(_) => {
                let cache = self.bulk[si].lock().await;
                let mut uncovered = Vec::new();
                for p in &patients {
                    if cache.covers(p) {
                        cache.patient_resources(p, source, started, &mut set)?;
                    } else {
                        uncovered.push(p.clone());
                    }
                }
                if let Some(t) = cache.transaction_time {
                    data_as_of = data_as_of.min(t);
                }
                drop(cache);
                if !uncovered.is_empty() {
                    log::info!(
                        "ward {}: {} patient(s) not in the bulk export (not in the Group yet?) \
                         read by search",
                        ward.id,
                        uncovered.len()
                    );
                    let data = search::read_patients(
                        client.clone(),
                        source,
                        &ward.id,
                        &uncovered,
                        started,
                    )
                    .await?;
                    set.extend(data, &ward.id)?;
                }
            }
        }
        let h: Hydrated =
            hydrate::hydrate(client, &self.refs[si], &ward.id, &mut set, &c.patients).await?;
        log::info!(
            "ward {}: referenced resources {} fetched, {} from cache, {} not found",
            ward.id,
            h.fetched,
            h.from_cache,
            h.not_found
        );
        Ok(WardData {
            census: c.patients.len(),
            set,
            data_as_of,
        })
    }

    /// Reads, checks and seals one ward.
    async fn publish_ward(
        &self,
        wi: usize,
    ) -> Result<(Arc<Sealed>, Published), (String, &'static str)> {
        let ward = &self.cfg.wards[wi];
        let t0 = Instant::now();
        let (data, requests) = client::counted(self.read_ward(wi)).await;
        let read = t0.elapsed();
        let data = data.map_err(|e| (e.to_string(), e.code()))?;
        let payload = data.set.to_ndjson();
        // What the box will make of it: the patients it will show.
        let (payload, mapped) = {
            let ward_id = ward.id.clone();
            let now = Utc::now();
            tokio::task::spawn_blocking(move || {
                let n =
                    crate::fhir::map_payload(&payload, &crate::fhir::MapOptions::new(now, ward_id))
                        .map(|r| r.patients.len());
                (payload, n)
            })
            .await
            .map_err(|e| (format!("mapping task failed: {e}"), "internal"))?
        };
        let mapped = mapped.map_err(|e| {
            (
                format!("the box would refuse this data: {e}"),
                "fhir_invalid",
            )
        })?;
        if mapped != data.census {
            log::warn!(
                "ward {}: the census has {} patients, the box will show {mapped} (check the \
                 EPD's Patient resources: inactive or merged?)",
                ward.id,
                data.census
            );
        }
        let last = self
            .state
            .get(&ward.id)
            .map_err(|e| (e.to_string(), "state"))?;
        let served: Vec<usize> = {
            let f = fleet::lock(&self.fleet);
            f.wards
                .iter()
                .find(|w| w.id == ward.id)
                .map(|w| {
                    w.boxes
                        .iter()
                        .filter_map(|b| b.status.as_ref().and_then(|s| s.patients))
                        .collect()
                })
                .unwrap_or_default()
        };
        let shrink = seal::shrink(
            mapped,
            last.last_census,
            &served,
            ward.min_census_share_percent,
        );
        if let Some(s) = &shrink
            && !ward.allow_shrink
        {
            return Err((
                format!(
                    "{s}; not published (a failed or filtered export looks like this). If the \
                     ward really emptied, set allow_shrink = true for ward {} and run again",
                    ward.id
                ),
                "shrink_refused",
            ));
        }
        let (recipients, _) = Self::recipients(ward);
        if recipients.is_empty() {
            return Err((
                "no box of the ward has a usable public key".into(),
                "keys_unusable",
            ));
        }
        let t1 = Instant::now();
        let sealed = {
            let key = &self.key;
            let state = &self.state;
            seal::seal(
                state,
                key,
                &recipients,
                &ward.id,
                PayloadKind::Clinical,
                &payload,
                data.data_as_of,
                shrink.is_some(),
            )
            .map_err(|e| (e.to_string(), "seal_failed"))?
        };
        let seal_time = t1.elapsed();
        if let Err(e) = self.state.record_census(&ward.id, mapped, Utc::now()) {
            log::error!("ward {}: {e}", ward.id);
        }
        let p = Published {
            sequence: sealed.sequence,
            census: mapped,
            data_as_of: data.data_as_of,
            read,
            seal: seal_time,
            requests,
            shrink_allowed: shrink.is_some(),
        };
        Ok((Arc::new(sealed), p))
    }

    /// One session with a box: delivers `upload` (retrying), collects its status.
    async fn visit_box(
        &self,
        ward: &WardConfig,
        b: &BoxConfig,
        upload: Option<Arc<Sealed>>,
        key_error: Option<String>,
    ) -> Option<Result<u64, String>> {
        let cfg = &self.cfg.delivery;
        let upload = match (upload, key_error) {
            (Some(_), Some(e)) => {
                // This box cannot open what was sealed: still collect its status.
                let s = delivery::session(&b.target, cfg, None, None).await;
                self.record_session(ward, b, &s, None);
                self.note_delivery(ward, b, Some(&Err(e.clone())), None);
                return Some(Err(e));
            }
            (u, _) => u.or_else(|| locked(&self.pending).get(&b.id).map(|p| p.sealed.clone())),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let stale = locked(&self.stale_parts).get(&b.id).cloned();
            let up = upload.as_ref().map(|s| Upload {
                name: &s.name,
                bytes: &s.bytes,
            });
            let s = delivery::session(&b.target, cfg, up, stale.as_deref()).await;
            self.record_session(ward, b, &s, stale.as_deref());
            let result = s
                .delivered
                .map(|r| r.map(|()| upload.as_ref().map_or(0, |u| u.sequence)));
            match (&result, &upload) {
                (Some(Err(e)), Some(u)) if attempt < cfg.attempts => {
                    log::warn!(
                        "ward {}: box {}: delivery of sequence {} failed (attempt {attempt} of \
                         {}): {e}",
                        ward.id,
                        b.id,
                        u.sequence,
                        cfg.attempts
                    );
                    locked(&self.stale_parts).insert(b.id.clone(), format!("{}.part", u.name));
                    tokio::time::sleep(cfg.retry_pause).await;
                }
                _ => {
                    self.note_delivery(ward, b, result.as_ref(), upload.as_ref());
                    return result;
                }
            }
        }
    }

    /// Records what a session saw (reachability, status file).
    fn record_session(
        &self,
        ward: &WardConfig,
        b: &BoxConfig,
        s: &delivery::Session,
        stale: Option<&str>,
    ) {
        let now = Utc::now();
        if s.reachable && stale.is_some() && matches!(s.delivered, Some(Ok(())) | None) {
            locked(&self.stale_parts).remove(&b.id);
        }
        let mut f = fleet::lock(&self.fleet);
        let Some(bs) = f
            .ward_mut(&ward.id)
            .and_then(|w| w.boxes.iter_mut().find(|x| x.id == b.id))
        else {
            return;
        };
        bs.reachable = Some(s.reachable);
        if s.reachable {
            bs.last_contact = Some(now);
        }
        match &s.status {
            Some(Ok(bytes)) => match BoxStatus::parse(bytes) {
                Ok(st) => {
                    bs.status = Some(st);
                    bs.status_read_at = Some(now);
                    bs.status_error = None;
                }
                Err(e) => bs.status_error = Some(e.to_string()),
            },
            Some(Err(e)) if s.reachable => bs.status_error = Some(e.clone()),
            // Unreachable: the last status read stays (its age shows), no extra problem.
            Some(Err(_)) | None => {}
        }
    }

    /// Records a delivery result for a box and the pending re-delivery.
    fn note_delivery(
        &self,
        ward: &WardConfig,
        b: &BoxConfig,
        result: Option<&Result<u64, String>>,
        upload: Option<&Arc<Sealed>>,
    ) {
        let now = Utc::now();
        match (result, upload) {
            (Some(Ok(_)), Some(u)) => {
                let mut p = locked(&self.pending);
                if p.get(&b.id)
                    .is_some_and(|x| x.sealed.sequence <= u.sequence)
                {
                    p.remove(&b.id);
                }
            }
            (Some(Err(e)), Some(u)) => {
                locked(&self.pending).insert(b.id.clone(), Pending { sealed: u.clone() });
                locked(&self.stale_parts).insert(b.id.clone(), format!("{}.part", u.name));
                log::error!(
                    "ward {}: box {}: sequence {} NOT delivered: {e} (retried next cycle)",
                    ward.id,
                    b.id,
                    u.sequence
                );
            }
            _ => {}
        }
        let mut f = fleet::lock(&self.fleet);
        let Some(bs) = f
            .ward_mut(&ward.id)
            .and_then(|w| w.boxes.iter_mut().find(|x| x.id == b.id))
        else {
            return;
        };
        match result {
            Some(Ok(seq)) => {
                bs.sent_sequence = Some(*seq);
                bs.sent_at = Some(now);
                bs.last_delivery_error = None;
            }
            Some(Err(e)) => {
                bs.last_delivery_error = Some(e.clone());
                bs.delivery_failures += 1;
            }
            None => {}
        }
        bs.pending_sequence = locked(&self.pending).get(&b.id).map(|p| p.sealed.sequence);
    }

    /// Delivers (or re-delivers) to every box of a ward and collects their status.
    async fn deliver_ward(
        self: &Arc<Self>,
        wi: usize,
        sealed: Option<Arc<Sealed>>,
    ) -> Vec<BoxResult> {
        let ward = &self.cfg.wards[wi];
        let (_, bad_keys) = Self::recipients(ward);
        let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL_SESSIONS));
        let mut tasks = tokio::task::JoinSet::new();
        for (bi, b) in ward.boxes.iter().enumerate() {
            let me = self.clone();
            let sealed = sealed.clone();
            let key_error = bad_keys.get(&b.id).cloned();
            let sem = sem.clone();
            let id = b.id.clone();
            tasks.spawn(async move {
                let _permit = sem.acquire().await;
                let ward = &me.cfg.wards[wi];
                let b = &ward.boxes[bi];
                (bi, (id, me.visit_box(ward, b, sealed, key_error).await))
            });
        }
        let mut out: Vec<(usize, BoxResult)> = Vec::new();
        while let Some(j) = tasks.join_next().await {
            match j {
                Ok(x) => out.push(x),
                Err(e) => log::error!("ward {}: a delivery task failed: {e}", ward.id),
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// One cycle of the wards of source `si` (all wards when `None`).
    pub(crate) async fn cycle(self: &Arc<Self>, si: Option<usize>) -> Vec<WardOutcome> {
        let sources: Vec<usize> = match si {
            Some(i) => vec![i],
            None => (0..self.cfg.sources.len()).collect(),
        };
        // Bulk sources: one export for all their wards.
        let mut bulk_errors: HashMap<usize, (String, &'static str)> = HashMap::new();
        for &s in &sources {
            let source = &self.cfg.sources[s];
            if let ReadMode::Bulk(b) = &source.mode {
                let mut cache = self.bulk[s].lock().await;
                match bulk::export(&self.clients[s], source, b, &mut cache).await {
                    Ok(x) => log::info!(
                        "source {}: {} bulk export: {} files, {} resources, {} polls",
                        source.name,
                        if x.full { "full" } else { "incremental" },
                        x.files,
                        x.resources,
                        x.polls
                    ),
                    Err(e) => {
                        bulk_errors.insert(s, (e.to_string(), e.code()));
                    }
                }
            }
        }
        let wards: Vec<usize> = (0..self.cfg.wards.len())
            .filter(|&w| sources.contains(&self.cfg.wards[w].source))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        // As many wards of a source are read at once as it takes requests at once: more
        // would only queue at the EPD and hold more wards in memory.
        let reading: Vec<Arc<tokio::sync::Semaphore>> = self
            .cfg
            .sources
            .iter()
            .map(|s| Arc::new(tokio::sync::Semaphore::new(s.concurrency)))
            .collect();
        for wi in wards {
            let me = self.clone();
            let bulk_error = bulk_errors.get(&self.cfg.wards[wi].source).cloned();
            let reading = reading[self.cfg.wards[wi].source].clone();
            tasks.spawn(async move {
                let permit = reading.acquire_owned().await;
                let attempt = Utc::now();
                let result = match bulk_error {
                    Some(e) => Err(e),
                    None => me.publish_ward(wi).await,
                };
                drop(permit);
                let t = Instant::now();
                let boxes = me
                    .deliver_ward(wi, result.as_ref().ok().map(|(s, _)| s.clone()))
                    .await;
                let deliver = t.elapsed();
                let outcome = WardOutcome {
                    ward: me.cfg.wards[wi].id.clone(),
                    result: result.clone().map(|(_, p)| p).map_err(|(e, _)| e),
                    boxes,
                    deliver,
                };
                me.note_ward(wi, attempt, &result.map(|(_, p)| p));
                if outcome.complete() {
                    log::info!("{}", outcome.line());
                } else {
                    log::error!("{}", outcome.line());
                }
                (wi, outcome)
            });
        }
        let mut out = Vec::new();
        while let Some(j) = tasks.join_next().await {
            match j {
                Ok(x) => out.push(x),
                Err(e) => log::error!("a ward task failed: {e}"),
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, o)| o).collect()
    }

    fn note_ward(
        &self,
        wi: usize,
        attempt: DateTime<Utc>,
        r: &Result<Published, (String, &'static str)>,
    ) {
        let mut f = fleet::lock(&self.fleet);
        let id = &self.cfg.wards[wi].id;
        let Some(w) = f.ward_mut(id) else { return };
        w.last_attempt = Some(attempt);
        match r {
            Ok(p) => {
                w.last_success = Some(attempt);
                w.last_error = None;
                w.last_error_code = None;
                w.census = Some(p.census);
                w.sequence = Some(p.sequence);
                w.data_as_of = Some(p.data_as_of);
                w.read_seconds = Some(p.read.as_secs_f64());
                w.requests = Some(p.requests);
            }
            Err((e, code)) => {
                w.last_error = Some(e.clone());
                w.last_error_code = Some(code);
                w.failures += 1;
            }
        }
    }

    /// Seals a roster or mode command for a ward and delivers it to all its boxes.
    pub(crate) async fn send_command(
        self: &Arc<Self>,
        ward_id: &str,
        kind: PayloadKind,
        payload: &[u8],
    ) -> Result<(u64, Vec<BoxResult>), String> {
        let wi = self
            .cfg
            .wards
            .iter()
            .position(|w| w.id == ward_id)
            .ok_or_else(|| format!("no ward {ward_id:?} in {}", self.cfg.source.display()))?;
        let ward = &self.cfg.wards[wi];
        let (recipients, bad) = Self::recipients(ward);
        if recipients.is_empty() {
            return Err(format!(
                "ward {ward_id}: no box has a usable public key: {bad:?}"
            ));
        }
        let sealed = seal::seal(
            &self.state,
            &self.key,
            &recipients,
            ward_id,
            kind,
            payload,
            Utc::now(),
            false,
        )
        .map_err(|e| format!("ward {ward_id}: {e}"))?;
        let seq = sealed.sequence;
        let boxes = self.deliver_ward(wi, Some(Arc::new(sealed))).await;
        Ok((seq, boxes))
    }

    /// Runs every source's cycle every interval until `shutdown`.
    pub(crate) async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for si in 0..self.cfg.sources.len() {
            let me = self.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let interval = me.cfg.sources[si].interval;
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        _ = tick.tick() => {}
                    }
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        _ = me.cycle(Some(si)) => {}
                    }
                }
            });
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
    }
}
