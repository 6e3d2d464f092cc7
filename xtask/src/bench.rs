//! `cargo xtask bench [--quick] [--scale] [--scale-max N]`: builds the release `vinr` and
//! `vinr-bench` (one `cargo build --release -p …` each), then runs `vinr-bench suite`, which starts the baseline and `vinr serve` (on a
//! fresh SQLite database, then on PostgreSQL when `VINR_TEST_POSTGRES_URL` is set), drives every
//! scenario and rewrites the generated part of `docs/benchmarks.md`.
//!
//! The measuring lives in `crates/vinr-bench` (tokio, hyper, hdrhistogram); xtask only builds and
//! runs it, so it keeps to xshell and anyhow.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use xshell::{Shell, cmd};

/// Where the report goes, relative to the workspace root.
const REPORT: &str = "docs/benchmarks.md";

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// 5 s per scenario instead of 20 s.
    pub(crate) quick: bool,
    /// Run the scale scenario (full mode only).
    pub(crate) scale: bool,
    /// The largest scale step (implies `scale`).
    pub(crate) scale_max: Option<u64>,
}

impl Options {
    /// Parses the arguments after `bench`.
    pub(crate) fn parse(args: &[&str]) -> Result<Options> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match *arg {
                "--quick" => options.quick = true,
                "--scale" => options.scale = true,
                "--scale-max" => {
                    let value = args
                        .next()
                        .context("`--scale-max` needs a customer count")?;
                    options.scale_max = Some(parse_count(value)?);
                }
                other => match other.strip_prefix("--scale-max=") {
                    Some(value) => options.scale_max = Some(parse_count(value)?),
                    None => bail!("`cargo xtask bench` does not take `{other}`"),
                },
            }
        }
        if options.scale_max.is_some() {
            options.scale = true;
        }
        if options.quick && options.scale {
            bail!(
                "the scale scenario runs in full mode only: drop `--quick` (loading 100 k customers takes minutes)"
            );
        }
        Ok(options)
    }

    /// The command line as the report names it.
    pub(crate) fn command_line(&self) -> String {
        let mut line = "cargo xtask bench".to_owned();
        if self.quick {
            line.push_str(" --quick");
        }
        match self.scale_max {
            Some(max) => line.push_str(&format!(" --scale --scale-max {max}")),
            None if self.scale => line.push_str(" --scale"),
            None => {}
        }
        line
    }

    /// The arguments of `vinr-bench`, given the release directory.
    pub(crate) fn suite_args(&self, release: &Path, root: &Path) -> Vec<String> {
        let mut args = vec![
            "suite".to_owned(),
            "--vinr".to_owned(),
            release.join("vinr").display().to_string(),
            "--out".to_owned(),
            root.join(REPORT).display().to_string(),
            "--criterion-dir".to_owned(),
            release
                .parent()
                .unwrap_or(release)
                .join("criterion")
                .display()
                .to_string(),
            "--command".to_owned(),
            self.command_line(),
        ];
        if self.quick {
            args.push("--quick".to_owned());
        }
        if self.scale {
            args.push("--scale".to_owned());
        }
        if let Some(max) = self.scale_max {
            args.push("--scale-max".to_owned());
            args.push(max.to_string());
        }
        args
    }
}

fn parse_count(text: &str) -> Result<u64> {
    let count: u64 = text
        .replace('_', "")
        .parse()
        .with_context(|| format!("`--scale-max {text}`: not a customer count"))?;
    if count == 0 {
        bail!("`--scale-max` must be at least 1");
    }
    Ok(count)
}

/// Builds the release binaries and runs the suite from the workspace root.
pub(crate) fn run(root: &Path, cargo: &str, options: &Options) -> Result<()> {
    let release = crate::build_release(root, cargo, "bench", &["vinr-cli", "vinr-bench"])?;
    let sh = Shell::new()?;
    sh.change_dir(root);
    let bench = release.join("vinr-bench");
    let args = options.suite_args(&release, root);
    eprintln!("\n==> bench: {} {}", bench.display(), args.join(" "));
    if std::env::var_os("VINR_TEST_POSTGRES_URL").is_none() {
        eprintln!("==> bench: VINR_TEST_POSTGRES_URL is not set: SQLite only");
    }
    cmd!(sh, "{bench} {args...}")
        .run()
        .context("bench: vinr-bench failed (its error is above)")?;
    eprintln!("\n==> bench: wrote {REPORT}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_modes() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        assert_eq!(
            Options::parse(&["--quick"]).unwrap(),
            Options {
                quick: true,
                ..Options::default()
            }
        );
        assert_eq!(
            Options::parse(&["--scale-max", "1_000_000"]).unwrap(),
            Options {
                quick: false,
                scale: true,
                scale_max: Some(1_000_000)
            }
        );
        assert_eq!(
            Options::parse(&["--scale", "--scale-max=50000"]).unwrap(),
            Options {
                quick: false,
                scale: true,
                scale_max: Some(50_000)
            }
        );
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for bad in [
            &["--quick", "--scale"][..],
            &["--quick", "--scale-max", "1000000"],
            &["--scale-max"],
            &["--scale-max", "lots"],
            &["--scale-max", "0"],
            &["--fast"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn runs_the_suite_with_the_release_binaries() {
        let options = Options::parse(&["--scale", "--scale-max", "1000000"]).unwrap();
        let args = options.suite_args(Path::new("/w/target/release"), Path::new("/w"));
        assert_eq!(
            args.join(" "),
            "suite --vinr /w/target/release/vinr --out /w/docs/benchmarks.md \
             --criterion-dir /w/target/criterion \
             --command cargo xtask bench --scale --scale-max 1000000 \
             --scale --scale-max 1000000"
        );
        let quick = Options::parse(&["--quick"]).unwrap();
        assert_eq!(quick.command_line(), "cargo xtask bench --quick");
        assert!(
            quick
                .suite_args(Path::new("/w/target/release"), Path::new("/w"))
                .ends_with(&["cargo xtask bench --quick".to_owned(), "--quick".to_owned()])
        );
    }
}
