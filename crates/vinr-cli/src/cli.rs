//! The command line (`api.md` §7) and the variables read from the environment.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use vinr_ports::Mode;

use vinr_webhooks::dispatch::RetrySchedule;

use crate::config::DEFAULT_WEBHOOK_RETRY;

/// The variables `vinr` reads, after the help text.
const ENVIRONMENT_HELP: &str = "\
Environment (besides the variables named on the flags above):
  VINR_SECRET_KEY       a secret key (sk_test_… or sk_live_…) that `serve` stores hashed and
                        accepts; without it, the first start generates a sk_test_ key and
                        prints it once
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
    fn the_environment_is_debugged_without_values() {
        let env = Environment {
            secret_key: Some("sk_test_hidden".to_owned()),
            ..Environment::default()
        };
        let shown = format!("{env:?}");
        assert!(!shown.contains("hidden") && shown.contains("secret_key: true"));
    }
}
