//! The real `nnlab` binary as a child process, for tests that signal or kill it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nnlab` on port 0 on the given database and reads the address from its
/// "listening" log line.
pub fn start(database_url: &str, extra: &[&str]) -> Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnlab"))
        .args(["--addr", "127.0.0.1:0", "--demo-model", "false", "--train-threads", "1"])
        .args(extra)
        .arg("--database-url")
        .arg(database_url)
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--static-dir")
        .arg(root.join("static"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("nnlab starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("a listening line before the log ends")
            .expect("utf-8 log");
        if let Some(rest) = line.split("addr=").nth(1).filter(|_| line.contains("listening")) {
            break rest.split_whitespace().next().expect("an address").to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        url: format!("http://{addr}"),
    }
}

/// Polls `done` every 50 ms until it holds, or fails the test after `limit`.
#[allow(dead_code)] // Not every test binary that starts servers polls this way.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
