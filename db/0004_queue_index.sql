-- 0004_queue_index.sql - one index fewer to keep up while sending.
-- Every claim and every outcome changes a delivery's state, and each index
-- on the state is rewritten each time. The senders and the scheduler look
-- deliveries up by issue and state (deliveries_issue_due, 0002); nothing
-- looks them up by state alone any more, so deliveries_due only cost
-- writes (about 7 % of the daemon's CPU per message sent).
DROP INDEX deliveries_due;
