//! Project automation for VINR, in Rust: run it as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`). `cargo xtask ci` green locally means CI green: `.ci/run` runs exactly it.
//!
//! Commands: `ci`, `test`, `smoke`, `bench`, `crash`, `fuzz`, `schemathesis`, `tidy`, `help`
//! (see [`USAGE`]).

mod bench;
mod crash;
mod fuzz;
mod schemathesis;
mod tidy;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use xshell::{Shell, cmd};

/// What `cargo xtask help` prints.
const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  ci     what CI runs (.ci/run), in order, stopping at the first failure:
           cargo fmt --all -- --check
           cargo clippy --workspace --all-targets --all-features -- -D warnings
           cargo test --workspace --all-features   (unit, integration, doc tests and tidy)
           then the acceptance smoke (as `cargo xtask smoke`)
           then a short crash round (`cargo xtask crash --rounds 1`: SQLite, and
           PostgreSQL, which CI=true requires via VINR_TEST_POSTGRES_URL)
  test   only the workspace tests: cargo test --workspace --all-features
  smoke  cargo build --release -p vinr-cli, then
         python3 ../shared/acceptance/smoke.py target/release/vinr
  bench [--quick] [--scale [--scale-max N]]
         cargo build --release -p vinr-cli, -p vinr-bench, then vinr-bench suite: the
         load benchmark of `vinr serve` (SQLite, and PostgreSQL when VINR_TEST_POSTGRES_URL
         is set) beside a bare axum baseline; rewrites the generated part of
         docs/benchmarks.md. --quick: 5 s per scenario, under 2 minutes; default 20 s;
         --scale adds 10 k and 100 k customers on SQLite (--scale-max 1000000 for 1 M;
         full mode only)
  crash [--rounds 5] [--payments 2000] [--seed S] [--sqlite-only]
         cargo build --release -p vinr-cli, -p vinr-bench, then vinr-bench crash: per
         round, N off-session payments from 32 connections, SIGKILL of `vinr serve` at a
         seeded random moment, restart, every key retried; checks one payment per key,
         nothing acknowledged lost, approved charges = succeeded payments, one
         payment.succeeded each, every webhook delivered. SQLite, then PostgreSQL when
         VINR_TEST_POSTGRES_URL is set (under CI=true it must be)
  fuzz [--seconds 60] [--target NAME]... [--no-cmin]
         needs nightly and cargo-fuzz: each target of fuzz/ in turn (card_number,
         signature_header, api_body, hosted_form) for N seconds with
         `cargo +nightly fuzz run`, then `cargo fuzz cmin`; prints execs and time per
         target. CI only replays the committed corpus (vinr-fuzz's corpus_replay test)
  schemathesis [--max-examples 50] [--seed 1]
         cargo build --release -p vinr-cli, then `vinr serve` on a fresh SQLite database
         and schemathesis (PyPI, installed into target/schemathesis-venv) against its
         /v1/openapi.json: no 5xx, no answer outside the document
  tidy   text checks the compiler does not make (crate docs, [lints], vinr-domain's
         dependencies, leftover macros, clock reads, docs/ARCHITECTURE.md); see xtask/src/tidy.rs
  help   this message
";

/// One cargo invocation of `cargo xtask ci`.
struct Step {
    /// Short name for headers and errors.
    name: &'static str,
    /// Arguments to cargo.
    args: &'static [&'static str],
    /// What to do when the step fails.
    hint: &'static str,
}

const FMT: Step = Step {
    name: "fmt",
    args: &["fmt", "--all", "--", "--check"],
    hint: "run `cargo fmt --all` and commit the result",
};

const CLIPPY: Step = Step {
    name: "clippy",
    args: &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ],
    hint: "fix the errors and warnings above",
};

const TEST: Step = Step {
    name: "test",
    args: &["test", "--workspace", "--all-features"],
    hint: "fix the failing tests above (tidy problems: `cargo xtask tidy`)",
};

/// The steps of `cargo xtask ci`, in order.
const CI_STEPS: &[Step] = &[FMT, CLIPPY, TEST];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}`: the message and its causes on one line, without anyhow's backtrace.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches on the command line.
fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["help" | "-h" | "--help"] => {
            std::io::stdout().write_all(USAGE.as_bytes())?;
            Ok(())
        }
        ["ci"] => {
            run_steps("ci", CI_STEPS)?;
            run_smoke()?;
            crash::run(&project_root(), &cargo(), &crash::Options::ci())
        }
        ["test"] => run_steps("test", &[TEST]),
        ["smoke"] => run_smoke(),
        ["tidy"] => run_tidy(),
        ["fuzz", options @ ..] => fuzz::run(&project_root(), &fuzz::Options::parse(options)?),
        ["schemathesis", options @ ..] => {
            let options = schemathesis::Options::parse(options)?;
            schemathesis::run(&project_root(), &cargo(), &options)
        }
        ["bench", options @ ..] => {
            let options = bench::Options::parse(options)?;
            bench::run(&project_root(), &cargo(), &options)
        }
        ["crash", options @ ..] => {
            let options = crash::Options::parse(options)?;
            crash::run(&project_root(), &cargo(), &options)
        }
        [command @ ("ci" | "test" | "smoke" | "tidy" | "help"), ..] => {
            bail!("`cargo xtask {command}` takes no arguments\n\n{USAGE}")
        }
        [command, ..] => bail!("unknown command `{command}`\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of xtask's own manifest directory.
/// The target directory cargo builds into: `CARGO_TARGET_DIR` (relative to the workspace root
/// when relative), else `target`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo build --release -p <package>` for each package in turn, announced as `task`, from
/// the workspace root; gives the release directory. One build per package, not one for all:
/// `-p vinr-cli` alone gives the `vinr` that `cargo xtask smoke` and users build (the same
/// features, so the same binary and no rebuild between the commands).
fn build_release(root: &Path, cargo: &str, task: &str, packages: &[&str]) -> Result<PathBuf> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    for package in packages {
        eprintln!("\n==> {task}: cargo build --release -p {package}");
        cmd!(sh, "{cargo} build --release -p {package}")
            .run()
            .with_context(|| format!("{task}: the release build of {package} failed"))?;
    }
    Ok(target_dir(root).join("release"))
}

fn project_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// The cargo that runs us (`$CARGO`, set by `cargo run`), so the steps use the same toolchain.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Runs `steps` from the workspace root, printing a header before each, stopping at the first
/// failure with an error naming the step.
fn run_steps(task: &str, steps: &[Step]) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let cargo = cargo();
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        let args = step.args;
        eprintln!(
            "\n==> {task} [{}/{total}] {}: cargo {}",
            index + 1,
            step.name,
            args.join(" ")
        );
        cmd!(sh, "{cargo} {args...}").run().with_context(|| {
            format!(
                "{task} failed at step {}/{total} `{}` (cargo {}): {}",
                index + 1,
                step.name,
                args.join(" "),
                step.hint
            )
        })?;
    }
    eprintln!("\n==> {task}: all {total} step(s) passed");
    Ok(())
}

/// The black-box acceptance checks of `../shared/acceptance` against a release `vinr`.
fn run_smoke() -> Result<()> {
    let root = project_root();
    let script = root.join("../shared/acceptance/smoke.py");
    if !script.exists() {
        bail!(
            "the acceptance script {} is missing (it lives in the shared folder beside the checkout)",
            script.display()
        );
    }
    build_release(&root, &cargo(), "smoke", &["vinr-cli"])?;
    let sh = Shell::new()?;
    sh.change_dir(&root);
    eprintln!(
        "\n==> smoke: python3 {} target/release/vinr",
        script.display()
    );
    cmd!(sh, "python3 {script} target/release/vinr")
        .run()
        .context("smoke: the acceptance script reported failures (see its FAIL lines above)")?;
    Ok(())
}

/// `cargo xtask tidy`: prints every problem, fails if there is any.
fn run_tidy() -> Result<()> {
    let problems = tidy::check(&project_root());
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    if !problems.is_empty() {
        bail!("tidy found {} problem(s)", problems.len());
    }
    eprintln!("tidy: ok");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command_line(step: &Step) -> String {
        format!("cargo {}", step.args.join(" "))
    }

    #[test]
    fn ci_runs_fmt_then_clippy_then_tests() {
        let lines: Vec<String> = CI_STEPS.iter().map(command_line).collect();
        assert_eq!(
            lines,
            [
                "cargo fmt --all -- --check",
                "cargo clippy --workspace --all-targets --all-features -- -D warnings",
                "cargo test --workspace --all-features",
            ]
        );
    }

    #[test]
    fn test_runs_the_workspace_tests() {
        assert_eq!(command_line(&TEST), "cargo test --workspace --all-features");
    }

    #[test]
    fn project_root_is_the_workspace() {
        let root = project_root();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("xtask").join("Cargo.toml").is_file());
        assert!(root.join("crates").is_dir());
    }
}
