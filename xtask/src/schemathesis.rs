//! `cargo xtask schemathesis [--max-examples N] [--seed N]`: checks the served API against its
//! own OpenAPI document with [schemathesis](https://schemathesis.readthedocs.io).
//!
//! Builds the release `vinr`, starts `vinr serve` on a fresh SQLite database in a temporary
//! directory under `target/` with a known test key, installs schemathesis ([`VERSION`], from
//! PyPI) into `target/schemathesis-venv` if it is not there, and runs
//! `st run http://127.0.0.1:<port>/v1/openapi.json` with the key, [`CHECKS`], and a fixed
//! seed. Any failure fails the command; the server is stopped and the directory removed either
//! way.
//!
//! What schemathesis is not asked to check, and why, is in [`EXCLUDED_CHECKS`].

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// The schemathesis release the check was written against (its CLI changed in 4.0).
pub(crate) const VERSION: &str = "4.32.5";

/// The test key `vinr serve` is started with (`VINR_SECRET_KEY`); it exists only in the
/// temporary database.
const KEY: &str = "sk_test_schemathesis00000000000000000000";

/// Every check schemathesis has, except [`EXCLUDED_CHECKS`].
pub(crate) const CHECKS: &str = "all";

/// The checks left out, because api.md answers these requests as it does on purpose:
///
/// - `positive_data_acceptance` (ST202, "a schema-valid request was rejected"): api.md refuses
///   schema-valid requests by rules a JSON schema does not carry. schemathesis draws
///   `Idempotency-Key` values from the header's schema and reuses them across different
///   bodies: `422 idempotency_key_reused`, as §1 requires. A card number must pass Luhn
///   (`402 incorrect_number`), be a sandbox test card (`400 not_a_test_card`) and not be
///   expired (`402 expired_card`); a `returnUrl` or endpoint `url` must be an absolute http(s)
///   URL with a host (`400 invalid_url`), a currency one the server supports
///   (`400 currency_invalid`), text free of control characters (`400 parameter_invalid`).
///   The syntactic rules a schema can say (expiry month and year ranges, the country code's
///   shape, the rotation overlap's bounds) are in the document.
/// - `ensure_resource_availability` (ST302, "created resource not found"): after
///   `POST /v1/customers` it sends `PATCH /v1/customers/{id}` with a random
///   `defaultMethodId`, and api.md §5 answers an unknown id anywhere in a body with
///   `404 resource_missing` and `param` naming the field (here `defaultMethodId`), which
///   schemathesis reads as the customer itself missing.
///
/// Every other check runs, `ignored_auth`, `negative_data_rejection` and `use_after_free`
/// included.
pub(crate) const EXCLUDED_CHECKS: &str = "positive_data_acceptance,ensure_resource_availability";

/// What `cargo xtask schemathesis` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// Test cases per operation and phase.
    pub(crate) max_examples: u32,
    /// The seed of schemathesis's generator.
    pub(crate) seed: u64,
}

impl Options {
    /// Parses the arguments after `schemathesis`.
    pub(crate) fn parse(args: &[&str]) -> Result<Options> {
        let mut options = Options {
            max_examples: 50,
            seed: 1,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (*arg, None),
            };
            let value = inline
                .or_else(|| args.next().copied())
                .with_context(|| format!("`{flag}` needs a value"))?;
            match flag {
                "--max-examples" => {
                    options.max_examples = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .with_context(|| format!("`--max-examples {value}`: not a count"))?;
                }
                "--seed" => {
                    options.seed = value
                        .parse()
                        .with_context(|| format!("`--seed {value}`: not a number"))?;
                }
                other => bail!("`cargo xtask schemathesis` does not take `{other}`"),
            }
        }
        Ok(options)
    }

    /// The arguments of `st` against the document at `url`.
    pub(crate) fn st_args(&self, url: &str) -> Vec<String> {
        vec![
            "run".to_owned(),
            url.to_owned(),
            "--header".to_owned(),
            format!("Authorization: Bearer {KEY}"),
            "--checks".to_owned(),
            CHECKS.to_owned(),
            "--exclude-checks".to_owned(),
            EXCLUDED_CHECKS.to_owned(),
            "--max-examples".to_owned(),
            self.max_examples.to_string(),
            "--seed".to_owned(),
            self.seed.to_string(),
            "--workers".to_owned(),
            "1".to_owned(),
            "--suppress-health-check".to_owned(),
            "too_slow,filter_too_much".to_owned(),
            "--request-timeout".to_owned(),
            "10".to_owned(),
        ]
    }
}

/// A `vinr serve` that is killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds, starts, checks, stops.
pub(crate) fn run(root: &Path, cargo: &str, options: &Options) -> Result<()> {
    let st = ensure_schemathesis(root)?;
    let vinr = crate::build_release(root, cargo, "schemathesis", &["vinr-cli"])?.join("vinr");
    let dir = crate::target_dir(root).join(format!("schemathesis-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run_against_server(&vinr, &st, &dir, options);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_against_server(vinr: &Path, st: &Path, dir: &Path, options: &Options) -> Result<()> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("server.log")).context("cannot create the log")?;
    eprintln!(
        "==> schemathesis: vinr serve on {base} (database {})",
        dir.display()
    );
    let child = Command::new(vinr)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.join("vinr.db").display()),
        ])
        .args(["--public-url", &base])
        .env("VINR_SECRET_KEY", KEY)
        .env("VINR_WEBHOOK_RETRY", "1s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", vinr.display()))?;
    let mut server = Server(child);
    wait_healthy(port, &mut server)?;
    let url = format!("{base}/v1/openapi.json");
    let args = options.st_args(&url);
    eprintln!("==> schemathesis: st {}", shown(&args));
    let status = Command::new(st)
        .args(&args)
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", "")
        .status()
        .context("cannot start st")?;
    drop(server);
    if !status.success() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        for line in tail.iter().rev() {
            eprintln!("server: {line}");
        }
        bail!("schemathesis found failures (see above)");
    }
    eprintln!("==> schemathesis: no failures");
    Ok(())
}

/// The command line as printed, with the key elided.
fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(KEY) {
                "'Authorization: Bearer sk_test_…'".to_owned()
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `target/schemathesis-venv/bin/st`, installing schemathesis [`VERSION`] there first when it
/// is missing or another version.
fn ensure_schemathesis(root: &Path) -> Result<PathBuf> {
    let venv = crate::target_dir(root).join("schemathesis-venv");
    let st = venv.join("bin").join("st");
    let installed = Command::new(&st)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if installed.is_some_and(|v| v.contains(VERSION)) {
        return Ok(st);
    }
    eprintln!(
        "==> schemathesis: installing schemathesis=={VERSION} into {}",
        venv.display()
    );
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot run python3 -m venv")?;
    if !status.success() {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let status = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", &format!("schemathesis=={VERSION}")])
        .status()
        .context("cannot run pip")?;
    if !status.success() {
        bail!("pip install schemathesis=={VERSION} failed");
    }
    Ok(st)
}

/// A port free right now on the loopback.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `GET /healthz` answers 200, the server exits, or 30 s pass.
fn wait_healthy(port: u16, server: &mut Server) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = server.0.try_wait()? {
            bail!("vinr serve exited during start-up ({status}); see its log");
        }
        if healthz(port).unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("vinr serve did not answer /healthz within 30 s")
}

/// One plain HTTP/1.0 `GET /healthz`.
fn healthz(port: u16) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let o = Options::parse(&["--max-examples", "10", "--seed=7"]).unwrap();
        assert_eq!((o.max_examples, o.seed), (10, 7));
        assert!(Options::parse(&["--max-examples", "0"]).is_err());
        assert!(Options::parse(&["--fast"]).is_err());
    }

    #[test]
    fn st_gets_the_key_the_checks_and_the_seed() {
        let args = Options::parse(&[])
            .unwrap()
            .st_args("http://x/v1/openapi.json");
        let line = args.join(" ");
        assert!(line.starts_with("run http://x/v1/openapi.json --header Authorization: Bearer"));
        assert!(line.contains("--checks all --exclude-checks positive_data_acceptance"));
        assert!(line.contains("--seed 1"));
        assert!(!shown(&args).contains(KEY));
    }
}
