-- Issue 17: the bot's Message-IDs were the same in every installation and
-- could be predicted (`<b-2026-001.r1.announce@domain>`), so a stranger could
-- plant a message with a future Message-ID and make the outbox believe an
-- interrupted send had got through. Each Message-ID now ends in a tag keyed by
-- this installation's secret (outbox::MessageIdKey): stable for the life of the
-- database (a retry sends the very same Message-ID, a reply's References still
-- find the announcement), unknown outside it, different in every installation.
-- SQLite's randomblob() draws from its CSPRNG (ChaCha20, seeded from the
-- operating system's randomness), inside the migration's exclusive transaction,
-- so two processes opening a new database together agree on one key.
CREATE TABLE installation (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    message_id_key TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
INSERT INTO installation (id, message_id_key, created_at)
VALUES (1, lower(hex(randomblob(32))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
