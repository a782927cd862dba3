-- The journal's kinds, as `domain::ledger::JournalKind::as_str` names them (the ledger
-- functions write `reserve`, `capture` and `expire` by those names too): every other
-- stored name has a CHECK; the journal's was the one left. The migration runs in one
-- transaction, so the check of the rows already there holds the table's lock while it
-- scans: on a long journal, run it when writes are quiet (README, "Upgrades").
ALTER TABLE journal ADD CONSTRAINT journal_kind_known
    CHECK (kind IN ('grant', 'debit', 'expire', 'reserve', 'capture', 'release', 'hold_expired', 'refund'));
