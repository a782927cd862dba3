-- The plan an account is on (an id from the catalog); NULL when it has none. The plan life
-- cycle (subscribe, change, cancel, renew) will keep it in step.
ALTER TABLE accounts ADD COLUMN plan_id TEXT;
