//! `vinr-bench`: the load benchmark of `vinr serve` (issue 6), and the yardstick it is held to.
//!
//! It drives a server over loopback from keep-alive HTTP/1.1 connections (tokio + hyper, no
//! pool and no retries between the timer and the socket), each connection a task issuing
//! requests back to back for a fixed window, and records latencies in HDR histograms. Every
//! scenario is reported beside a bare axum JSON endpoint measured in the same run on the same
//! box, because the box is shared and noisy and the ratio is the figure that holds.
//!
//! ```text
//! vinr-bench baseline --listen 127.0.0.1:0
//! vinr-bench load --base http://127.0.0.1:4242 --key sk_test_… --scenario offsession_payment \
//!     --duration 20 --connections 64 [--server-pid PID]
//! vinr-bench scale --base … --key … --sizes 10000,100000,1000000
//! vinr-bench suite --vinr target/release/vinr [--quick] [--scale [--scale-max 1000000]]
//! vinr-bench crash --vinr target/release/vinr [--rounds 5] [--payments 2000] [--seed S] \
//!     [--sqlite-only | --require-postgres]
//! ```
//!
//! `load` prints one JSON line: `scenario`, `requests_per_s`, `p50_us`, `p99_us`, `p999_us`,
//! `max_us`, `mean_us`, `errors`, `count`, and the server's peak RSS and CPU when its pid is given.
//! `cargo xtask bench` builds the release binaries and runs `suite`, which writes
//! `docs/benchmarks.md`. `crash` is the crash-safety test of issue 7 (`cargo xtask crash`):
//! it kills `vinr serve` with `SIGKILL` under load, restarts it, and checks that nothing
//! acknowledged was lost, nothing was charged twice and every webhook went out.
//!
//! # Layout
//!
//! - `cli`: the command line (clap).
//! - `client`: one keep-alive connection (hyper's HTTP/1.1 client connection) and a request.
//! - `scenario`: what each scenario sends — its setup before the window and each next request.
//! - `load`: the generator — connection tasks, the timed window, merging the histograms.
//! - `summary`: the figures of a window, the JSON line.
//! - `procstat`: a process's peak RSS and CPU time from `/proc`, and the machine.
//! - `baseline`: the bare axum endpoint.
//! - `scale`: load 10 k, 100 k, 1 M customers and measure retrieve and list-by-email at each.
//! - `suite`: starts the servers (and the PostgreSQL database), runs everything, writes the report.
//! - `report`: the markdown of `docs/benchmarks.md` and the bars of issue 6.
//! - `crash`: the crash rounds; `crash::drive` (setup, payments, the kill, retries, reads),
//!   `crash::hook` (the webhook receiver), `crash::check` (the properties, pure).

mod baseline;
mod cli;
mod client;
mod crash;
mod load;
mod procstat;
mod report;
mod scale;
mod scenario;
mod suite;
mod summary;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::client::Target;
use crate::load::LoadPlan;
use crate::scale::ScalePlan;
use crate::scenario::Workload;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Baseline { listen } => baseline::run(listen).await,
            Command::Load(args) => {
                let summary = load::run(LoadPlan {
                    target: Target::parse(&args.target.base, &args.target.key)?,
                    workload: Workload::Named(args.scenario),
                    connections: args.target.connections,
                    warmup: Duration::from_secs_f64(args.warmup),
                    duration: Duration::from_secs_f64(args.duration),
                    server_pid: args.target.server_pid,
                })
                .await?;
                write_line(&summary.to_json_line())
            }
            Command::Scale(args) => {
                let plan = ScalePlan {
                    target: Target::parse(&args.target.base, &args.target.key)?,
                    connections: args.target.connections,
                    sizes: args.sizes,
                    duration: Duration::from_secs_f64(args.duration),
                    server_pid: args.target.server_pid,
                };
                let mut written = Ok(());
                scale::run(&plan, |step| {
                    if written.is_ok() {
                        written = serde_json::to_string(step)
                            .map_err(anyhow::Error::from)
                            .and_then(|line| write_line(&format!("{line}\n")));
                    }
                })
                .await?;
                written
            }
            Command::Suite(args) => suite::run(args).await,
            Command::Crash(args) => crash::run(args).await,
        }
    })
}

/// Writes a line of figures on standard output.
fn write_line(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
