//! The real binary as a separate process: for what only a whole process
//! shows (its memory, its file descriptors, how it stops).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::TestData;

pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub address: String,
    pub http: reqwest::Client,
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ServerProcess {
    /// `tessera serve` on `data` with `env` on top of the test defaults;
    /// returns once `/healthz` answers.
    pub async fn start(data: &TestData, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .arg("serve")
            .current_dir(&data.dir)
            .env("TESSERA_BIND", &bind)
            .env("TESSERA_DATABASE_URL", data.database_url())
            .env("TESSERA_DATA_DIR", &data.dir)
            .env("TESSERA_ISSUER", format!("http://{bind}"))
            .env("TESSERA_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap admin password")
            .env("TESSERA_WORKERS", "2")
            .env_remove("TESSERA_MASTER_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("TESSERA_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the binary runs");
        let server = Self {
            child,
            address: format!("http://{bind}"),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        };
        let started = Instant::now();
        loop {
            if let Ok(response) = server.http.get(server.url("/readyz")).send().await {
                if response.status() == 200 {
                    return server;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
