-- VINR store, version 2: secret API keys, kept hashed (the `ApiKeyStore` port).
--
-- Never the key itself: its lower-case hex SHA-256 (`hash`, unique: the look-up of every
-- authenticated request), the few first characters to recognise it by (`prefix`), its mode,
-- and when it was created and revoked (Unix seconds; `revoked` is NULL while the key works).
-- Plain columns rather than a JSON body: every one of them is read or matched.
-- `seq` numbers rows in insertion order; the list is oldest first by (created, seq), a scan of
-- `api_keys_by_created` with no sort. A revoked key keeps its row, so its id and hash stay taken.
CREATE TABLE api_keys (
    id      TEXT COLLATE "C" PRIMARY KEY,
    seq     BIGINT GENERATED ALWAYS AS IDENTITY,
    hash    TEXT COLLATE "C" NOT NULL UNIQUE,
    mode    TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    prefix  TEXT NOT NULL,
    created BIGINT NOT NULL,
    revoked BIGINT
);
CREATE INDEX api_keys_by_created ON api_keys (created, seq);
