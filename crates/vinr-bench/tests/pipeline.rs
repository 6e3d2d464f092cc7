//! The pipeline end to end, tiny: `vinr-bench baseline` on port 0, then
//! `vinr-bench load --scenario baseline --duration 1` against it, whose JSON line must carry
//! figures (and the baseline process's RSS and CPU, since its pid is given).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_vinr-bench");

/// Kills the server however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn load_measures_the_baseline() {
    let mut child = Command::new(BIN)
        .args(["baseline", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start vinr-bench baseline");
    let stdout = child.stdout.take().expect("its stdout");
    let server = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let output = Command::new(BIN)
        .args([
            "load",
            "--base",
            &base,
            "--key",
            "sk_test_unused_by_the_baseline",
        ])
        .args([
            "--scenario",
            "baseline",
            "--duration",
            "1",
            "--connections",
            "4",
        ])
        .args(["--server-pid", &server.0.id().to_string()])
        .output()
        .expect("run vinr-bench load");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "load failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let figures: serde_json::Value = serde_json::from_str(&stdout).unwrap();

    assert_eq!(figures["scenario"], "baseline");
    assert_eq!(figures["connections"], 4);
    assert_eq!(figures["errors"], 0, "{stdout}\n{stderr}");
    let count = figures["count"].as_u64().unwrap();
    assert!(count > 10, "{stdout}");
    assert!(
        figures["requests_per_s"].as_f64().unwrap() > 10.0,
        "{stdout}"
    );
    let p50 = figures["p50_us"].as_u64().unwrap();
    let p99 = figures["p99_us"].as_u64().unwrap();
    let p999 = figures["p999_us"].as_u64().unwrap();
    assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{stdout}");
    let server_figures = &figures["server"];
    assert!(
        server_figures["peak_rss_kib"].as_u64().unwrap() > 0,
        "{stdout}"
    );
    assert!(server_figures["cpu_s"].as_f64().unwrap() >= 0.0, "{stdout}");

    // SIGTERM stops the baseline cleanly, as the suite expects of every server it starts.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "the baseline exited with {status}");
}

#[test]
fn load_refuses_a_server_that_is_not_there() {
    // Nothing listens on loopback port 9, so the first connection of the setup fails and the
    // run stops with that error rather than printing figures of nothing.
    let output = Command::new(BIN)
        .args([
            "load",
            "--base",
            "http://127.0.0.1:9",
            "--scenario",
            "retrieve_customer",
        ])
        .args(["--duration", "0.2", "--connections", "1"])
        .output()
        .expect("run vinr-bench load");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("setup of `retrieve_customer` failed"),
        "{stderr}"
    );
}
