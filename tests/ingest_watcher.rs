//! The running inbox watcher (`Ingestor::run`) on a real inbox with inotify: behaviour
//! checks with generous timeouts, not timing benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod ingest_common;

use ingest_common::{Env, served};
use noodepd::ingest::Ingestor;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(10);

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_watcher(
    ing: &Arc<Ingestor>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ing.clone().run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_ignores_part_files_and_picks_up_the_renamed_file() {
    let env = Env::new(3);
    let ing = env.start();
    let (stop, task) = start_watcher(&ing);
    let inbox = env.path("inbox");
    let part = inbox.join("a3-1.snap.part");
    std::fs::write(&part, env.clinical(1, 3)).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(served(&ing), None, ".part must not be ingested");
    assert!(part.exists(), ".part must be left alone");
    std::fs::rename(&part, inbox.join("a3-1.snap")).unwrap();
    wait_until("the renamed snapshot to be served", || {
        served(&ing).is_some_and(|s| s.0 == 1)
    })
    .await;
    let accepted = inbox.join("a3-1.snap");
    wait_until("the accepted file to leave the inbox", || {
        !accepted.exists()
    })
    .await;

    // A tampered one is quarantined while sequence 1 stays served.
    let mut bad = env.clinical(2, 3);
    let n = bad.len() / 2;
    bad[n] ^= 1;
    env.drop_in("a3-2.snap", &bad);
    let q = env.path("quarantine/a3-2.snap.reason");
    wait_until("the tampered file to be quarantined", || q.exists()).await;
    assert_eq!(served(&ing).map(|s| s.0), Some(1));

    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_writer_in_place_is_waited_for_not_refused() {
    let env = Env::new(3);
    let ing = env.start();
    let (stop, task) = start_watcher(&ing);
    let bytes = env.clinical(1, 2);
    let path = env.path("inbox/slow.snap");
    let mut f = std::fs::File::create(&path).unwrap();
    let half = bytes.len() / 2;
    f.write_all(&bytes[..half]).unwrap();
    f.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(served(&ing), None);
    f.write_all(&bytes[half..]).unwrap();
    drop(f);
    wait_until("the slowly written snapshot to be served", || {
        served(&ing).is_some()
    })
    .await;
    assert!(!env.path("quarantine/slow.snap").exists());
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_removed_sets_a_problem_and_watching_resumes_when_it_is_back() {
    let env = Env::new(3);
    let ing = env.start();
    let (stop, task) = start_watcher(&ing);
    let inbox = env.path("inbox");
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_dir(&inbox).unwrap();
    wait_until("an inbox problem", || {
        ing.shared()
            .status
            .get()
            .problem
            .is_some_and(|p| p.contains("inbox"))
    })
    .await;
    std::fs::create_dir(&inbox).unwrap();
    wait_until("the inbox problem to clear", || {
        ing.shared().status.get().problem.is_none()
    })
    .await;
    env.drop_in("a3-4.snap", &env.clinical(4, 2));
    wait_until(
        "the snapshot to be served after the inbox came back",
        || served(&ing).is_some_and(|s| s.0 == 4),
    )
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
}
