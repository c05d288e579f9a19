-- Issue 6: what a large backlog looks up for every message.

-- One organisation's answers in a ballot (whose answer stands, for the receipt).
CREATE INDEX votes_by_org ON votes(ballot_id, org_id);

-- The Message-ID of the reply a vote came from, beside the vote: reading an
-- organisation's answers then touches no message row (each a page of raw mail).
ALTER TABLE votes ADD COLUMN message_id TEXT;
UPDATE votes SET message_id = (SELECT m.message_id FROM messages m WHERE m.id = votes.message_row);
