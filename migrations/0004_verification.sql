-- Issue 5: every message's sender verification, as inspect and show report it.
ALTER TABLE messages ADD COLUMN verification_json TEXT;
-- Counting one sender's messages per hour (bursts are reported as incidents).
CREATE INDEX messages_by_sender ON messages(from_addr, internal_date);
