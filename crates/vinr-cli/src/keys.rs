//! Secret API keys: the key `vinr serve` starts with, the refusal of live mode, and
//! `vinr keys create|list|revoke`.
//!
//! Keys are stored hashed ([`hash_key`]); a key's text is shown once, when `vinr` makes it
//! (a first start without `VINR_SECRET_KEY`, or `vinr keys create`), and never again: not in
//! a list, not in a log line, not in an error.

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use vinr_domain::ids::base62_body;
use vinr_http::server::auth::{SecretEntropy, hash_key, key_prefix, new_key};
use vinr_ports::Mode;
use vinr_ports::clock::Clock;
use vinr_ports::ids::IdGenerator;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::StoreError;
use vinr_store::clock::SystemClock;
use vinr_store::ids::OsRandomIds;

use crate::cli::{Environment, Global};
use crate::config::secret_key_mode;
use crate::operator::open_store;
use crate::terminal;

/// How many characters of a key its record keeps after `sk_test_`/`sk_live_` (as
/// `vinr_http::server::auth::new_key` does).
const PREFIX_SHOWN: usize = 4;

/// 32 random bytes for a secret key, from the OS generator (two draws of the id source).
fn secret_entropy(ids: &dyn IdGenerator) -> SecretEntropy {
    let mut bytes = [0u8; 32];
    let (a, b) = (ids.entropy(), ids.entropy());
    for (slot, byte) in bytes.iter_mut().zip(a.iter().chain(b.iter())) {
        *slot = *byte;
    }
    bytes
}

/// A new key of `mode`, stored (hashed): its text, to show once, and its record.
pub(crate) async fn create_key(
    keys: &dyn ApiKeyStore,
    mode: Mode,
) -> anyhow::Result<(String, ApiKeyRecord)> {
    let ids = OsRandomIds::new();
    let (secret, record) = new_key(
        mode,
        &ids.entropy(),
        &secret_entropy(&ids),
        SystemClock::new().now(),
    );
    keys.insert_key(record.clone())
        .await
        .context("cannot store the new key")?;
    Ok((secret, record))
}

/// Refuses live mode: this build has no live card network adapter, only the sandbox's, so a
/// server that took live keys would have nothing to charge real cards with (and live mode
/// would also need `VINR_VAULT_KEY`). Live means an active (not revoked) live key in the
/// store, or `VINR_SECRET_KEY` being `sk_live_…`.
pub(crate) async fn refuse_live_mode(
    keys: &dyn ApiKeyStore,
    env: &Environment,
) -> anyhow::Result<()> {
    let live: Vec<String> = keys
        .list_keys()
        .await
        .context("cannot read the API keys")?
        .into_iter()
        .filter(|k| k.mode == Mode::Live && k.revoked.is_none())
        .map(|k| k.id)
        .collect();
    let env_live = env
        .secret_key
        .as_deref()
        .is_some_and(|k| k.starts_with("sk_live_"));
    if live.is_empty() && !env_live {
        return Ok(());
    }
    let why = if env_live {
        "VINR_SECRET_KEY is a live key (sk_live_…)".to_owned()
    } else {
        format!("the database holds active live keys ({})", live.join(", "))
    };
    let vault = if env.vault_key.is_none() {
        " Live mode would also need VINR_VAULT_KEY: a generated key file is for the sandbox only."
    } else {
        ""
    };
    bail!(
        "live mode is not available: {why}. This build has no live card network adapter (only the \
         sandbox test-card network), so it cannot charge real cards.{vault} To serve the sandbox, \
         use a sk_test_ key{}",
        if live.is_empty() {
            ""
        } else {
            " and revoke the live keys with `vinr keys revoke <key id>`"
        }
    )
}

/// Makes sure `vinr serve` has a key to be called with.
///
/// With `VINR_SECRET_KEY`: its hash is stored if it is not yet (mode from its prefix); a
/// revoked one is refused. Without: if the store holds no key at all, a `sk_test_` key is
/// generated and stored, and returned to be shown once. Returns the key to show, if any.
pub(crate) async fn ensure_start_key(
    keys: &dyn ApiKeyStore,
    env: &Environment,
) -> anyhow::Result<Option<String>> {
    let Some(secret) = env.secret_key.as_deref() else {
        let existing = keys.list_keys().await.context("cannot read the API keys")?;
        if !existing.is_empty() {
            if existing.iter().all(|k| k.revoked.is_some()) {
                tracing::warn!(
                    "every API key is revoked, so no request can authenticate; create one with `vinr keys create`"
                );
            }
            return Ok(None);
        }
        let (secret, record) = create_key(keys, Mode::Test).await?;
        tracing::info!(key_id = %record.id, "generated the first sandbox API key");
        return Ok(Some(secret));
    };
    let mode = secret_key_mode(secret).map_err(anyhow::Error::msg)?;
    let hash = hash_key(secret);
    if let Some(found) = keys
        .key_by_hash(&hash)
        .await
        .context("cannot read the API keys")?
    {
        if found.revoked.is_some() {
            bail!(
                "VINR_SECRET_KEY was revoked (key {}); set another key, or unset it and create one with `vinr keys create`",
                found.id
            );
        }
        tracing::info!(key_id = %found.id, "VINR_SECRET_KEY is a known key");
        return Ok(None);
    }
    let ids = OsRandomIds::new();
    let shown = key_prefix(mode).len() + PREFIX_SHOWN;
    let record = ApiKeyRecord {
        id: format!("key_{}", base62_body(&ids.entropy())),
        mode,
        hash: hash.clone(),
        prefix: secret.chars().take(shown).collect(),
        created: SystemClock::new().now(),
        revoked: None,
    };
    match keys.insert_key(record.clone()).await {
        Ok(()) => {
            tracing::info!(key_id = %record.id, "stored VINR_SECRET_KEY (hashed)");
            Ok(None)
        }
        // Another server on the same database stored it at the same moment.
        Err(StoreError::Conflict) if keys.key_by_hash(&hash).await.ok().flatten().is_some() => {
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot store VINR_SECRET_KEY's hash")),
    }
}

/// `vinr keys create --mode test|live`.
pub(crate) async fn create(global: &Global, mode: Mode) -> anyhow::Result<()> {
    let opened = open_store(global).await?;
    let (secret, record) = create_key(opened.keys.as_ref(), mode).await?;
    opened.close().context("cannot close the database")?;
    let mode_name = mode_name(mode);
    terminal::say(&format!(
        "Created {mode_name} key {}. Its secret is shown only this once (it is stored hashed):",
        record.id
    ));
    terminal::say(&format!("  {secret}"));
    if mode == Mode::Live {
        terminal::say(
            "Note: `vinr serve` refuses to start while an active live key exists, because this \
             build has no live card network adapter; revoke it with `vinr keys revoke <key id>`.",
        );
    }
    Ok(())
}

/// `vinr keys list`.
pub(crate) async fn list(global: &Global) -> anyhow::Result<()> {
    let opened = open_store(global).await?;
    let keys = opened
        .keys
        .list_keys()
        .await
        .context("cannot read the API keys")?;
    opened.close().context("cannot close the database")?;
    if keys.is_empty() {
        terminal::say(
            "No API keys yet: `vinr serve` makes one on its first start, or run `vinr keys create`.",
        );
        return Ok(());
    }
    terminal::say(&format!(
        "{:<28}  {:<4}  {:<13}  {:<20}  {}",
        "ID", "MODE", "PREFIX", "CREATED", "REVOKED"
    ));
    for k in keys {
        terminal::say(&format!(
            "{:<28}  {:<4}  {:<13}  {:<20}  {}",
            k.id,
            mode_name(k.mode),
            format!("{}…", k.prefix),
            time(k.created),
            k.revoked.map_or_else(|| "-".to_owned(), time)
        ));
    }
    Ok(())
}

/// `vinr keys revoke <key id>`.
pub(crate) async fn revoke(global: &Global, id: &str) -> anyhow::Result<()> {
    let opened = open_store(global).await?;
    let revoked = opened
        .keys
        .revoke_key(id, SystemClock::new().now())
        .await
        .context("cannot revoke the key")?;
    opened.close().context("cannot close the database")?;
    if !revoked {
        bail!(
            "no active key `{id}` (unknown, or already revoked); `vinr keys list` shows the keys"
        );
    }
    terminal::say(&format!(
        "Revoked key {id}: it authenticates nothing from now on."
    ));
    Ok(())
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Test => "test",
        Mode::Live => "live",
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinr_store::memory::MemoryStore;

    fn env(secret: Option<&str>) -> Environment {
        Environment {
            secret_key: secret.map(str::to_owned),
            ..Environment::default()
        }
    }

    #[tokio::test]
    async fn a_first_start_makes_one_test_key_and_later_starts_none() {
        let store = MemoryStore::new();
        let shown = ensure_start_key(&store, &env(None)).await.unwrap().unwrap();
        assert!(shown.starts_with("sk_test_") && shown.len() == 40);
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].hash, hash_key(&shown));
        assert_eq!(keys[0].mode, Mode::Test);
        assert_eq!(ensure_start_key(&store, &env(None)).await.unwrap(), None);
        assert_eq!(store.list_keys().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_operator_key_is_stored_hashed_once() {
        let store = MemoryStore::new();
        let secret = "sk_test_acceptance_0123456789abcdef0123456789abcdef";
        for _ in 0..2 {
            assert_eq!(
                ensure_start_key(&store, &env(Some(secret))).await.unwrap(),
                None
            );
        }
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].hash, hash_key(secret));
        assert_eq!(keys[0].prefix, "sk_test_acce");
        assert!(!format!("{keys:?}").contains(secret));

        store
            .revoke_key(&keys[0].id, DateTime::UNIX_EPOCH)
            .await
            .unwrap();
        let e = ensure_start_key(&store, &env(Some(secret)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("revoked") && !e.to_string().contains(secret));

        let e = ensure_start_key(&store, &env(Some("sk_test_tooshort")))
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("tooshort"));
    }

    #[tokio::test]
    async fn live_mode_is_refused_while_a_live_key_is_active() {
        let store = MemoryStore::new();
        refuse_live_mode(&store, &env(None)).await.unwrap();
        let e = refuse_live_mode(&store, &env(Some("sk_live_ABCDEFGHIJKLMNOPQRSTUV")))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no live card network") && e.contains("VINR_VAULT_KEY"),
            "{e}"
        );
        assert!(!e.contains("ABCDEFGHIJ"));

        let (_, live) = create_key(&store, Mode::Live).await.unwrap();
        let e = refuse_live_mode(&store, &env(None))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&live.id) && e.contains("vinr keys revoke"),
            "{e}"
        );
        store
            .revoke_key(&live.id, DateTime::UNIX_EPOCH)
            .await
            .unwrap();
        refuse_live_mode(&store, &env(None)).await.unwrap();
    }
}
