//! `vinr`: the VINR server and its operator commands.
//!
//! - `vinr serve` runs the HTTP API, the hosted card pages, `/healthz`, `/readyz` and
//!   `/metrics` over a SQLite file (the default, `sqlite://vinr.db`) or PostgreSQL, with the
//!   background maintenance (recovery sweep, idempotency purge, daily expiry scan).
//! - `vinr keys create|list|revoke` manages the secret API keys (kept hashed).
//! - `vinr vault rotate` makes a new active vault key and re-encrypts every stored card.
//! - `vinr migrate` applies the schema migrations and prints the schema's state.
//! - `vinr listen` prints a running server's events as they happen and can forward each,
//!   signed, to a local URL; `vinr trigger <event-type>` makes a sandbox server produce one.
//!
//! Every flag and variable is that of `api.md` §7; where the contract is silent, the choice is
//! written in the README's "Running the server" section.
//!
//! # Layout
//! - `cli`: the command line (clap) and the variables read from the environment.
//! - `config`: parsing and checking settings (webhook retry schedule, public URL, secret key).
//! - `logging`: the `tracing` subscriber (text or JSON, on standard error).
//! - `vault`: where the vault keys come from, the key file the server re-reads when
//!   `vinr vault rotate` changes it, and the CSRF key derived from the vault's root key.
//! - `keys`: API keys (start-up key, live-mode refusal, `vinr keys …`).
//! - `serve`: `vinr serve`, its background tasks and its graceful shutdown.
//! - `operator`: `vinr vault rotate` and `vinr migrate`.
//! - `listen`, `trigger`: the developer commands, clients of a running server's API.
//! - `signals`: `SIGINT`/`SIGTERM` for the commands that run until stopped.
//! - `terminal`: the few lines written to standard output for the operator.

mod cli;
mod config;
mod keys;
mod listen;
mod logging;
mod operator;
mod serve;
mod signals;
mod terminal;
mod trigger;
mod vault;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command, Environment, KeysCommand, LogFormat, VaultCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.global.log_format;
    logging::init(format);
    let env = match Environment::read() {
        Ok(env) => env,
        Err(e) => return failed(format, &e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return failed(
                format,
                &anyhow::Error::new(e).context("cannot start the runtime"),
            );
        }
    };
    let outcome = runtime.block_on(run(cli, env));
    // Background work still queued (none after a clean shutdown) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(format, &e),
    }
}

async fn run(cli: Cli, env: Environment) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(&global, args, env).await,
        Command::Keys { command } => match command {
            KeysCommand::Create { mode } => keys::create(&global, mode.into()).await,
            KeysCommand::List => keys::list(&global).await,
            KeysCommand::Revoke { id } => keys::revoke(&global, &id).await,
        },
        Command::Vault { command } => match command {
            VaultCommand::Rotate => operator::rotate(&global, &env).await,
        },
        Command::Migrate => operator::migrate(&global).await,
        Command::Listen(args) => listen::run(args).await,
        Command::Trigger(args) => trigger::run(args).await,
    }
}

/// Reports a failure on standard error, as `error: …` for people or, with `--log-format
/// json`, as a JSON log line (so that every line of standard error stays JSON), and gives the
/// exit code. No error message holds a key, a card number or a database password: every error
/// is built from redacted values.
fn failed(format: LogFormat, e: &anyhow::Error) -> ExitCode {
    let message = describe(e);
    match format {
        LogFormat::Text => terminal::error(&message),
        LogFormat::Json => tracing::error!(error = %message, "vinr stopped on an error"),
    }
    ExitCode::FAILURE
}

/// An error and its causes, outermost first, joined by `: `; a cause whose text its
/// predecessor already quotes (many error types print their source) is left out.
fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_not_repeated() {
        /// An error that prints its source, as many do.
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "outer: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(Outer(std::io::Error::other("inner"))).context("while starting");
        assert_eq!(describe(&e), "while starting: outer: inner");
    }
}
