//! idempotency (being written).
