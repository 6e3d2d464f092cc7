//! `cargo xtask crash [--rounds 5] [--payments 2000] [--seed S] [--sqlite-only]`: the
//! crash-safety test of issue 7. Builds the release `vinr` and `vinr-bench` (one
//! `cargo build --release -p …` each, as `cargo xtask bench` does), then runs
//! `vinr-bench crash`, which kills `vinr serve` with `SIGKILL` under load, restarts it and checks
//! every property (see `crates/vinr-bench/src/crash.rs`): rounds on SQLite, then on PostgreSQL
//! when `VINR_TEST_POSTGRES_URL` is set. Under `CI=true` a missing PostgreSQL URL fails the run
//! instead of skipping PostgreSQL.
//!
//! `cargo xtask ci` ends with a short round ([`Options::ci`]: one round per store).

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use xshell::{Shell, cmd};

/// What `cargo xtask crash` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// Rounds per store.
    pub(crate) rounds: u32,
    /// Payments per round.
    pub(crate) payments: u32,
    /// The seed of the kill points (random when absent; always printed).
    pub(crate) seed: Option<u64>,
    /// No PostgreSQL rounds.
    pub(crate) sqlite_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rounds: 5,
            payments: 2000,
            seed: None,
            sqlite_only: false,
        }
    }
}

impl Options {
    /// The short round of `cargo xtask ci`: one round per store, N = 2000.
    pub(crate) fn ci() -> Options {
        Options {
            rounds: 1,
            ..Options::default()
        }
    }

    /// Parses the arguments after `crash`.
    pub(crate) fn parse(args: &[&str]) -> Result<Options> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (*arg, None),
            };
            if name == "--sqlite-only" && inline.is_none() {
                options.sqlite_only = true;
                continue;
            }
            if !matches!(name, "--rounds" | "--payments" | "--seed") {
                bail!("`cargo xtask crash` does not take `{arg}`");
            }
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .with_context(|| format!("`{name}` needs a number"))?,
            };
            let number = |max: u64| -> Result<u64> {
                let n: u64 = value
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("`{name} {value}`: not a number"))?;
                if !(1..=max).contains(&n) && name != "--seed" {
                    bail!("`{name} {value}`: must be from 1 to {max}");
                }
                Ok(n)
            };
            match name {
                "--rounds" => options.rounds = u32::try_from(number(100)?)?,
                "--payments" => options.payments = u32::try_from(number(1_000_000)?)?,
                _ => options.seed = Some(number(u64::MAX)?),
            }
        }
        Ok(options)
    }

    /// The arguments of `vinr-bench`, given the release directory and whether PostgreSQL is
    /// required (CI).
    pub(crate) fn crash_args(&self, release: &Path, require_postgres: bool) -> Vec<String> {
        let mut args = vec![
            "crash".to_owned(),
            "--vinr".to_owned(),
            release.join("vinr").display().to_string(),
            "--rounds".to_owned(),
            self.rounds.to_string(),
            "--payments".to_owned(),
            self.payments.to_string(),
        ];
        if let Some(seed) = self.seed {
            args.push("--seed".to_owned());
            args.push(seed.to_string());
        }
        if self.sqlite_only {
            args.push("--sqlite-only".to_owned());
        } else if require_postgres {
            args.push("--require-postgres".to_owned());
        }
        args
    }
}

/// Whether this runs under CI (`CI=true`), where PostgreSQL must not be skipped.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Builds the release binaries and runs the rounds from the workspace root.
pub(crate) fn run(root: &Path, cargo: &str, options: &Options) -> Result<()> {
    let release = crate::build_release(root, cargo, "crash", &["vinr-cli", "vinr-bench"])?;
    let sh = Shell::new()?;
    sh.change_dir(root);
    let bench = release.join("vinr-bench");
    let require_postgres = under_ci();
    let args = options.crash_args(&release, require_postgres);
    eprintln!("\n==> crash: {} {}", bench.display(), args.join(" "));
    cmd!(sh, "{bench} {args...}")
        .run()
        .context("crash: a crash round failed or broke a property (see above)")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_options() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        assert_eq!(
            Options::parse(&[
                "--rounds",
                "2",
                "--payments=500",
                "--seed",
                "42",
                "--sqlite-only"
            ])
            .unwrap(),
            Options {
                rounds: 2,
                payments: 500,
                seed: Some(42),
                sqlite_only: true
            }
        );
        assert_eq!(
            Options::parse(&["--seed=0"]).unwrap().seed,
            Some(0),
            "any seed goes"
        );
        for bad in [
            &["--rounds"][..],
            &["--rounds", "0"],
            &["--rounds", "many"],
            &["--payments", "0"],
            &["--sqlite-only=yes"],
            &["--fast"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn runs_vinr_bench_crash_with_the_release_binary() {
        let release = Path::new("/w/target/release");
        assert_eq!(
            Options::default().crash_args(release, false).join(" "),
            "crash --vinr /w/target/release/vinr --rounds 5 --payments 2000"
        );
        assert_eq!(
            Options::ci().crash_args(release, true).join(" "),
            "crash --vinr /w/target/release/vinr --rounds 1 --payments 2000 --require-postgres"
        );
        let options = Options::parse(&["--sqlite-only", "--seed", "9"]).unwrap();
        assert_eq!(
            options.crash_args(release, true).join(" "),
            "crash --vinr /w/target/release/vinr --rounds 5 --payments 2000 --seed 9 --sqlite-only"
        );
    }
}
