//! The real binary as a separate process: for what only a whole process
//! shows (its memory, its file descriptors, how it stops).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::TestData;

pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub address: String,
    /// The management listener (`/metrics`, `/readyz`).
    pub management: String,
    pub http: reqwest::Client,
}

/// Where a server process writes: nowhere (the default), or files.
#[derive(Default)]
pub struct Output {
    /// Standard output and the log stream (standard error).
    pub files: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The first administrator's password is generated (and printed)
    /// instead of given.
    pub generated_admin: bool,
}

/// The environment every command of the binary gets for `data`.
pub fn command_for(data: &TestData) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .current_dir(&data.dir)
        .env("TESSERA_DATABASE_URL", data.database_url())
        .env("TESSERA_DATA_DIR", &data.dir)
        .env_remove("TESSERA_MASTER_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("TESSERA_LOG")
        .env_remove("TESSERA_BIND")
        .env_remove("TESSERA_MANAGEMENT_BIND")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `tessera <args> --json` on `data` and returns its output.
pub async fn cli(data: &TestData, args: &[&str]) -> serde_json::Value {
    let output = command_for(data).args(args).arg("--json").output().await.unwrap();
    assert!(output.status.success(), "tessera {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ServerProcess {
    /// `tessera serve` on `data` with `env` on top of the test defaults;
    /// returns once `/healthz` answers.
    pub async fn start(data: &TestData, env: &[(&str, &str)]) -> Self {
        let server = Self::spawn(data, env, Output::default());
        server.wait_ready().await;
        server
    }

    /// `tessera serve` without waiting for it.
    pub fn spawn(data: &TestData, env: &[(&str, &str)], output: Output) -> Self {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let management = format!("127.0.0.1:{}", free_port());
        let mut command = command_for(data);
        command
            .arg("serve")
            .env("TESSERA_BIND", &bind)
            .env("TESSERA_MANAGEMENT_BIND", &management)
            .env("TESSERA_ISSUER", format!("http://{bind}"))
            .env("TESSERA_WORKERS", "2");
        if !output.generated_admin {
            command.env("TESSERA_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap admin password");
        }
        match output.files {
            Some((stdout, stderr)) => {
                command
                    .stdout(std::fs::File::create(stdout).unwrap())
                    .stderr(std::fs::File::create(stderr).unwrap());
            }
            None => {
                command.stdout(Stdio::null()).stderr(if std::env::var_os("TEST_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                });
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the binary runs");
        Self {
            child,
            address: format!("http://{bind}"),
            management: format!("http://{management}"),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            if let Ok(response) = self.http.get(self.url("/readyz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status =
            std::process::Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Resident memory in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmRSS is in /proc/<pid>/status")
    }
}
