//! `vinr-bench crash`: the crash-safety test of issue 7, run by `cargo xtask crash` (5 rounds per
//! store) and by `cargo xtask ci` (1 round per store).
//!
//! A round, on a fresh database (a SQLite file in a scratch directory, or a fresh PostgreSQL
//! database created with `psql` and dropped afterwards):
//!
//! 1. start a webhook receiver (in this process) and `vinr serve` with the test hooks
//!    `VINR_SANDBOX_NETWORK_JOURNAL` (the sandbox network remembers across the kill, as a real
//!    one would) and `VINR_TEST_RECOVERY_SECONDS` (the recovery sweep finishes stuck payments
//!    within seconds), and a short webhook retry schedule;
//! 2. register a webhook endpoint for every event, make the customers, each with a test card
//!    (most succeed off-session, some are declined, some need the buyer);
//! 3. fire N off-session payments with distinct `Idempotency-Key`s from the connections, and
//!    `SIGKILL` the server when a seeded random number of answers (10 % to 90 % of N) has come
//!    back, recording every answer received;
//! 4. restart the server on the same database and journal, and send every key again with the
//!    same body until it answers something other than 409 (`idempotency_key_in_use`: still in
//!    flight, until the recovery sweep finishes it);
//! 5. read the payments, the customers' payment lists and the events; wait until every event
//!    reached the receiver; stop the server; read the charges from the network's journal;
//! 6. check the properties of [`check`] and print the figures.
//!
//! Any broken property fails the run (after every round ran), each reported precisely.

mod check;
mod drive;
mod hook;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;
use tokio::sync::Notify;
use tokio::time::Instant;
use vinr_sandbox::SandboxNetwork;

use crate::cli::CrashArgs;
use crate::client::Target;
use crate::scenario::run_nonce;
use crate::suite::{BENCH_VAULT_KEY, Scratch, Server, log_tail, psql, with_database};

use check::{KeyRecord, Observed, Verdict};
use hook::Receiver;

/// The recovery sweep's period and age in the rounds (`VINR_TEST_RECOVERY_SECONDS`).
const RECOVERY_SECONDS: u64 = 2;

/// The webhook retry schedule of the rounds.
const WEBHOOK_RETRY: &str = "1s,2s,5s,10s,30s,1m";

/// How long the retries after the restart may take in all.
const RETRY_DEADLINE: Duration = Duration::from_secs(120);

/// How long the webhooks may take to arrive after the restart (a delivery claimed before the
/// kill is leased for 30 s before it can be claimed again).
const WEBHOOK_DEADLINE: Duration = Duration::from_secs(120);

/// Violations printed per round (all are counted).
const SHOWN: usize = 25;

/// A store a round runs on.
#[derive(Debug, Clone)]
enum Store {
    Sqlite,
    Postgres { admin_url: String },
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres { .. } => "postgres",
        }
    }
}

/// What one round measured and found.
#[derive(Debug, Clone)]
struct RoundReport {
    store: &'static str,
    round: u32,
    seed: u64,
    kill_at: usize,
    verdict: Verdict,
    in_flight_keys: usize,
    conflicts: u64,
    restart_to_answered: Duration,
    restart_to_delivered: Duration,
}

impl RoundReport {
    fn line(&self) -> String {
        let f = &self.verdict.figures;
        format!(
            "{} round {} (seed {}): N={}, kill after {} answers ({:.0} %), acknowledged before kill {}, \
             {}; keys in flight at restart {} ({} answers 409), all keys answered {:.1} s and \
             all events delivered {:.1} s after the restart; violations {}",
            self.store,
            self.round,
            self.seed,
            f.keys,
            self.kill_at,
            100.0 * self.kill_at as f64 / f.keys.max(1) as f64,
            f.acknowledged,
            f,
            self.in_flight_keys,
            self.conflicts,
            self.restart_to_answered.as_secs_f64(),
            self.restart_to_delivered.as_secs_f64(),
            self.verdict.violations.len()
        )
    }
}

/// SplitMix64: the round seeds and kill points from the run's seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of round `round` (from 1) on the store numbered `store`.
fn round_seed(seed: u64, store: u64, round: u32) -> u64 {
    mix(seed ^ mix(store.wrapping_mul(1_000_003) ^ u64::from(round)))
}

/// After how many answers a round of `n` payments kills the server: between 10 % and 90 % of
/// `n` (at least 1), from the round's seed.
fn kill_point(seed: u64, n: usize) -> usize {
    let low = (n / 10).max(1);
    let high = (n * 9 / 10).max(low);
    let span = u64::try_from(high - low + 1).unwrap_or(1);
    low + usize::try_from(mix(seed) % span).unwrap_or(0)
}

/// Writes a figure line on standard output.
fn say(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

/// Runs every round and fails if any property broke.
pub(crate) async fn run(args: CrashArgs) -> Result<()> {
    let vinr = std::fs::canonicalize(&args.vinr)
        .with_context(|| format!("no vinr binary at {}", args.vinr.display()))?;
    let seed = args.seed.unwrap_or_else(|| {
        u64::from_str_radix(&run_nonce(), 16).unwrap_or(u64::from(std::process::id()))
    });
    let mut stores = vec![Store::Sqlite];
    match (&args.postgres_url, args.sqlite_only) {
        (_, true) => say("crash: --sqlite-only: PostgreSQL skipped")?,
        (Some(url), false) => stores.push(Store::Postgres {
            admin_url: url.clone(),
        }),
        (None, false) if args.require_postgres => bail!(
            "VINR_TEST_POSTGRES_URL is not set, and the PostgreSQL rounds are required here (CI)"
        ),
        (None, false) => say("crash: VINR_TEST_POSTGRES_URL is not set: PostgreSQL skipped")?,
    }
    let payments = usize::try_from(args.payments).context("too many payments")?;
    let connections = usize::try_from(args.connections).context("too many connections")?;
    say(&format!(
        "crash: seed {seed} (rerun with --seed {seed}); {} round(s) per store, N={payments}, {connections} connections",
        args.rounds
    ))?;
    let scratch = Scratch(std::env::temp_dir().join(format!("vinr-crash-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let mut reports = Vec::new();
    for (store_index, store) in (0u64..).zip(&stores) {
        for round in 1..=args.rounds {
            let plan = RoundPlan {
                vinr: &vinr,
                store,
                round,
                seed: round_seed(seed, store_index, round),
                payments,
                connections,
                dir: scratch.0.join(format!("{}-{round}", store.name())),
            };
            let report = plan.run().await.with_context(|| {
                format!("{} round {round} could not run to the end", store.name())
            })?;
            say(&format!("crash: {}", report.line()))?;
            for violation in report.verdict.violations.iter().take(SHOWN) {
                say(&format!("  VIOLATION: {violation}"))?;
            }
            if report.verdict.violations.len() > SHOWN {
                say(&format!(
                    "  … and {} more",
                    report.verdict.violations.len() - SHOWN
                ))?;
            }
            reports.push(report);
        }
    }
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.verdict.violations.is_empty())
        .map(|r| format!("{} round {} (seed {})", r.store, r.round, r.seed))
        .collect();
    if !failed.is_empty() {
        bail!(
            "crash safety broken in {} of {} rounds: {} (the violations are listed above; the \
             scratch directories with the server logs are kept under {})",
            failed.len(),
            reports.len(),
            failed.join(", "),
            keep(scratch).display()
        );
    }
    say(&format!(
        "crash: all {} rounds held (stores: {})",
        reports.len(),
        stores
            .iter()
            .map(Store::name)
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    Ok(())
}

/// Keeps a scratch directory (for the logs of a failed run).
fn keep(scratch: Scratch) -> PathBuf {
    let dir = scratch.0.clone();
    std::mem::forget(scratch);
    dir
}

/// One round's settings.
struct RoundPlan<'a> {
    vinr: &'a Path,
    store: &'a Store,
    round: u32,
    seed: u64,
    payments: usize,
    connections: usize,
    /// The round's scratch directory (database, journal, logs).
    dir: PathBuf,
}

impl RoundPlan<'_> {
    /// Runs the round on a fresh database (dropping a PostgreSQL one afterwards, whatever
    /// happened).
    async fn run(&self) -> Result<RoundReport> {
        std::fs::create_dir_all(&self.dir)?;
        match self.store {
            Store::Sqlite => {
                let url = format!("sqlite://{}", self.dir.join("vinr.db").display());
                self.run_on(&url).await
            }
            Store::Postgres { admin_url } => {
                let name = format!("vinr_crash_{}_{}", std::process::id(), self.round);
                let url = with_database(admin_url, &name)?;
                let drop_sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                psql(admin_url, &drop_sql).await?;
                psql(admin_url, &format!("CREATE DATABASE {name}")).await?;
                let outcome = self.run_on(&url).await;
                let dropped = psql(admin_url, &drop_sql).await;
                let report = outcome?;
                dropped?;
                Ok(report)
            }
        }
    }

    /// `vinr serve` on `database_url` with the round's test hooks.
    fn command(&self, database_url: &str, key: &str) -> Command {
        let mut command = Command::new(self.vinr);
        command.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--webhook-retry",
            WEBHOOK_RETRY,
        ]);
        // Only what we set: a VINR_* variable of the caller's shell must not change the round.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("VINR_") {
                command.env_remove(name);
            }
        }
        command
            .env("VINR_SECRET_KEY", key)
            .env("VINR_RATE_LIMIT", "0")
            .env(
                "VINR_SANDBOX_NETWORK_JOURNAL",
                self.dir.join("network.journal"),
            )
            .env("VINR_TEST_RECOVERY_SECONDS", RECOVERY_SECONDS.to_string())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
        if matches!(self.store, Store::Postgres { .. }) {
            // SQLite keeps a generated vault key file beside the database; PostgreSQL needs one.
            command.env("VINR_VAULT_KEY", BENCH_VAULT_KEY);
        }
        command
    }

    async fn run_on(&self, database_url: &str) -> Result<RoundReport> {
        let run = run_nonce();
        let key = format!("sk_test_vinrcrash_{run}");
        let n = self.payments;
        let kill_at = kill_point(self.seed, n);
        eprintln!(
            "crash: {} round {}: N={n}, kill after {kill_at} answers",
            self.store.name(),
            self.round
        );
        let receiver = Receiver::start().await?;

        // Before the kill.
        let mut server = Server::start(
            self.command(database_url, &key),
            &self.dir.join("serve-1.log"),
        )
        .await?;
        let target = Target::parse(&server.base, &key)?;
        let plan = Arc::new(drive::setup(&target, receiver.url(), n, &run).await?);
        let kill = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let mut firing = tokio::spawn({
            let (target, plan, kill, stop) =
                (target.clone(), plan.clone(), kill.clone(), stop.clone());
            let connections = self.connections;
            async move { drive::fire(&target, plan, connections, kill_at, kill, stop).await }
        });
        let acks = tokio::select! {
            () = kill.notified() => {
                server.kill()?;
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                firing.await.context("the load task failed")?
            }
            fired = &mut firing => {
                // Every payment was sent before the kill point (only if many were refused).
                server.kill()?;
                fired.context("the load task failed")?
            }
        };
        server.reap().await?;
        let acknowledged = acks.iter().filter(|a| a.is_some()).count();
        eprintln!(
            "crash: killed (SIGKILL) after {acknowledged} answers; restarting on the same database"
        );

        // After the restart.
        let restarted = Instant::now();
        let server = Server::start(
            self.command(database_url, &key),
            &self.dir.join("serve-2.log"),
        )
        .await?;
        let target = Target::parse(&server.base, &key)?;
        let outcome = async {
            let retried = drive::retry_all(
                &target,
                plan.clone(),
                self.connections,
                restarted + RETRY_DEADLINE,
            )
            .await;
            let restart_to_answered = restarted.elapsed();
            let ids: BTreeSet<String> = retried
                .answers
                .iter()
                .flatten()
                .filter_map(check::Answer::payment_id)
                .collect();
            let read = drive::read(&target, &ids, &plan).await?;
            let event_ids: Vec<&str> = read.events.iter().map(|e| e.id.as_str()).collect();
            let webhook_deadline = restarted + WEBHOOK_DEADLINE;
            while receiver.count_heard(event_ids.iter().copied()) < event_ids.len()
                && Instant::now() < webhook_deadline
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let restart_to_delivered = restarted.elapsed();
            anyhow::Ok((retried, read, restart_to_answered, restart_to_delivered))
        }
        .await;
        let log = server.log().to_owned();
        let stopped = server.stop().await;
        let (retried, read, restart_to_answered, restart_to_delivered) =
            outcome.with_context(|| log_tail(&log))?;
        stopped?;

        let charged = SandboxNetwork::from_journal(self.dir.join("network.journal"))
            .context("cannot read the network's journal")?
            .charged_attempts()
            .iter()
            .map(ToString::to_string)
            .collect();
        let (received, deliveries, unsigned) = receiver.snapshot();
        let keys = plan
            .iter()
            .zip(acks)
            .zip(retried.answers)
            .map(|((p, ack), last)| KeyRecord {
                key: p.key.clone(),
                customer: p.customer.clone(),
                amount: p.amount,
                expected: p.expected,
                ack,
                last,
            })
            .collect();
        let mut verdict = check::check(&Observed {
            keys,
            payments: read.payments,
            listed: read.listed,
            events: read.events,
            succeeded_events: read.succeeded_events,
            charged_attempts: charged,
            received,
            deliveries,
        });
        if unsigned > 0 {
            verdict.violations.push(format!(
                "{unsigned} webhook deliveries came without x-vinr-event-id or x-vinr-signature"
            ));
        }
        Ok(RoundReport {
            store: self.store.name(),
            round: self.round,
            seed: self.seed,
            kill_at,
            verdict,
            in_flight_keys: retried.in_flight_keys,
            conflicts: retried.conflicts,
            restart_to_answered,
            restart_to_delivered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_points_stay_between_10_and_90_percent_and_differ_by_seed() {
        let mut seen = BTreeSet::new();
        for round in 1..=50 {
            let seed = round_seed(42, 0, round);
            let at = kill_point(seed, 2000);
            assert!((200..=1800).contains(&at), "{at}");
            seen.insert(at);
        }
        assert!(seen.len() > 40, "kill points barely differ: {seen:?}");
        assert_eq!(kill_point(7, 1), 1);
        assert!((1..=4).contains(&kill_point(7, 5)));
        assert!((1..=9).contains(&kill_point(7, 10)));
    }

    #[test]
    fn seeds_are_reproducible_and_differ_per_store_and_round() {
        assert_eq!(round_seed(1, 0, 1), round_seed(1, 0, 1));
        assert_ne!(round_seed(1, 0, 1), round_seed(1, 1, 1));
        assert_ne!(round_seed(1, 0, 1), round_seed(1, 0, 2));
        assert_ne!(round_seed(1, 0, 1), round_seed(2, 0, 1));
    }

    #[test]
    fn the_card_mix_has_every_outcome() {
        use check::Outcome;
        let count = |o: Outcome| drive::CARDS.iter().filter(|(_, x)| *x == o).count();
        assert_eq!(count(Outcome::Succeeded), 12);
        assert_eq!(count(Outcome::Failed), 5);
        assert_eq!(count(Outcome::RequiresAction), 3);
        assert_eq!(drive::CUSTOMERS % drive::CARDS.len(), 0);
    }
}
