-- 0009_trials.sql - paid periods with an end: the free trial the call to
-- action offers (the /trial page), and paid periods a payment system sets
-- from outside (broadside subscriber set EMAIL --tier paid --until TIME).
--
-- paid_until: when tier 'paid' ends (the daemon then sets the reader back
-- to 'free', with an event); NULL: no end (or free). paid_kind says what
-- the period is: 'trial' or 'period'. trial_at: when the reader's one
-- trial started (NULL: never); kept for ever, so a reader gets one trial.
ALTER TABLE subscribers ADD COLUMN paid_until INTEGER;
ALTER TABLE subscribers ADD COLUMN paid_kind TEXT CHECK (paid_kind IN ('trial', 'period'));
ALTER TABLE subscribers ADD COLUMN trial_at INTEGER;
CREATE INDEX subscribers_paid_until ON subscribers (paid_until) WHERE paid_until IS NOT NULL;
