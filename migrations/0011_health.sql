-- Issue 21: what an admin or a monitor asks of a daemon nobody watches
-- (`mail-ballot status`, the alerts by mail). One row per part of the daemon
-- that can fail on its own ("mailbox"): its last error and since when it has
-- been failing (NULL once it works again), and whether the admins were alerted
-- (so the all-clear goes once, and alerts are rate-limited).
CREATE TABLE health (
    component     TEXT PRIMARY KEY,
    failing_since TEXT,
    error         TEXT,
    error_at      TEXT,
    alerting      INTEGER NOT NULL DEFAULT 0,
    alerted_at    TEXT
);
