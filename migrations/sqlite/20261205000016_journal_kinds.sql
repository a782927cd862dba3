-- The journal's kinds, as `domain::ledger::JournalKind::as_str` names them: every other
-- stored name has a CHECK; the journal's was the one left. SQLite cannot add a CHECK to
-- a table, and the journal is append-only (its triggers refuse UPDATE and DELETE), so a
-- trigger refuses an entry of another kind.
CREATE TRIGGER journal_kind_known BEFORE INSERT ON journal
WHEN NEW.kind NOT IN ('grant', 'debit', 'expire', 'reserve', 'capture', 'release', 'hold_expired', 'refund')
BEGIN SELECT RAISE(ABORT, 'unknown journal kind'); END;
