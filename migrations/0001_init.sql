-- mail-ballot schema, version 1.
-- Timestamps are UTC text of fixed width (2026-11-22T03:23:14.000000Z), so that
-- ordering strings orders time and an admin can read them with sqlite3.
-- Nothing here is ever deleted: votes are superseded, late, disputed; ballots are
-- cancelled; every message the bot read is kept with its raw bytes.

CREATE TABLE ballots (
    id              INTEGER PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,           -- B-2026-007
    year            INTEGER NOT NULL,
    number          INTEGER NOT NULL,
    title           TEXT NOT NULL,
    motion          TEXT NOT NULL,
    kind            TEXT,
    profile_json    TEXT NOT NULL,                  -- the rule, copied when it opened
    roster_json     TEXT NOT NULL,                  -- the roster, copied when it opened
    state           TEXT NOT NULL CHECK (state IN ('open', 'closed', 'cancelled')),
    outcome         TEXT CHECK (outcome IN ('approved', 'rejected', 'not_valid')),
    opened_at       TEXT NOT NULL,
    opened_by       TEXT NOT NULL,
    closed_at       TEXT,
    cancel_reason   TEXT,
    ratification_json TEXT NOT NULL,
    UNIQUE (year, number)
);

CREATE TABLE rounds (
    ballot_id       INTEGER NOT NULL REFERENCES ballots(id),
    number          INTEGER NOT NULL,
    opened_at       TEXT NOT NULL,
    deadline        TEXT NOT NULL,
    closed_at       TEXT,
    tally_json      TEXT,
    PRIMARY KEY (ballot_id, number)
);

-- Every message read from the mailbox, whatever became of it.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,                  -- which mailbox
    source_key      TEXT NOT NULL,                  -- uid:<uidvalidity>:<uid>, or a Maildir file name
    message_id      TEXT,                           -- header value without <>
    content_hash    TEXT NOT NULL,                  -- sha256 of the raw bytes
    internal_date   TEXT NOT NULL,                  -- the server's INTERNALDATE
    processed_at    TEXT NOT NULL,
    from_addr       TEXT,
    subject         TEXT,
    size            INTEGER NOT NULL,
    raw             BLOB NOT NULL,
    ballot_id       INTEGER REFERENCES ballots(id),
    disposition     TEXT NOT NULL,                  -- what the bot did with it
    reason          TEXT NOT NULL,                  -- one sentence
    reading_json    TEXT,
    UNIQUE (source, source_key)
);
CREATE INDEX messages_by_message_id ON messages(message_id);
CREATE INDEX messages_by_hash ON messages(content_hash);
CREATE INDEX messages_by_ballot ON messages(ballot_id);

CREATE TABLE votes (
    id              INTEGER PRIMARY KEY,
    ballot_id       INTEGER NOT NULL REFERENCES ballots(id),
    round           INTEGER NOT NULL,
    org_id          TEXT NOT NULL,
    position        TEXT NOT NULL CHECK (position IN ('yes', 'no', 'abstain', 'delegate')),
    voter           TEXT NOT NULL,
    cast_at         TEXT NOT NULL,                  -- INTERNALDATE, never the Date header
    message_row     INTEGER NOT NULL REFERENCES messages(id),
    status          TEXT NOT NULL CHECK (status IN ('valid', 'late')),
    recorded_at     TEXT NOT NULL
);
CREATE INDEX votes_by_ballot ON votes(ballot_id, round);

-- The transactional outbox: a mail is queued in the same transaction as the
-- state change that causes it, and sent later by the outbox worker.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,           -- stable: a retry sends the same Message-ID
    kind            TEXT NOT NULL,
    ballot_id       INTEGER REFERENCES ballots(id),
    envelope_from   TEXT NOT NULL,
    recipients_json TEXT NOT NULL,
    raw             BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    failed_at       TEXT,                           -- the server refused it for good (5xx): not retried
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(sent_at, failed_at, next_attempt_at);

-- Where reading stopped, per mailbox.
CREATE TABLE cursors (
    source          TEXT PRIMARY KEY,
    uidvalidity     INTEGER NOT NULL,
    last_uid        INTEGER NOT NULL,
    synced_at       TEXT                            -- start of the last pass that reached the end of the mailbox
);

-- The audit trail: every event, hash-chained (hash = sha256(prev_hash || body)).
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    ballot          TEXT,
    actor           TEXT NOT NULL,
    detail_json     TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
