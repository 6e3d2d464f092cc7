//! `vinr migrate` and `vinr vault rotate`, and opening the database for every command.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::vault::CardVault;
use vinr_sandbox::SandboxNetwork;
use vinr_store::clock::SystemClock;
use vinr_store::ids::OsRandomIds;
use vinr_store::open::{OpenedStore, StoreUrl, open};
use vinr_store::vault::keys::{KeyFile, vault_from_env};

use crate::cli::{Environment, Global};
use crate::terminal;
use crate::vault::{KeySource, key_source};

/// How long `vinr vault rotate` waits before its second re-encryption pass: a running server
/// re-reads the key file before every seal, so a card it sealed with the old key just before
/// the new key appeared is committed well within this, and the second pass moves it before
/// the old key is retired.
const ROTATION_SETTLE: Duration = Duration::from_secs(2);

/// Parses `--database-url`, opens the store and applies the migrations it lacks.
pub(crate) async fn open_store(global: &Global) -> anyhow::Result<OpenedStore> {
    let url = StoreUrl::parse(&global.database_url).context("--database-url is not usable")?;
    open(&url).await.map_err(anyhow::Error::new)
}

/// An engine that only maintains `opened` (no network calls are made by maintenance, but the
/// engine needs one: the sandbox's).
fn maintenance_engine(opened: &OpenedStore, vault: Arc<dyn CardVault>) -> Engine {
    Engine::new(
        Ports {
            store: opened.store.clone(),
            vault,
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(SystemClock::new()),
            ids: Arc::new(OsRandomIds::new()),
        },
        EngineConfig::default(),
    )
}

/// `vinr migrate`: applies the migrations (opening the store does) and prints the schema.
pub(crate) async fn migrate(global: &Global) -> anyhow::Result<()> {
    let url = StoreUrl::parse(&global.database_url).context("--database-url is not usable")?;
    let opened = open(&url).await?;
    let state = opened.schema_state().await?;
    opened.close().context("cannot close the database")?;
    terminal::say(&format!("{url}: migrated, {state}"));
    Ok(())
}

/// `vinr vault rotate`.
///
/// Key file: a new active key is added to the file (the old ones stay), every stored card is
/// re-encrypted under it (twice, [`ROTATION_SETTLE`] apart, see there), and the old keys are
/// retired. A running server follows the file (it re-reads it when it changes), so this runs
/// online.
///
/// `VINR_VAULT_KEY`: the keys come from the environment of every server, so the rotation is
/// the operator's: this explains the procedure, and re-encrypts every card under the first
/// key of the list given.
pub(crate) async fn rotate(global: &Global, env: &Environment) -> anyhow::Result<()> {
    let url = StoreUrl::parse(&global.database_url).context("--database-url is not usable")?;
    let source = key_source(global, env, &url)?;
    let opened = open(&url).await?;
    let outcome = match &source {
        KeySource::Environment => rotate_env(&opened, env).await,
        KeySource::File(path) => rotate_file(&opened, path).await,
    };
    let closed = opened.close().context("cannot close the database");
    outcome.and(closed)
}

async fn rotate_file(opened: &OpenedStore, path: &std::path::Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!(
            "there is no vault key file at {}: nothing to rotate (`vinr serve` creates it on its first start)",
            path.display()
        );
    }
    let mut file = KeyFile::load_or_create(path).context("the vault key file is not usable")?;
    let new_id = file.rotate().context("cannot write the new key")?;
    terminal::say(&format!(
        "New active vault key {new_id} in {}; re-encrypting every stored card…",
        path.display()
    ));
    let vault = file.vault().context("the vault key file is not usable")?;
    let engine = maintenance_engine(opened, Arc::new(vault));
    let again = "the old keys stay in the key file, so every card is still readable; run `vinr vault rotate` again";
    let mut moved = engine
        .reencrypt_cards()
        .await
        .with_context(|| format!("re-encryption stopped: {again}"))?;
    tokio::time::sleep(ROTATION_SETTLE).await;
    moved += engine
        .reencrypt_cards()
        .await
        .with_context(|| format!("re-encryption stopped: {again}"))?;
    file.retire_old_keys()
        .context("cannot retire the old keys (every card is under the new key already)")?;
    tracing::info!(active_key = %new_id, reencrypted = moved, "vault key rotated");
    terminal::say(&format!(
        "Re-encrypted {moved} card(s) under {new_id}; the old keys are retired."
    ));
    Ok(())
}

async fn rotate_env(opened: &OpenedStore, env: &Environment) -> anyhow::Result<()> {
    let keys = env.vault_key.as_deref().unwrap_or_default();
    let vault = vault_from_env(keys, env.fingerprint_key.as_deref())
        .context("VINR_VAULT_KEY is not usable")?;
    let count = vault.key_ids().count();
    let active = vault.active_key_id();
    terminal::say(
        "The vault keys come from VINR_VAULT_KEY (base64 keys, comma-separated, active first). To rotate:\n\
         \x20 1. make a new key: openssl rand -base64 32\n\
         \x20 2. put it first and keep every old key after it, VINR_VAULT_KEY=<new>,<old>…, on every\n\
         \x20    server, and restart them (they seal with the new key and still open the old cards)\n\
         \x20 3. run `vinr vault rotate` with that same VINR_VAULT_KEY: it re-encrypts every card under\n\
         \x20    the new key\n\
         \x20 4. then drop the old keys from the list, except the last one: the fingerprint key is\n\
         \x20    derived from it (unless VINR_FINGERPRINT_KEY is set), and so is the hosted pages'\n\
         \x20    CSRF key",
    );
    if count < 2 {
        terminal::say(&format!(
            "VINR_VAULT_KEY holds one key ({active}); checking that every card is under it…"
        ));
    } else {
        terminal::say(&format!(
            "VINR_VAULT_KEY holds {count} keys; re-encrypting every card under the first, {active}…"
        ));
    }
    let engine = maintenance_engine(opened, Arc::new(vault));
    let moved = engine.reencrypt_cards().await.context(
        "re-encryption stopped (a card is sealed under a key VINR_VAULT_KEY does not hold?); \
         nothing is lost: run it again with every old key in the list",
    )?;
    tracing::info!(active_key = %active, reencrypted = moved, "vault re-encryption done");
    terminal::say(&format!("Re-encrypted {moved} card(s) under {active}."));
    Ok(())
}
