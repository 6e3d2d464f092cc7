-- VINR store, version 3: webhook deliveries (the `DeliveryStore` port).
--
-- The events table is the outbox: an event is written in the write set of the change it
-- describes, with `fanned_out` false. Fan-out locks a batch of those (oldest first, `FOR UPDATE
-- SKIP LOCKED`, so servers fanning out together take disjoint batches), inserts one delivery per
-- matching endpoint and sets `fanned_out`, in one transaction. Events written before this
-- migration are not fanned out yet either: they are delivered once it has run.
ALTER TABLE events ADD COLUMN fanned_out BOOLEAN NOT NULL DEFAULT false;
-- The fan-out's work list, oldest first; it only holds the few events not fanned out yet.
CREATE INDEX events_to_fan_out ON events (seq) WHERE NOT fanned_out;

-- One event for one endpoint. Times are Unix microseconds (`next_at`: when the next attempt is
-- due, or for a delivered or failed one when its last attempt was due; `leased_until`: the end
-- of the lease of the worker that claimed it, NULL when nobody holds it). `seq` numbers rows in
-- fan-out order (claims are oldest due first by (next_at, seq)). `attempt_count` is the number
-- of rows in `delivery_attempts`, kept here so a claim and the guard of a record read one row.
-- There is no foreign key to the endpoint: a delivery whose endpoint was deleted is marked
-- failed when it is claimed. Purging an event deletes its deliveries (and their attempts).
CREATE TABLE deliveries (
    event_id      TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id   TEXT COLLATE "C" NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    livemode      BOOLEAN NOT NULL,
    status        TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    next_at       BIGINT NOT NULL,
    leased_until  BIGINT,
    attempt_count BIGINT NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    PRIMARY KEY (event_id, endpoint_id)
);
-- The claim's work list, oldest due first; delivered and failed deliveries are not in it.
CREATE INDEX deliveries_due ON deliveries (next_at, seq) WHERE status = 'pending';

-- Every attempt of a delivery: its number (from 1), when it was made (Unix microseconds), the
-- receiver's HTTP status if it answered, how long it took and why it failed (never a secret).
CREATE TABLE delivery_attempts (
    event_id    TEXT COLLATE "C" NOT NULL,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    attempt     BIGINT NOT NULL CHECK (attempt >= 1),
    at          BIGINT NOT NULL,
    http_status INTEGER CHECK (http_status BETWEEN 0 AND 65535),
    latency_ms  BIGINT NOT NULL CHECK (latency_ms >= 0),
    error       TEXT,
    PRIMARY KEY (event_id, endpoint_id, attempt),
    FOREIGN KEY (event_id, endpoint_id) REFERENCES deliveries (event_id, endpoint_id)
        ON DELETE CASCADE
);
