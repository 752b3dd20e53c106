-- 0002_delivery.sql - indexes of the delivery engine: claiming the due
-- deliveries of one issue, and the sending rate over recent sends.

CREATE INDEX deliveries_issue_due ON deliveries (issue_id, state, next_attempt_at);
CREATE INDEX deliveries_sent_at ON deliveries (sent_at);
