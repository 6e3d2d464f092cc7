//! `vinr-bench suite`: the whole benchmark. Starts the baseline server and measures it, then
//! `vinr serve` on a fresh SQLite database (and on a fresh PostgreSQL database when a URL is
//! given, created with `psql` and dropped afterwards), runs every scenario against each, and
//! writes the report. Servers are separate processes, so the figures of `/proc/PID` are theirs
//! alone; every server is stopped (and killed if it must be) on every path out.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::cli::{ScenarioName, SuiteArgs};
use crate::client::Target;
use crate::load::{self, LoadPlan};
use crate::procstat;
use crate::report::{self, Report, StoreKind, StoreRun};
use crate::scale::{self, ScalePlan};
use crate::scenario::{Workload, run_nonce};

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server may take to stop after `SIGTERM` (its own grace is 30 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// The vault key of the PostgreSQL runs (base64 of 32 bytes). The database is made for the run
/// and dropped after it, and holds only test cards, so a fixed key is enough.
pub(crate) const BENCH_VAULT_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

/// A server process we started (also by `vinr-bench crash`).
pub(crate) struct Server {
    child: Child,
    pid: u32,
    /// `http://ADDR`, as the server printed it.
    pub(crate) base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `command` (which must print `listening on http://ADDR` on standard output), its
    /// standard error going to `log`.
    pub(crate) async fn start(mut command: Command, log: &Path) -> Result<Server> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = command.spawn().context("cannot start the server")?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no standard output")?;
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.trim().strip_prefix("listening on ") {
                    return anyhow::Ok(Some(addr.to_owned()));
                }
            }
            Ok(None)
        };
        let base = match tokio::time::timeout(START_TIMEOUT, wait).await {
            Ok(Ok(Some(base))) => base,
            outcome => {
                let _ = child.start_kill();
                let why = match outcome {
                    Err(_) => format!("it did not print its address within {START_TIMEOUT:?}"),
                    Ok(Err(err)) => format!("reading its output failed: {err:#}"),
                    Ok(Ok(_)) => "it exited before listening".to_owned(),
                };
                bail!("the server did not start: {why}\n{}", log_tail(log));
            }
        };
        // Keep reading what it prints, so that its writes never fail on a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            base,
            log: log.to_owned(),
        })
    }

    /// `SIGKILL`, at once: no grace, nothing finished or flushed by the server. Waits only for
    /// the signal to be sent; [`Server::reap`] waits for the exit.
    pub(crate) fn kill(&mut self) -> Result<()> {
        self.child
            .start_kill()
            .context("cannot send SIGKILL to the server")
    }

    /// Waits for a killed server to be gone.
    pub(crate) async fn reap(mut self) -> Result<()> {
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err).context("waiting for the killed server"),
            Err(_) => bail!("the killed server did not exit within {STOP_TIMEOUT:?}"),
        }
    }

    /// The file its standard error goes to.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// `SIGTERM`, then waits for it to exit (killing it after [`STOP_TIMEOUT`]).
    pub(crate) async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => bail!("the server exited with {status}\n{}", log_tail(&self.log)),
            Ok(Err(err)) => Err(err).context("waiting for the server"),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the server did not stop within {STOP_TIMEOUT:?}; killed it")
            }
        }
    }
}

/// The last lines of a server's log, for errors.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    format!("last lines of {}:\n{tail}", log.display())
}

/// A scratch directory, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints a figure line on standard output as soon as it is known (the report comes at the end).
fn emit(store: &str, value: &impl serde::Serialize) -> Result<()> {
    let mut line = serde_json::to_value(value)?;
    if let Some(object) = line.as_object_mut() {
        object.insert("store".to_owned(), store.into());
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

/// Runs the suite and writes the report.
pub(crate) async fn run(args: SuiteArgs) -> Result<()> {
    let vinr = std::fs::canonicalize(&args.vinr)
        .with_context(|| format!("no vinr binary at {}", args.vinr.display()))?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("vinr-bench-suite-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let duration = Duration::from_secs_f64(args.scenario_seconds());
    let warmup = Duration::from_secs_f64(args.warmup_seconds());
    let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let key = format!("sk_test_vinrbench_{}", run_nonce());
    let plan = |base: &str, scenario: ScenarioName, pid: u32| -> Result<LoadPlan> {
        Ok(LoadPlan {
            target: Target::parse(base, &key)?,
            workload: Workload::Named(scenario),
            connections: args.connections,
            warmup,
            duration,
            server_pid: Some(pid),
        })
    };

    eprintln!("vinr-bench: baseline (bare axum) for {duration:?}");
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["baseline", "--listen", "127.0.0.1:0"]);
    let server = Server::start(command, &scratch.0.join("baseline.log")).await?;
    let baseline = load::run(plan(&server.base, ScenarioName::Baseline, server.pid)?).await;
    server.stop().await?;
    let baseline = baseline?;
    emit("baseline", &baseline)?;

    let vinr_command = |database_url: &str| {
        let mut command = Command::new(&vinr);
        command.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ]);
        // Only what we set: a VINR_* variable of the caller's shell must not change the run.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("VINR_") {
                command.env_remove(name);
            }
        }
        // One key drives all the load, so its per-key rate limit (1000/s by default) is off.
        command
            .env("VINR_SECRET_KEY", &key)
            .env("VINR_RATE_LIMIT", "0")
            .env("RUST_LOG", &log_level);
        command
    };
    let run_store = |store: StoreKind, command: Command, detail: String| {
        let log = scratch.0.join(format!("{}.log", store.as_str()));
        let plan = &plan;
        let sizes = if store == StoreKind::Sqlite || args.scale_postgres {
            args.scale_sizes()
        } else {
            Vec::new()
        };
        let connections = args.connections;
        let key = &key;
        async move {
            let server = Server::start(command, &log).await?;
            let outcome = async {
                let mut results = Vec::new();
                for scenario in ScenarioName::SERVER {
                    eprintln!(
                        "vinr-bench: {} {} for {duration:?}",
                        store.as_str(),
                        scenario.as_str()
                    );
                    let summary = load::run(plan(&server.base, scenario, server.pid)?).await?;
                    emit(store.as_str(), &summary)?;
                    results.push(summary);
                }
                let mut steps = Vec::new();
                if !sizes.is_empty() {
                    let scale_plan = ScalePlan {
                        target: Target::parse(&server.base, key)?,
                        connections,
                        sizes,
                        duration: duration.min(Duration::from_secs(10)),
                        server_pid: Some(server.pid),
                    };
                    let mut emitted = Ok(());
                    steps = scale::run(&scale_plan, |step| {
                        if emitted.is_ok() {
                            emitted = emit(store.as_str(), step);
                        }
                    })
                    .await?;
                    emitted?;
                }
                anyhow::Ok((results, steps))
            }
            .await;
            let stopped = server.stop().await;
            let (results, scale) = outcome?;
            stopped?;
            anyhow::Ok(StoreRun {
                store,
                detail,
                results,
                scale,
            })
        }
    };

    let mut stores = Vec::new();
    let sqlite_path = scratch.0.join("bench.db");
    let sqlite_url = format!("sqlite://{}", sqlite_path.display());
    stores.push(
        run_store(
            StoreKind::Sqlite,
            vinr_command(&sqlite_url),
            "a fresh temporary database file".to_owned(),
        )
        .await
        .context("the SQLite run failed")?,
    );

    let postgres_skipped = match &args.postgres_url {
        None => Some("`VINR_TEST_POSTGRES_URL` is not set".to_owned()),
        Some(admin_url) => {
            let name = format!("vinr_bench_{}", std::process::id());
            let url = with_database(admin_url, &name)?;
            psql(
                admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await?;
            psql(admin_url, &format!("CREATE DATABASE {name}")).await?;
            let mut command = vinr_command(&url);
            command.env("VINR_VAULT_KEY", BENCH_VAULT_KEY);
            let run = run_store(
                StoreKind::Postgres,
                command,
                format!("a fresh database `{name}`, dropped afterwards"),
            )
            .await;
            let dropped = psql(
                admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
            stores.push(run.context("the PostgreSQL run failed")?);
            dropped?;
            None
        }
    };

    let report = Report {
        command: args.command.clone(),
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
            .await
            .unwrap_or_else(|| "(date unknown)".to_owned()),
        commit: commit().await,
        machine: procstat::machine(),
        connections: args.connections,
        seconds: args.scenario_seconds(),
        warmup: args.warmup_seconds(),
        log_level,
        baseline,
        stores,
        postgres_skipped,
        scale_requested: !args.scale_sizes().is_empty(),
        verify: report::read_verify(&args.criterion_dir),
    };
    write_report(&args.out, &report)?;
    eprintln!("vinr-bench: wrote {}", args.out.display());
    Ok(())
}

/// Replaces the generated part of `out` (creating the file if needed).
fn write_report(out: &Path, report: &Report) -> Result<()> {
    let existing = std::fs::read_to_string(out).ok();
    let text = report::splice(existing.as_deref(), &report::render(report));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))
}

/// `psql URL -c SQL`, failing on any error.
pub(crate) async fn psql(url: &str, sql: &str) -> Result<()> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run psql (is the PostgreSQL client installed?)")?;
    if !output.status.success() {
        bail!(
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A PostgreSQL URL naming another database on the same server (query parameters kept).
pub(crate) fn with_database(url: &str, database: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "postgres" | "postgresql"))
        .context("the PostgreSQL URL must start with postgres:// or postgresql://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

/// The commit, in backticks, and whether the tree has uncommitted changes.
async fn commit() -> Option<String> {
    let head = command_output("git", &["rev-parse", "--short", "HEAD"]).await?;
    let dirty = command_output("git", &["status", "--porcelain"])
        .await
        .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("`{head}` with uncommitted changes")
    } else {
        format!("`{head}`")
    })
}

/// A command's trimmed standard output, if it ran and succeeded.
async fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_swaps_only_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "b").unwrap(),
            "postgresql://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "b").unwrap(),
            "postgres://h:5432/b"
        );
        assert!(with_database("mysql://h/db", "b").is_err());
    }
}
