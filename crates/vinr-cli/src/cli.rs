//! The command line (`api.md` §7) and the variables read from the environment.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use vinr_domain::event::EventType;
use vinr_http::server::hosted::guard::AddressLimit;
use vinr_http::server::ratelimit::RateLimit;
use vinr_ports::Mode;

use vinr_webhooks::dispatch::RetrySchedule;

use crate::config::DEFAULT_WEBHOOK_RETRY;

/// The variables `vinr` reads, after the help text.
const ENVIRONMENT_HELP: &str = "\
Environment (besides the variables named on the flags above):
  VINR_SECRET_KEY       a secret key (sk_test_… or sk_live_…) that `serve` stores hashed and
                        accepts; without it, the first start generates a sk_test_ key and
                        prints it once. `listen` and `trigger` authenticate with it
  VINR_VAULT_KEY        vault keys: base64 of 32 bytes each, comma-separated, active first;
                        without it a sandbox SQLite server keeps its keys in
                        `<database>.vaultkey` (mode 0600)
  VINR_FINGERPRINT_KEY  base64 of 32 bytes: the card fingerprint key (default: derived from
                        the last key of VINR_VAULT_KEY)
  RUST_LOG              log filter (default: info)";

/// `vinr`: the VINR server and its operator commands.
#[derive(Debug, Parser)]
#[command(name = "vinr", version, about, after_help = ENVIRONMENT_HELP)]
pub(crate) struct Cli {
    /// Settings every command takes.
    #[command(flatten)]
    pub(crate) global: Global,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Settings every command takes (before or after the command's name).
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The database: `sqlite://PATH` (created if missing; `sqlite:///abs/path.db` for an
    /// absolute path) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    #[arg(
        long,
        env = "VINR_DATABASE_URL",
        default_value = "sqlite://vinr.db",
        global = true,
        hide_env_values = true
    )]
    pub(crate) database_url: String,

    /// Log lines on standard error as text (for people) or JSON (one object per line).
    #[arg(
        long,
        env = "VINR_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub(crate) log_format: LogFormat,

    /// A vault key file to use instead of `VINR_VAULT_KEY` (created with mode 0600 if
    /// missing). SQLite's default is `<database>.vaultkey`; PostgreSQL has none, so it needs
    /// this or `VINR_VAULT_KEY`.
    #[arg(long, env = "VINR_VAULT_KEY_FILE", global = true, value_name = "PATH")]
    pub(crate) vault_key_file: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the API, the hosted card pages and the background maintenance.
    Serve(ServeArgs),
    /// Manage the secret API keys.
    Keys {
        /// What to do with them.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the card vault's keys.
    Vault {
        /// What to do with them.
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Apply the schema migrations, print the schema's state and exit.
    Migrate,
    /// Print the events of a running server as they happen, and optionally forward each,
    /// signed, to a local URL (for developing a webhook receiver).
    Listen(ListenArgs),
    /// Make a running sandbox server produce an event, by doing what causes it.
    Trigger(TriggerArgs),
}

/// Where the API is and the key to use it with (`vinr listen`, `vinr trigger`).
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// The base URL of a running `vinr serve`.
    #[arg(
        long,
        env = "VINR_API_BASE",
        default_value = vinr::DEFAULT_API_BASE,
        value_name = "URL"
    )]
    pub(crate) api_base: String,

    /// The secret API key (`trigger` takes sandbox keys only, `sk_test_…`); better given
    /// through the variable, which keeps it out of the process list.
    #[arg(
        long,
        env = "VINR_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub(crate) secret_key: ApiKey,
}

/// A secret API key given to `listen` or `trigger`. `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct ApiKey(String);

impl ApiKey {
    /// The key itself, for the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is a live key (`sk_live_…`).
    pub(crate) fn is_live(&self) -> bool {
        self.0.starts_with("sk_live_")
    }
}

impl FromStr for ApiKey {
    type Err = String;

    fn from_str(s: &str) -> Result<ApiKey, String> {
        let key = s.trim();
        if key.is_empty() {
            return Err("the secret key is empty".to_owned());
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the secret key must be printable ASCII without spaces".to_owned());
        }
        Ok(ApiKey(key.to_owned()))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

/// `vinr listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The server and the key.
    #[command(flatten)]
    pub(crate) api: ApiArgs,

    /// POST each event's JSON to this URL, signed (`x-vinr-signature`) with a secret printed
    /// at start, and print the answer's status.
    #[arg(long, value_name = "URL")]
    pub(crate) forward_to: Option<String>,

    /// Only these event types, comma-separated, or `*` for all.
    #[arg(
        long,
        default_value = "*",
        value_name = "TYPES",
        value_parser = EventFilter::parse
    )]
    pub(crate) events: EventFilter,
}

/// Which event types `vinr listen` shows: all, or those named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventFilter {
    /// `*`.
    All,
    /// The types named (each one of the contract's).
    Only(Vec<EventType>),
}

impl EventFilter {
    /// `*`, or a comma-separated list of the contract's event types.
    pub(crate) fn parse(text: &str) -> Result<EventFilter, String> {
        let mut only = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "*" {
                return Ok(EventFilter::All);
            }
            let kind = EventType::from_str(part)
                .map_err(|_| format!("`{part}` is not an event type; known: {}", known_types()))?;
            if !only.contains(&kind) {
                only.push(kind);
            }
        }
        if only.is_empty() {
            return Err(format!(
                "name at least one event type, or `*`; known: {}",
                known_types()
            ));
        }
        Ok(EventFilter::Only(only))
    }

    /// Whether an event of type `kind` (as the wire names it) is shown.
    pub(crate) fn admits(&self, kind: &str) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(types) => types.iter().any(|t| t.as_str() == kind),
        }
    }
}

/// The contract's event types, comma-separated.
pub(crate) fn known_types() -> String {
    EventType::ALL
        .iter()
        .map(EventType::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `vinr trigger`.
#[derive(Debug, Args)]
pub(crate) struct TriggerArgs {
    /// The server and the key (a sandbox key: `sk_test_…`).
    #[command(flatten)]
    pub(crate) api: ApiArgs,

    /// The event to produce.
    #[arg(value_enum, value_name = "EVENT_TYPE")]
    pub(crate) event: TriggerEvent,
}

/// The events `vinr trigger` can produce: every type of the contract (a test checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TriggerEvent {
    /// Create a customer.
    #[value(name = "customer.created")]
    CustomerCreated,
    /// Create a customer, then rename it.
    #[value(name = "customer.updated")]
    CustomerUpdated,
    /// Create a customer, then delete it.
    #[value(name = "customer.deleted")]
    CustomerDeleted,
    /// Attach the 4242 test card to a new customer.
    #[value(name = "payment_method.attached")]
    PaymentMethodAttached,
    /// Attach a test card, then detach it.
    #[value(name = "payment_method.detached")]
    PaymentMethodDetached,
    /// Attach a test card, then run the network updater on it.
    #[value(name = "payment_method.updated")]
    PaymentMethodUpdated,
    /// Attach a card expiring next month and run the expiry scan 10 days before it lapses.
    #[value(name = "payment_method.expiring")]
    PaymentMethodExpiring,
    /// Open a setup and submit the 4242 card on its hosted page.
    #[value(name = "setup.succeeded")]
    SetupSucceeded,
    /// Open a setup and submit a declined card (0002) on its hosted page.
    #[value(name = "setup.failed")]
    SetupFailed,
    /// Open a setup, then cancel it.
    #[value(name = "setup.canceled")]
    SetupCanceled,
    /// Charge the 4242 card off-session.
    #[value(name = "payment.succeeded")]
    PaymentSucceeded,
    /// Charge a declined card (0002) off-session.
    #[value(name = "payment.failed")]
    PaymentFailed,
    /// Charge a 3-D Secure card (3220) off-session.
    #[value(name = "payment.requires_action")]
    PaymentRequiresAction,
    /// Open an on-session payment without a method, then cancel it.
    #[value(name = "payment.canceled")]
    PaymentCanceled,
}

impl TriggerEvent {
    /// The event type it produces.
    pub(crate) fn event_type(self) -> EventType {
        match self {
            TriggerEvent::CustomerCreated => EventType::CustomerCreated,
            TriggerEvent::CustomerUpdated => EventType::CustomerUpdated,
            TriggerEvent::CustomerDeleted => EventType::CustomerDeleted,
            TriggerEvent::PaymentMethodAttached => EventType::PaymentMethodAttached,
            TriggerEvent::PaymentMethodDetached => EventType::PaymentMethodDetached,
            TriggerEvent::PaymentMethodUpdated => EventType::PaymentMethodUpdated,
            TriggerEvent::PaymentMethodExpiring => EventType::PaymentMethodExpiring,
            TriggerEvent::SetupSucceeded => EventType::SetupSucceeded,
            TriggerEvent::SetupFailed => EventType::SetupFailed,
            TriggerEvent::SetupCanceled => EventType::SetupCanceled,
            TriggerEvent::PaymentSucceeded => EventType::PaymentSucceeded,
            TriggerEvent::PaymentFailed => EventType::PaymentFailed,
            TriggerEvent::PaymentRequiresAction => EventType::PaymentRequiresAction,
            TriggerEvent::PaymentCanceled => EventType::PaymentCanceled,
        }
    }
}

/// `vinr serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (`HOST:PORT`; port 0 picks a free one, printed once bound).
    #[arg(long, env = "VINR_LISTEN", default_value = "127.0.0.1:4242")]
    pub(crate) listen: String,

    /// The public base URL of hosted pages (`checkoutUrl`, `nextAction.url`).
    /// Default: `http://<the address listened on>`.
    #[arg(long, env = "VINR_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,

    /// Webhook retry delays, comma-separated (units `s`, `m`, `h`, `d`).
    #[arg(
        long,
        env = "VINR_WEBHOOK_RETRY",
        default_value = DEFAULT_WEBHOOK_RETRY,
        value_name = "DELAYS",
        value_parser = RetrySchedule::parse
    )]
    pub(crate) webhook_retry: RetrySchedule,

    /// The requests a second each API key may make on `/v1`, and the burst allowed after a
    /// pause: `<per_second>[/<burst>]` (burst defaults to the rate); `0` disables the limit.
    /// Over it, requests get 429 `rate_limited` with `Retry-After`.
    #[arg(
        long,
        env = "VINR_RATE_LIMIT",
        default_value = DEFAULT_RATE_LIMIT,
        value_name = "PER_SECOND[/BURST]",
        value_parser = RateLimitArg::parse
    )]
    pub(crate) rate_limit: RateLimitArg,

    /// The longest a request may take: one still unanswered then gets 503
    /// `service_unavailable` with `Retry-After` (units `ms`, `s`, `m`); `0` disables it.
    #[arg(
        long,
        env = "VINR_REQUEST_TIMEOUT",
        default_value = DEFAULT_REQUEST_TIMEOUT,
        value_name = "DURATION",
        value_parser = RequestTimeoutArg::parse
    )]
    pub(crate) request_timeout: RequestTimeoutArg,

    /// The failed card attempts a hosted link (a setup's or a payment's card page) takes:
    /// the attempt that reaches it cancels the setup or payment (`too_many_attempts`) and its
    /// pages answer 410. At least 1.
    #[arg(
        long,
        env = "VINR_HOSTED_MAX_ATTEMPTS",
        default_value_t = 5,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) hosted_max_attempts: u32,

    /// The failed card attempts one client address may make on the hosted pages in a window:
    /// `<failures>/<window>` (window in `s`, `m` or `h`); its next card post locks the link
    /// it targets (410). `0` disables the limit.
    #[arg(
        long,
        env = "VINR_HOSTED_ADDRESS_LIMIT",
        default_value = "20/1h",
        value_name = "FAILURES/WINDOW",
        value_parser = AddressLimitArg::parse
    )]
    pub(crate) hosted_address_limit: AddressLimitArg,

    /// Take the client address of hosted pages from the last `X-Forwarded-For` entry (set it
    /// only behind a reverse proxy that appends it); otherwise the TCP peer's address is used.
    #[arg(long, env = "VINR_TRUST_PROXY")]
    pub(crate) trust_proxy: bool,
}

/// `--hosted-address-limit`: the limit, or `None` when disabled (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddressLimitArg(pub(crate) Option<AddressLimit>);

impl AddressLimitArg {
    /// `<failures>/<window>`, or `0`.
    pub(crate) fn parse(text: &str) -> Result<AddressLimitArg, String> {
        AddressLimit::parse(text).map(AddressLimitArg)
    }
}

/// `--request-timeout`'s default.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: &str = "10s";

/// `--request-timeout`: the limit, or `None` when disabled (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestTimeoutArg(pub(crate) Option<std::time::Duration>);

impl RequestTimeoutArg {
    /// `<n>ms`, `<n>s` or `<n>m` (at most an hour), or `0` for no limit.
    pub(crate) fn parse(text: &str) -> Result<RequestTimeoutArg, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(RequestTimeoutArg(None));
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{text:?} has no unit (ms, s or m)"))?;
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a number followed by ms, s or m"))?;
        let d = match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
            _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
        };
        if d.is_zero() || d > std::time::Duration::from_secs(3600) {
            return Err(format!(
                "{text:?}: between 1 ms and 1 h, or 0 to disable the timeout"
            ));
        }
        Ok(RequestTimeoutArg(Some(d)))
    }
}

/// `--rate-limit`'s default: 1000 requests a second per key, bursts of 2000.
pub(crate) const DEFAULT_RATE_LIMIT: &str = "1000/2000";

/// `--rate-limit`: the per-key limit, or `None` when disabled (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimitArg(pub(crate) Option<RateLimit>);

impl RateLimitArg {
    /// `<per_second>[/<burst>]`, or `0` for no limit.
    pub(crate) fn parse(text: &str) -> Result<RateLimitArg, String> {
        RateLimit::parse(text).map(RateLimitArg)
    }
}

/// `vinr keys …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a secret key; it is printed this once and stored hashed.
    Create {
        /// Sandbox (`sk_test_…`) or live (`sk_live_…`).
        #[arg(long, value_enum, default_value_t = ModeArg::Test)]
        mode: ModeArg,
    },
    /// List the keys: id, mode, prefix, created, revoked (never a key itself).
    List,
    /// Revoke a key: it authenticates nothing from then on.
    Revoke {
        /// The key's id (`key_…`, as `vinr keys list` shows it).
        id: String,
    },
}

/// `vinr vault …`.
#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Make a new active vault key and re-encrypt every stored card under it.
    Rotate,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Sandbox: `sk_test_…`.
    Test,
    /// Live: `sk_live_…`.
    Live,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Test => Mode::Test,
            ModeArg::Live => Mode::Live,
        }
    }
}

/// The secrets read from the environment (never from flags, so they stay out of `ps`).
/// An empty variable counts as unset. `Debug` shows which are set, never their values.
#[derive(Default)]
pub(crate) struct Environment {
    /// `VINR_SECRET_KEY`.
    pub(crate) secret_key: Option<String>,
    /// `VINR_VAULT_KEY`.
    pub(crate) vault_key: Option<String>,
    /// `VINR_FINGERPRINT_KEY`.
    pub(crate) fingerprint_key: Option<String>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("secret_key", &self.secret_key.is_some())
            .field("vault_key", &self.vault_key.is_some())
            .field("fingerprint_key", &self.fingerprint_key.is_some())
            .finish()
    }
}

impl Environment {
    /// Reads `VINR_SECRET_KEY`, `VINR_VAULT_KEY` and `VINR_FINGERPRINT_KEY`.
    pub(crate) fn read() -> anyhow::Result<Environment> {
        Ok(Environment {
            secret_key: var("VINR_SECRET_KEY")?,
            vault_key: var("VINR_VAULT_KEY")?,
            fingerprint_key: var("VINR_FINGERPRINT_KEY")?,
        })
    }
}

/// A variable's value; `None` when unset or empty (surrounding white space is dropped).
fn var(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        let cli = Cli::try_parse_from(["vinr", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen, "127.0.0.1:4242");
        assert_eq!(args.public_url, None);
        assert_eq!(args.webhook_retry.to_string(), DEFAULT_WEBHOOK_RETRY);
        assert_eq!(
            args.rate_limit,
            RateLimitArg(Some(RateLimit {
                per_second: 1000,
                burst: 2000
            }))
        );
        assert_eq!(cli.global.log_format, LogFormat::Text);

        let cli = Cli::try_parse_from([
            "vinr",
            "keys",
            "list",
            "--database-url",
            "sqlite:///tmp/x.db",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.global.database_url, "sqlite:///tmp/x.db");
        assert_eq!(cli.global.log_format, LogFormat::Json);
        assert!(matches!(
            cli.command,
            Command::Keys {
                command: KeysCommand::List
            }
        ));

        let cli = Cli::try_parse_from(["vinr", "keys", "create", "--mode", "live"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Keys {
                command: KeysCommand::Create {
                    mode: ModeArg::Live
                }
            }
        ));
        assert!(Cli::try_parse_from(["vinr", "serve", "--webhook-retry", "1s,0s"]).is_err());
        assert!(Cli::try_parse_from(["vinr", "keys", "create", "--mode", "prod"]).is_err());
    }

    #[test]
    fn every_event_type_can_be_triggered_under_its_own_name() {
        let names: Vec<String> = TriggerEvent::value_variants()
            .iter()
            .map(|t| {
                let name = t.to_possible_value().unwrap().get_name().to_owned();
                assert_eq!(name, t.event_type().as_str());
                name
            })
            .collect();
        let all: Vec<&str> = EventType::ALL.iter().map(EventType::as_str).collect();
        assert_eq!(names, all);
    }

    #[test]
    fn listen_and_trigger_parse_their_flags() {
        let cli = Cli::try_parse_from([
            "vinr",
            "listen",
            "--secret-key",
            "sk_test_abc",
            "--forward-to",
            "http://127.0.0.1:3000/hook",
            "--events",
            "payment.succeeded, customer.created,payment.succeeded",
        ])
        .unwrap();
        let Command::Listen(args) = cli.command else {
            panic!("not listen")
        };
        assert_eq!(args.api.api_base, "http://127.0.0.1:4242");
        assert_eq!(args.api.secret_key.expose(), "sk_test_abc");
        assert!(!format!("{args:?}").contains("sk_test_abc"));
        assert_eq!(
            args.events,
            EventFilter::Only(vec![
                EventType::PaymentSucceeded,
                EventType::CustomerCreated
            ])
        );
        assert!(args.events.admits("customer.created"));
        assert!(!args.events.admits("customer.updated"));

        let all = EventFilter::parse("*").unwrap();
        assert!(all.admits("anything.new"));
        let e = EventFilter::parse("payment.refunded").unwrap_err();
        assert!(
            e.contains("payment.refunded") && e.contains("setup.failed"),
            "{e}"
        );
        assert!(EventFilter::parse(" , ").is_err());

        let cli = Cli::try_parse_from([
            "vinr",
            "trigger",
            "payment.requires_action",
            "--api-base",
            "http://127.0.0.1:9",
            "--secret-key",
            "sk_test_abc",
        ])
        .unwrap();
        let Command::Trigger(args) = cli.command else {
            panic!("not trigger")
        };
        assert_eq!(args.event, TriggerEvent::PaymentRequiresAction);
        assert_eq!(args.api.api_base, "http://127.0.0.1:9");
        let unknown =
            Cli::try_parse_from(["vinr", "trigger", "payment.refunded", "--secret-key", "k"])
                .unwrap_err()
                .to_string();
        assert!(unknown.contains("customer.created"), "{unknown}");
    }

    #[test]
    fn the_environment_is_debugged_without_values() {
        let env = Environment {
            secret_key: Some("sk_test_hidden".to_owned()),
            ..Environment::default()
        };
        let shown = format!("{env:?}");
        assert!(!shown.contains("hidden") && shown.contains("secret_key: true"));
    }

    #[test]
    fn the_request_timeout_flag_parses_and_zero_disables() {
        use std::time::Duration;
        let parse = |flag: &str| {
            let cli = Cli::try_parse_from(["vinr", "serve", "--request-timeout", flag])?;
            let Command::Serve(args) = cli.command else {
                panic!("not serve")
            };
            Ok::<_, clap::Error>(args.request_timeout.0)
        };
        assert_eq!(parse("2500ms").unwrap(), Some(Duration::from_millis(2500)));
        assert_eq!(parse("3s").unwrap(), Some(Duration::from_secs(3)));
        assert_eq!(parse("1m").unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(parse("0").unwrap(), None);
        for bad in ["", "10", "s", "0s", "2h", "61m", "-1s", "1.5s"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let cli = Cli::try_parse_from(["vinr", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.request_timeout.0, Some(Duration::from_secs(10)));
    }

    #[test]
    fn the_rate_limit_flag_parses_and_zero_disables() {
        let parse = |flag: &str| {
            let cli = Cli::try_parse_from(["vinr", "serve", "--rate-limit", flag])?;
            let Command::Serve(args) = cli.command else {
                panic!("not serve")
            };
            Ok::<_, clap::Error>(args.rate_limit.0)
        };
        assert_eq!(
            parse("5/10").unwrap(),
            Some(RateLimit {
                per_second: 5,
                burst: 10
            })
        );
        assert_eq!(
            parse("7").unwrap(),
            Some(RateLimit {
                per_second: 7,
                burst: 7
            })
        );
        assert_eq!(parse("0").unwrap(), None);
        for bad in ["", "x", "-1", "5/0", "5/x", "1/2/3"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hosted_limit_flags_parse_with_their_defaults() {
        let serve = |flags: &[&str]| {
            let argv = [&["vinr", "serve"][..], flags].concat();
            let cli = Cli::try_parse_from(argv)?;
            let Command::Serve(args) = cli.command else {
                panic!("not serve")
            };
            Ok::<_, clap::Error>(args)
        };
        let defaults = serve(&[]).unwrap();
        assert_eq!(defaults.hosted_max_attempts, 5);
        assert_eq!(defaults.hosted_address_limit.0, Some(AddressLimit::DEFAULT));
        assert!(!defaults.trust_proxy);
        let set = serve(&[
            "--hosted-max-attempts",
            "3",
            "--hosted-address-limit",
            "10/30m",
            "--trust-proxy",
        ])
        .unwrap();
        assert_eq!(set.hosted_max_attempts, 3);
        let limit = set.hosted_address_limit.0.unwrap();
        assert_eq!((limit.failures, limit.window.as_secs()), (10, 1800));
        assert!(set.trust_proxy);
        let off = serve(&["--hosted-address-limit", "0"]).unwrap();
        assert_eq!(off.hosted_address_limit.0, None);
        for bad in [
            &["--hosted-max-attempts", "0"][..],
            &["--hosted-max-attempts", "x"],
            &["--hosted-address-limit", "10"],
            &["--hosted-address-limit", "10/2d"],
        ] {
            assert!(serve(bad).is_err(), "{bad:?}");
        }
    }
}
