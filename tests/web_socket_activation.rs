//! Socket activation as systemd does it: the listening socket arrives as fd 3 with
//! `LISTEN_FDS=1` and `LISTEN_PID` set to our pid. The test re-runs itself through `sh`,
//! which puts the socket on fd 3 and sets the variables, so the child sees exactly what
//! systemd would hand the daemon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

const CHILD: &str = "NOODEPD_SOCKET_ACTIVATION_CHILD";
const EXPECT: &str = "NOODEPD_SOCKET_ACTIVATION_EXPECT";
const NAME: &str = "listener_takes_the_systemd_socket_only_when_it_is_ours";

fn web_config() -> noodepd::config::WebConfig {
    noodepd::config::Config::from_toml(
        "[appliance]\nid = \"b\"\nward = \"A3\"\n[web]\nplain_http = true\nlisten = \"127.0.0.1:0\"\n",
        std::path::Path::new("x.toml"),
    )
    .unwrap()
    .web
}

/// Runs this test binary as the child, with the socket on fd 3 and `LISTEN_PID` set to
/// the child's pid (`own_pid`) or to another process's.
fn run_child(socket: std::net::TcpListener, own_pid: bool, expect: &str) -> bool {
    let pid = if own_pid { "$$" } else { "1" };
    let script = format!(
        "exec 3<&0 0</dev/null; LISTEN_PID={pid} LISTEN_FDS=1 exec \"$0\" --exact {NAME} --test-threads=1 --nocapture"
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .env(EXPECT, expect)
        .stdin(Stdio::from(OwnedFd::from(socket)))
        .status()
        .unwrap()
        .success()
}

#[test]
fn listener_takes_the_systemd_socket_only_when_it_is_ours() {
    if std::env::var(CHILD).as_deref() == Ok("1") {
        // The child: what does `listener` give?
        let l = noodepd::web::listener(&web_config()).unwrap();
        let got = l.local_addr().unwrap().to_string();
        let expect = std::env::var(EXPECT).unwrap();
        match expect.strip_prefix('!') {
            Some(not) => assert_ne!(got, not, "took a socket meant for another process"),
            None => assert_eq!(got, expect, "did not take the systemd socket"),
        }
        return;
    }
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    assert!(run_child(socket, true, &addr), "child with our pid failed");
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    assert!(
        run_child(socket, false, &format!("!{addr}")),
        "child with another pid failed"
    );
}
