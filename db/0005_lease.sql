-- 0005_lease.sql - leases that cannot double-send, poison, and why an issue
-- was paused.
-- lease_token: a random number per claim; every outcome and release is
-- written only WHERE lease_owner and lease_token are still the claim's, so
-- a copy that another claim took over is never recorded twice.
-- faults: how often the relay dropped or refused the connection while this
-- copy was on the wire (421 at DATA or after the final dot, a drop
-- mid-DATA). From the second time on it is the copy's fault (poison), not
-- the relay's: it counts as an attempt and follows the normal backoff.
ALTER TABLE deliveries ADD COLUMN lease_token INTEGER;
ALTER TABLE deliveries ADD COLUMN faults INTEGER NOT NULL DEFAULT 0;
-- The reason the daemon paused an issue (a copy that cannot be rendered or
-- signed, a bounce rate), shown by 'issue show' and 'stats'.
ALTER TABLE issues ADD COLUMN pause_reason TEXT;
