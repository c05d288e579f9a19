-- Issue 5: exactly-once sending, disputes, incidents.

-- When a send began whose outcome is not known yet (the process may have died
-- between the relay's acceptance and marking the mail sent). Before sending
-- again, the worker looks for the bot's own copy of that Message-ID.
ALTER TABLE outbox ADD COLUMN sending_since TEXT;

-- The receipt that acknowledged a vote, so a reply to it can dispute that vote.
ALTER TABLE votes ADD COLUMN receipt_id TEXT;
CREATE INDEX votes_by_receipt ON votes(receipt_id);

-- "身に覚えがない": a member says a recorded vote was not theirs. While open (or
-- upheld) the vote does not count; an admin decides.
CREATE TABLE disputes (
    id              INTEGER PRIMARY KEY,
    vote_id         INTEGER NOT NULL UNIQUE REFERENCES votes(id),
    ballot_id       INTEGER NOT NULL REFERENCES ballots(id),
    opened_at       TEXT NOT NULL,
    message_row     INTEGER NOT NULL REFERENCES messages(id),
    state           TEXT NOT NULL CHECK (state IN ('open', 'upheld', 'dismissed')),
    resolved_at     TEXT,
    resolved_by     TEXT,
    note            TEXT
);

-- Security incidents reported to the security contact (the incident regulation:
-- report without delay, keep the record).
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    ballot_id       INTEGER REFERENCES ballots(id),
    message_row     INTEGER REFERENCES messages(id),
    summary         TEXT NOT NULL,
    detail_json     TEXT NOT NULL
);
