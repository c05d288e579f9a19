-- Issue 5, the audit trail's gaps: its head, and incidents merged in a flood.

-- The last event appended, kept in the same transaction as every append: removing
-- events from the end of the chain leaves a head that names an event that is gone.
-- `checks_from` is the last event before this migration: rows recorded before it
-- carry none of the newer evidence (content hashes, mail_sent events), and `audit
-- verify` does not ask them for it.
CREATE TABLE audit_head (
    one             INTEGER PRIMARY KEY CHECK (one = 1),
    last_id         INTEGER NOT NULL,
    last_hash       TEXT NOT NULL,
    checks_from     INTEGER NOT NULL
);
INSERT INTO audit_head (one, last_id, last_hash, checks_from)
    SELECT 1, id, hash, id FROM events ORDER BY id DESC LIMIT 1;

-- An incident raised while the same kind was already reported more often than the
-- burst threshold within the hour: recorded, and covered by the mail of this one.
ALTER TABLE incidents ADD COLUMN merged_into INTEGER REFERENCES incidents(id);
