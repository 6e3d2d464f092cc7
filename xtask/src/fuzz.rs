//! `cargo xtask fuzz [--seconds N] [--target NAME]... [--no-cmin]`: runs every cargo-fuzz
//! target of `fuzz/` in turn for N seconds (`cargo +nightly fuzz run <target> --
//! -max_total_time=N`), one process at a time, then minimizes its corpus (`cargo +nightly fuzz
//! cmin <target>`) so the committed `fuzz/corpus/` stays small, and prints the executions and
//! time of each target.
//!
//! The target bodies live in `crates/vinr-fuzz`; its `corpus_replay` test runs the committed
//! corpus on stable as part of `cargo test --workspace`, so CI needs neither nightly nor
//! cargo-fuzz. A crash leaves its input in `fuzz/artifacts/<target>/`: fix the bug and commit
//! that file, and the replay test keeps it fixed.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

/// The targets, in the order they run (the names of `fuzz/fuzz_targets/*.rs`).
pub(crate) const TARGETS: &[&str] = &["card_number", "signature_header", "api_body", "hosted_form"];

/// The committed corpus should stay under this many bytes in total.
const CORPUS_BUDGET: u64 = 1024 * 1024;

/// What `cargo xtask fuzz` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// Seconds of fuzzing per target.
    pub(crate) seconds: u64,
    /// The targets to run (all when none was named).
    pub(crate) targets: Vec<String>,
    /// Minimize each corpus after its run.
    pub(crate) cmin: bool,
}

impl Options {
    /// Parses the arguments after `fuzz`.
    pub(crate) fn parse(args: &[&str]) -> Result<Options> {
        let mut options = Options {
            seconds: 60,
            targets: Vec::new(),
            cmin: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (*arg, None),
            };
            let mut value = || {
                inline
                    .or_else(|| args.next().copied())
                    .with_context(|| format!("`{flag}` needs a value"))
            };
            match flag {
                "--seconds" => {
                    let text = value()?;
                    options.seconds =
                        text.parse().ok().filter(|s| *s > 0).with_context(|| {
                            format!("`--seconds {text}`: not a positive number")
                        })?;
                }
                "--target" => {
                    let name = value()?;
                    if !TARGETS.contains(&name) {
                        bail!(
                            "no fuzz target `{name}`; the targets: {}",
                            TARGETS.join(", ")
                        );
                    }
                    options.targets.push(name.to_owned());
                }
                "--no-cmin" => options.cmin = false,
                other => bail!("`cargo xtask fuzz` does not take `{other}`"),
            }
        }
        if options.targets.is_empty() {
            options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
        }
        Ok(options)
    }
}

/// What one target's run did.
#[derive(Debug, Clone, Default)]
struct Run {
    target: String,
    seconds: f64,
    execs: u64,
    crashed: bool,
    files: usize,
    bytes: u64,
}

/// Runs the targets of `options` from `root/fuzz`, then prints a table of the runs.
pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    check_tools(&fuzz_dir)?;
    let mut runs = Vec::new();
    for target in &options.targets {
        runs.push(fuzz_one(&fuzz_dir, target, options)?);
    }
    eprintln!("\n==> fuzz: {} s per target", options.seconds);
    eprintln!(
        "{:<18} {:>9} {:>12} {:>10} {:>7} {:>9}",
        "target", "seconds", "execs", "execs/s", "files", "bytes"
    );
    let mut total_bytes = 0;
    for run in &runs {
        total_bytes += run.bytes;
        eprintln!(
            "{:<18} {:>9.0} {:>12} {:>10.0} {:>7} {:>9}{}",
            run.target,
            run.seconds,
            run.execs,
            run.execs as f64 / run.seconds.max(1.0),
            run.files,
            run.bytes,
            if run.crashed { "  CRASH" } else { "" }
        );
    }
    let corpus_bytes = dir_size(&fuzz_dir.join("corpus")).0;
    eprintln!("corpus total: {corpus_bytes} bytes (these targets: {total_bytes})");
    if corpus_bytes > CORPUS_BUDGET {
        eprintln!("warning: the corpus is over {CORPUS_BUDGET} bytes; keep it small for git");
    }
    let crashed: Vec<&str> = runs
        .iter()
        .filter(|r| r.crashed)
        .map(|r| r.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "crash or broken invariant in {}: the inputs are in fuzz/artifacts/<target>/; fix \
             the bug, keep the input there (the replay test runs it) and commit both",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// Nightly and cargo-fuzz must be installed; say how otherwise.
fn check_tools(fuzz_dir: &Path) -> Result<()> {
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(fuzz_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        bail!(
            "`cargo +nightly fuzz` is not available: `rustup toolchain install nightly` and \
             `cargo install cargo-fuzz` (CI does not need them: it replays the corpus on stable)"
        );
    }
    Ok(())
}

/// Fuzzes `target` for the asked time, then minimizes its corpus.
fn fuzz_one(fuzz_dir: &Path, target: &str, options: &Options) -> Result<Run> {
    let corpus = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let max_time = format!("-max_total_time={}", options.seconds);
    eprintln!("\n==> fuzz {target}: cargo +nightly fuzz run {target} -- {max_time}");
    let started = Instant::now();
    let mut child = Command::new("cargo")
        .args(["+nightly", "fuzz", "run", target, "--"])
        .args([max_time.as_str(), "-print_final_stats=1", "-timeout=10"])
        .current_dir(fuzz_dir)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `cargo fuzz run {target}`"))?;
    let mut run = Run {
        target: target.to_owned(),
        ..Run::default()
    };
    let mut fuzzed = None;
    if let Some(stderr) = child.stderr.take() {
        let mut out = std::io::stderr().lock();
        for line in BufReader::new(stderr).lines() {
            let line = line.context("reading libFuzzer's output")?;
            if let Some(execs) = executed_units(&line) {
                run.execs = execs;
            }
            if let Some(seconds) = fuzzing_seconds(&line) {
                fuzzed = Some(seconds);
            }
            // libFuzzer reports every new input; keep the pulses, the summary and anything else.
            if !matches!(status_kind(&line), Some("NEW" | "REDUCE")) {
                writeln!(out, "{line}")?;
            }
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    // Without a `Done` line (a crash): the wall time, build included.
    run.seconds = fuzzed.unwrap_or_else(|| started.elapsed().as_secs_f64());
    run.crashed = !status.success();
    if options.cmin && !run.crashed {
        eprintln!("==> fuzz {target}: cargo +nightly fuzz cmin {target}");
        let status = Command::new("cargo")
            .args(["+nightly", "fuzz", "cmin", target])
            .current_dir(fuzz_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("cannot start `cargo fuzz cmin {target}`"))?;
        if !status.success() {
            bail!("`cargo fuzz cmin {target}` failed");
        }
    }
    (run.files, run.bytes) = {
        let (bytes, files) = dir_size(&corpus);
        (files, bytes)
    };
    Ok(run)
}

/// The kind of a libFuzzer status line (`#4096\tpulse  cov: …` is `pulse`), if it is one.
fn status_kind(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('#')?;
    let (count, rest) = rest.split_once(char::is_whitespace)?;
    count.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
    rest.split_whitespace().next()
}

/// The executions a libFuzzer line reports: `stat::number_of_executed_units: N` at the end,
/// or the `#N` that starts every status line (`#4096 pulse ...`, `#70000 DONE ...`).
fn executed_units(line: &str) -> Option<u64> {
    if let Some(rest) = line.strip_prefix("stat::number_of_executed_units:") {
        return rest.trim().parse().ok();
    }
    let kind = status_kind(line)?;
    let count = line.strip_prefix('#')?.split(char::is_whitespace).next()?;
    matches!(kind, "pulse" | "DONE" | "NEW" | "REDUCE" | "INITED")
        .then(|| count.parse().ok())
        .flatten()
}

/// The fuzzing time of libFuzzer's last line, `Done 70000 runs in 481 second(s)` (the build
/// before it not counted).
fn fuzzing_seconds(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("Done ")?;
    let (_, rest) = rest.split_once(" runs in ")?;
    rest.strip_suffix(" second(s)")?.trim().parse().ok()
}

/// Bytes and files directly or indirectly under `dir` (0 when it does not exist).
fn dir_size(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => {
                    bytes += meta.len();
                    files += 1;
                }
                Err(_) => {}
            }
        }
    }
    (bytes, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_targets() {
        let o = Options::parse(&["--seconds", "30", "--target=api_body", "--no-cmin"]).unwrap();
        assert_eq!(o.seconds, 30);
        assert_eq!(o.targets, ["api_body"]);
        assert!(!o.cmin);
        let all = Options::parse(&["--seconds=5"]).unwrap();
        assert_eq!(all.targets, TARGETS);
        assert!(Options::parse(&["--seconds", "0"]).is_err());
        assert!(Options::parse(&["--target", "nope"]).is_err());
        assert!(Options::parse(&["--seconds"]).is_err());
        assert!(Options::parse(&["--quick"]).is_err());
    }

    #[test]
    fn reads_libfuzzer_counts() {
        assert_eq!(
            executed_units("stat::number_of_executed_units: 1234"),
            Some(1234)
        );
        assert_eq!(
            executed_units("#70000\tDONE   cov: 1 ft: 2 corp: 3/4b exec/s: 5 rss: 6Mb"),
            Some(70000)
        );
        assert_eq!(executed_units("#4096\tpulse  cov: 1"), Some(4096));
        assert_eq!(executed_units("INFO: Seed: 1"), None);
        assert_eq!(status_kind("#12\tREDUCE cov: 5 ft: 9"), Some("REDUCE"));
        assert_eq!(status_kind("#12 NEW cov: 5"), Some("NEW"));
        assert_eq!(status_kind("#x NEW"), None);
        assert_eq!(
            fuzzing_seconds("Done 11102789 runs in 481 second(s)"),
            Some(481.0)
        );
        assert_eq!(fuzzing_seconds("Done"), None);
    }

    #[test]
    fn every_target_has_a_wrapper() {
        let root = crate::project_root();
        for target in TARGETS {
            let path = root.join("fuzz/fuzz_targets").join(format!("{target}.rs"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
}
