//! Runs the `tessera` binary as a person would, on a test's data.

use serde_json::Value;

use super::TestData;

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|_| panic!("not JSON: {}", self.stdout))
    }
}

pub async fn tessera(data: &TestData, args: &[&str]) -> Output {
    tessera_with_input(data, args, "").await
}

/// Runs the binary on `data` with `input` on standard input.
pub async fn tessera_with_input(data: &TestData, args: &[&str], input: &str) -> Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .current_dir(&data.dir)
        .env("TESSERA_DATABASE_URL", data.database_url())
        .env("TESSERA_DATA_DIR", &data.dir)
        .env("TESSERA_ISSUER", super::ISSUER)
        .env_remove("TESSERA_MASTER_KEY")
        .env_remove("DATABASE_URL")
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}
