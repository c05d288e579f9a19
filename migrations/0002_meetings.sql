-- Issue 4: the chair who breaks ties, the committee's meetings, and the digests
-- sent to the secretariat (so a reply saying 確認済 knows what it confirms).

ALTER TABLE ballots ADD COLUMN chair TEXT;          -- organisation id, snapshotted at opening

CREATE TABLE meetings (
    date            TEXT PRIMARY KEY,               -- YYYY-MM-DD
    note            TEXT,
    added_at        TEXT NOT NULL,
    added_by        TEXT NOT NULL
);

CREATE TABLE digests (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    meeting         TEXT,                           -- the meeting it was for, if known
    sent_at         TEXT NOT NULL,
    ballots_json    TEXT NOT NULL,                  -- the references it listed, in order
    trigger         TEXT NOT NULL                   -- 'schedule' or the admin who asked
);
