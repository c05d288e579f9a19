-- Issue 6: what a large backlog looks up for every message.

-- One organisation's answers in a ballot (whose answer stands, for the receipt).
CREATE INDEX votes_by_org ON votes(ballot_id, org_id);
