//! Maintenance the server runs in the background: vault key rotation and forgetting old
//! idempotency records.

use chrono::Duration;
use vinr_ports::Error;

use crate::Engine;
use crate::core::EngineError;

/// How many sealed cards a rotation handles per read.
const ROTATION_BATCH: usize = 100;

impl Engine {
    /// Re-encrypts every stored card (methods, and cards pending on setups and payments) under
    /// the vault's active key, batch by batch, while the engine keeps serving: a card changed
    /// concurrently is simply picked up again by the next batch. Old keys must stay readable
    /// until this returns. Returns how many cards were re-encrypted.
    pub async fn reencrypt_cards(&self) -> Result<u64, Error> {
        let store = &self.ports().store;
        let vault = &self.ports().vault;
        let active = vault.active_key_id();
        let mut moved = 0;
        loop {
            let batch = store
                .cards_sealed_with_other_keys(&active, ROTATION_BATCH)
                .await
                .map_err(EngineError::from)?;
            if batch.is_empty() {
                return Ok(moved);
            }
            let mut progressed = false;
            for card in batch {
                let pan = self.open_card(&card.sealed)?;
                let resealed = vault
                    .seal(&pan)
                    .map_err(|_| Error::internal("a card could not be re-encrypted"))?;
                if store
                    .replace_sealed_card(&card.owner, &card.sealed, resealed)
                    .await
                    .map_err(EngineError::from)?
                {
                    moved += 1;
                    progressed = true;
                }
            }
            if !progressed {
                // Every card of the batch changed under us; read again (a store that kept
                // answering the same stale batch would otherwise spin).
                yield_now().await;
            }
        }
    }

    /// Forgets idempotency records older than 24 hours; returns how many.
    pub async fn purge_idempotency(&self) -> Result<u64, Error> {
        let before = self.now() - Duration::hours(24);
        Ok(self
            .ports()
            .store
            .purge_idempotency(before)
            .await
            .map_err(EngineError::from)?)
    }
}

/// Lets other tasks run once, without depending on a runtime.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}
