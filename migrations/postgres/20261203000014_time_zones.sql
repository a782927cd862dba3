-- The time zone a user reads times in (an IANA name, checked by the app against the tz
-- database); NULL until they choose one or their browser offers its own.
ALTER TABLE users ADD COLUMN time_zone TEXT;
