-- VINR store, version 1: one table per kind of object.
--
-- Every object is kept whole as the JSON of its domain record (`body`, text: it round-trips every
-- string exactly, where jsonb refuses U+0000), beside the columns that lists, filters and guards
-- read. `seq` numbers rows in insertion order; lists are newest first by (created, seq), and a
-- cursor is the (created, seq) of the object it names, so every page is an index range scan.
-- `created` holds Unix seconds, as the JSON does. Card numbers are never here: a method holds the
-- vault's ciphertext in its body and the sealing key's id in `card_key_id` (for rotation).

-- Raises VR409 unless exactly one row was written or checked: a version guard of a write set.
-- A failed guard aborts the transaction, so the COMMIT sent in the same flight rolls back.
CREATE FUNCTION vinr_guard(n BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $$
BEGIN
    IF n <> 1 THEN
        RAISE EXCEPTION 'vinr: a version guard failed' USING ERRCODE = 'VR409';
    END IF;
    RETURN 1;
END
$$;

CREATE TABLE customers (
    id        TEXT COLLATE "C" PRIMARY KEY,
    seq       BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode  BOOLEAN NOT NULL,
    created   BIGINT NOT NULL,
    version   BIGINT NOT NULL,
    -- vinr_domain::customer::email_lookup_key of the email (trimmed, lower-cased).
    email_key TEXT COLLATE "C",
    body      TEXT NOT NULL
);
CREATE INDEX customers_by_created ON customers (livemode, created DESC, seq DESC);
CREATE INDEX customers_by_email ON customers (livemode, email_key, created DESC, seq DESC);

CREATE TABLE payment_methods (
    id          TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    customer_id TEXT COLLATE "C",
    -- unattached, attached or detached.
    state       TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    card_key_id TEXT COLLATE "C" NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX payment_methods_by_customer
    ON payment_methods (livemode, customer_id, state, created DESC, seq DESC);
CREATE INDEX payment_methods_by_state ON payment_methods (livemode, state, created DESC, seq DESC);
CREATE INDEX payment_methods_by_card_key ON payment_methods (card_key_id);

CREATE TABLE payments (
    id          TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    customer_id TEXT COLLATE "C",
    status      TEXT COLLATE "C" NOT NULL,
    -- The key id of the card typed on the hosted page and not yet saved, if any.
    card_key_id TEXT COLLATE "C",
    body        TEXT NOT NULL
);
CREATE INDEX payments_by_created ON payments (livemode, created DESC, seq DESC);
CREATE INDEX payments_by_customer ON payments (livemode, customer_id, created DESC, seq DESC);
CREATE INDEX payments_by_status ON payments (livemode, status, created DESC, seq DESC);
-- The recovery sweep's work list, oldest first.
CREATE INDEX payments_processing ON payments (created, seq) WHERE status = 'processing';
CREATE INDEX payments_by_card_key ON payments (card_key_id) WHERE card_key_id IS NOT NULL;

CREATE TABLE setups (
    id          TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    card_key_id TEXT COLLATE "C",
    body        TEXT NOT NULL
);
CREATE INDEX setups_by_card_key ON setups (card_key_id) WHERE card_key_id IS NOT NULL;

CREATE TABLE webhook_endpoints (
    id       TEXT COLLATE "C" PRIMARY KEY,
    seq      BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode BOOLEAN NOT NULL,
    created  BIGINT NOT NULL,
    version  BIGINT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_created ON webhook_endpoints (livemode, created DESC, seq DESC);

-- The event log, which is also the outbox of webhook deliveries.
CREATE TABLE events (
    id       TEXT COLLATE "C" PRIMARY KEY,
    seq      BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode BOOLEAN NOT NULL,
    created  BIGINT NOT NULL,
    kind     TEXT COLLATE "C" NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX events_by_created ON events (livemode, created DESC, seq DESC);
CREATE INDEX events_by_kind ON events (livemode, kind, created DESC, seq DESC);

-- The primary key is the unique index that lets one of two racing requests reserve a key.
CREATE TABLE idempotency_keys (
    scope           TEXT COLLATE "C" NOT NULL,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    created         BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);
