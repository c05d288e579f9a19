-- Issue 6: every counted answer reads its organisation's earlier answers to the
-- ballot. Through votes_by_org each of them was a row of `votes` on a page of its
-- own (answers arrive over days, interleaved with everyone else's): at 100,000
-- messages, dozens of page reads per answer. This index holds every column that
-- lookup reads, in the order it wants them, so it reads a few adjacent index
-- pages and no table page at all.
CREATE INDEX votes_by_org_answers ON votes(
    ballot_id, org_id, message_row, id, round, position, cast_at, status, voter, message_id
);
DROP INDEX votes_by_org;
