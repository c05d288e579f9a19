-- Issue 6: a backlog's batches each loaded every ballot they touched, with its
-- roster (3 % of a poll's CPU, most of it parsing the rosters' JSON). A ballot
-- loaded by one batch is reused by the next while this counter is unchanged.
-- Every write to the two tables a ballot is loaded from (Store::load_ballot_tx)
-- bumps it, in the writer's own transaction, whichever process writes.
-- (PRAGMA data_version would not do: it is per connection, and each batch takes
-- one from the pool.)
CREATE TABLE ballot_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO ballot_generation (id, n) VALUES (1, 0);

CREATE TRIGGER ballots_insert_generation AFTER INSERT ON ballots
BEGIN UPDATE ballot_generation SET n = n + 1; END;
CREATE TRIGGER ballots_update_generation AFTER UPDATE ON ballots
BEGIN UPDATE ballot_generation SET n = n + 1; END;
CREATE TRIGGER ballots_delete_generation AFTER DELETE ON ballots
BEGIN UPDATE ballot_generation SET n = n + 1; END;
CREATE TRIGGER rounds_insert_generation AFTER INSERT ON rounds
BEGIN UPDATE ballot_generation SET n = n + 1; END;
CREATE TRIGGER rounds_update_generation AFTER UPDATE ON rounds
BEGIN UPDATE ballot_generation SET n = n + 1; END;
CREATE TRIGGER rounds_delete_generation AFTER DELETE ON rounds
BEGIN UPDATE ballot_generation SET n = n + 1; END;
