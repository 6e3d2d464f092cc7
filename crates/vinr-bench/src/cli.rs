//! The command line: `baseline`, `load`, `scale`, `suite` and `crash`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `vinr-bench`: drive a `vinr serve` (or the bare axum baseline) over loopback and measure it.
#[derive(Debug, Parser)]
#[command(name = "vinr-bench", version, about)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the baseline: a minimal axum JSON endpoint, `GET /v1/customers/x`.
    /// Prints `listening on http://ADDR` once bound.
    Baseline {
        /// Where to listen (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Drive one scenario for a fixed time and print one JSON line of figures.
    Load(LoadArgs),
    /// Load customers (each with a card) up to each size and measure retrieve and
    /// list-by-email latency at each; one JSON line per size.
    Scale(ScaleArgs),
    /// The whole benchmark (what `cargo xtask bench` runs): the baseline, then every scenario
    /// against `vinr serve` on a fresh SQLite database (and PostgreSQL when a URL is given),
    /// then writes the report.
    Suite(SuiteArgs),
    /// The crash-safety test (what `cargo xtask crash` runs): rounds of N off-session
    /// payments against `vinr serve`, SIGKILLed at a random moment and restarted, every key
    /// retried, every property checked; on SQLite, then PostgreSQL when a URL is given.
    Crash(CrashArgs),
}

/// `vinr-bench crash`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CrashArgs {
    /// The release `vinr` binary to serve with.
    #[arg(long, value_name = "PATH")]
    pub(crate) vinr: PathBuf,

    /// Rounds per store, each with its own kill point.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,

    /// Payments per round (distinct idempotency keys).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) payments: u32,

    /// Connections firing the payments.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) connections: u32,

    /// The seed of the kill points (printed; default: random).
    #[arg(long)]
    pub(crate) seed: Option<u64>,

    /// A PostgreSQL server to run the rounds on too: a fresh database per round is created on
    /// it with `psql` and dropped afterwards.
    #[arg(
        long,
        env = "VINR_TEST_POSTGRES_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) postgres_url: Option<String>,

    /// SQLite rounds only, even when a PostgreSQL URL is given.
    #[arg(long)]
    pub(crate) sqlite_only: bool,

    /// Fail, rather than skip PostgreSQL, when no PostgreSQL URL is given (CI).
    #[arg(long, conflicts_with = "sqlite_only")]
    pub(crate) require_postgres: bool,
}

/// The server to drive and how hard.
#[derive(Debug, Clone, Args)]
pub(crate) struct TargetArgs {
    /// The server's base URL, `http://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub(crate) base: String,

    /// The secret API key sent as `Authorization: Bearer …` (the baseline ignores it).
    #[arg(
        long,
        env = "VINR_SECRET_KEY",
        hide_env_values = true,
        default_value = "",
        hide_default_value = true,
        value_name = "KEY"
    )]
    pub(crate) key: String,

    /// Keep-alive connections, each a task issuing requests back to back.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) connections: u32,

    /// Sample this process's peak RSS and CPU time (`/proc/PID`) around the timed window.
    #[arg(long, value_name = "PID")]
    pub(crate) server_pid: Option<u32>,
}

/// `vinr-bench load`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LoadArgs {
    /// The server and the connections.
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// What to send.
    #[arg(long, value_enum)]
    pub(crate) scenario: ScenarioName,

    /// Seconds in the timed window.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub(crate) duration: f64,

    /// Seconds of load before the timed window (not recorded).
    #[arg(long, default_value_t = 0.0, value_parser = seconds)]
    pub(crate) warmup: f64,
}

/// `vinr-bench scale`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ScaleArgs {
    /// The server and the connections.
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Customer counts to reach, comma-separated, ascending (each step loads the difference).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000", value_parser = customer_count)]
    pub(crate) sizes: Vec<u64>,

    /// Seconds of each measurement (retrieve, then list by email) at each size.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub(crate) duration: f64,
}

/// `vinr-bench suite`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SuiteArgs {
    /// The release `vinr` binary to serve with.
    #[arg(long, value_name = "PATH")]
    pub(crate) vinr: PathBuf,

    /// Where to write the report (only the part between the load markers is replaced).
    #[arg(long, default_value = "docs/benchmarks.md", value_name = "PATH")]
    pub(crate) out: PathBuf,

    /// 5 s per scenario instead of 20 s; no scale scenario.
    #[arg(long)]
    pub(crate) quick: bool,

    /// Seconds per scenario (overrides the mode's default).
    #[arg(long, value_parser = positive_seconds)]
    pub(crate) duration: Option<f64>,

    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) connections: u32,

    /// Also run the scale scenario (10 k and 100 k customers; full mode only), on SQLite: the
    /// embedded default whose memory bound the scenario checks. PostgreSQL runs it only with
    /// `--scale-postgres` (loading a million customers through the API takes long there).
    #[arg(long, conflicts_with = "quick")]
    pub(crate) scale: bool,

    /// Run the scale scenario on PostgreSQL as well.
    #[arg(long, conflicts_with = "quick")]
    pub(crate) scale_postgres: bool,

    /// The largest scale step, e.g. 1000000 (implies `--scale`).
    #[arg(long, value_parser = customer_count, conflicts_with = "quick", value_name = "N")]
    pub(crate) scale_max: Option<u64>,

    /// A PostgreSQL server to benchmark on too: a fresh database is created on it with `psql`
    /// and dropped afterwards.
    #[arg(
        long,
        env = "VINR_TEST_POSTGRES_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) postgres_url: Option<String>,

    /// Criterion's output directory, read for the `verify` bar (left out when absent).
    #[arg(long, default_value = "target/criterion", value_name = "PATH")]
    pub(crate) criterion_dir: PathBuf,

    /// The command line to name in the report.
    #[arg(long, default_value = "cargo xtask bench", value_name = "TEXT")]
    pub(crate) command: String,
}

impl SuiteArgs {
    /// Seconds per scenario.
    pub(crate) fn scenario_seconds(&self) -> f64 {
        self.duration.unwrap_or(if self.quick {
            QUICK_SECONDS
        } else {
            FULL_SECONDS
        })
    }

    /// Warm-up seconds before each timed window.
    pub(crate) fn warmup_seconds(&self) -> f64 {
        if self.quick { 1.0 } else { 2.0 }
    }

    /// The scale steps to run (empty when the scale scenario is off).
    pub(crate) fn scale_sizes(&self) -> Vec<u64> {
        if self.quick || !(self.scale || self.scale_max.is_some()) {
            return Vec::new();
        }
        let max = self.scale_max.unwrap_or(100_000);
        let mut sizes: Vec<u64> = [10_000, 100_000, 1_000_000]
            .into_iter()
            .filter(|s| *s <= max)
            .collect();
        if sizes.last() != Some(&max) {
            sizes.push(max);
        }
        sizes
    }
}

/// Seconds per scenario under `--quick`.
pub(crate) const QUICK_SECONDS: f64 = 5.0;
/// Seconds per scenario in a full run.
pub(crate) const FULL_SECONDS: f64 = 20.0;

/// The scenarios of issue 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum ScenarioName {
    /// `GET /v1/customers/x` on the baseline server.
    Baseline,
    /// `POST /v1/customers`.
    CreateCustomer,
    /// `GET /v1/customers/{id}` of a customer made in setup.
    RetrieveCustomer,
    /// `GET /v1/customers/{id}/methods` of a customer with a card.
    ListMethods,
    /// `POST /v1/payments` off-session on an attached 4242, a fresh `Idempotency-Key` each.
    OffsessionPayment,
    /// 70 % reads (retrieve, list methods), 30 % writes (create customer, payment).
    Mix,
}

impl ScenarioName {
    /// Every scenario run against `vinr serve`, in the report's order.
    pub(crate) const SERVER: [ScenarioName; 5] = [
        ScenarioName::CreateCustomer,
        ScenarioName::RetrieveCustomer,
        ScenarioName::ListMethods,
        ScenarioName::OffsessionPayment,
        ScenarioName::Mix,
    ];

    /// The name on the command line and in the JSON lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Baseline => "baseline",
            ScenarioName::CreateCustomer => "create_customer",
            ScenarioName::RetrieveCustomer => "retrieve_customer",
            ScenarioName::ListMethods => "list_methods",
            ScenarioName::OffsessionPayment => "offsession_payment",
            ScenarioName::Mix => "mix",
        }
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !value.is_finite() || !(0.0..=86_400.0).contains(&value) {
        return Err(format!("`{text}`: seconds must be between 0 and 86400"));
    }
    Ok(value)
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    let value = seconds(text)?;
    if value < 0.1 {
        return Err(format!("`{text}`: at least 0.1 s"));
    }
    Ok(value)
}

fn customer_count(text: &str) -> Result<u64, String> {
    let value: u64 = text
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a count"))?;
    if !(1..=10_000_000).contains(&value) {
        return Err(format!("`{text}`: between 1 and 10000000"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut argv = vec!["vinr-bench"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|cli| cli.command)
    }

    fn suite(args: &[&str]) -> SuiteArgs {
        let mut argv = vec!["suite", "--vinr", "target/release/vinr"];
        argv.extend_from_slice(args);
        match parse(&argv) {
            Ok(Command::Suite(args)) => args,
            other => panic!("not a suite: {other:?}"),
        }
    }

    #[test]
    fn load_takes_the_issue_s_flags() {
        let command = parse(&[
            "load",
            "--base",
            "http://127.0.0.1:4242",
            "--key",
            "sk_test_0123456789abcdef",
            "--scenario",
            "offsession_payment",
            "--duration",
            "5",
            "--connections",
            "64",
        ])
        .unwrap();
        let Command::Load(load) = command else {
            panic!("not a load: {command:?}");
        };
        assert_eq!(load.target.base, "http://127.0.0.1:4242");
        assert_eq!(load.target.key, "sk_test_0123456789abcdef");
        assert_eq!(load.target.connections, 64);
        assert_eq!(load.target.server_pid, None);
        assert_eq!(load.scenario, ScenarioName::OffsessionPayment);
        assert!((load.duration - 5.0).abs() < f64::EPSILON);
        assert!(load.warmup.abs() < f64::EPSILON);
    }

    #[test]
    fn every_scenario_name_parses_to_itself() {
        for name in ScenarioName::value_variants() {
            let parsed = ScenarioName::from_str(name.as_str(), false).unwrap();
            assert_eq!(parsed, *name);
        }
        assert!(ScenarioName::from_str("create-customer", false).is_err());
    }

    #[test]
    fn load_defaults_to_64_connections_and_refuses_nonsense() {
        let Command::Load(load) =
            parse(&["load", "--base", "http://h:1", "--scenario", "mix"]).unwrap()
        else {
            panic!("not a load");
        };
        assert_eq!(load.target.connections, 64);
        for bad in [
            &["load", "--base", "http://h:1", "--scenario", "nope"][..],
            &[
                "load",
                "--base",
                "http://h:1",
                "--scenario",
                "mix",
                "--duration",
                "0",
            ],
            &[
                "load",
                "--base",
                "http://h:1",
                "--scenario",
                "mix",
                "--duration",
                "-1",
            ],
            &[
                "load",
                "--base",
                "http://h:1",
                "--scenario",
                "mix",
                "--connections",
                "0",
            ],
            &["load", "--scenario", "mix"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn crash_defaults_to_5_rounds_of_2000_payments_from_32_connections() {
        let Command::Crash(crash) = parse(&["crash", "--vinr", "v"]).unwrap() else {
            panic!("not a crash");
        };
        assert_eq!(
            (crash.rounds, crash.payments, crash.connections),
            (5, 2000, 32)
        );
        assert_eq!(crash.seed, None);
        assert!(!crash.sqlite_only && !crash.require_postgres);
        let Command::Crash(crash) = parse(&[
            "crash",
            "--vinr",
            "v",
            "--rounds",
            "1",
            "--payments",
            "500",
            "--seed",
            "7",
            "--sqlite-only",
        ])
        .unwrap() else {
            panic!("not a crash");
        };
        assert_eq!(
            (crash.rounds, crash.payments, crash.seed),
            (1, 500, Some(7))
        );
        assert!(crash.sqlite_only);
        for bad in [
            &["crash", "--vinr", "v", "--rounds", "0"][..],
            &["crash", "--vinr", "v", "--payments", "0"],
            &[
                "crash",
                "--vinr",
                "v",
                "--sqlite-only",
                "--require-postgres",
            ],
            &["crash"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn baseline_listens_where_told() {
        let Command::Baseline { listen } = parse(&["baseline", "--listen", "127.0.0.1:0"]).unwrap()
        else {
            panic!("not a baseline");
        };
        assert_eq!(listen.to_string(), "127.0.0.1:0");
    }

    #[test]
    fn scale_sizes_parse_as_a_list() {
        let Command::Scale(scale) = parse(&[
            "scale",
            "--base",
            "http://h:1",
            "--sizes",
            "10_000,100000,1000000",
        ])
        .unwrap() else {
            panic!("not a scale");
        };
        assert_eq!(scale.sizes, [10_000, 100_000, 1_000_000]);
    }

    #[test]
    fn quick_runs_5_s_per_scenario_and_no_scale() {
        let quick = suite(&["--quick"]);
        assert!((quick.scenario_seconds() - 5.0).abs() < f64::EPSILON);
        assert!(quick.scale_sizes().is_empty());
        let full = suite(&[]);
        assert!((full.scenario_seconds() - 20.0).abs() < f64::EPSILON);
        assert!(full.scale_sizes().is_empty());
        assert!(parse(&["suite", "--vinr", "v", "--quick", "--scale"]).is_err());
    }

    #[test]
    fn scale_goes_to_100k_unless_told_further() {
        assert_eq!(suite(&["--scale"]).scale_sizes(), [10_000, 100_000]);
        assert_eq!(
            suite(&["--scale", "--scale-max", "1000000"]).scale_sizes(),
            [10_000, 100_000, 1_000_000]
        );
        assert_eq!(
            suite(&["--scale-max", "50000"]).scale_sizes(),
            [10_000, 50_000]
        );
        assert!((suite(&["--duration", "2"]).scenario_seconds() - 2.0).abs() < f64::EPSILON);
    }
}
