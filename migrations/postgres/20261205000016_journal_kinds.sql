-- The journal's kinds, as `domain::ledger::JournalKind::as_str` names them (the ledger
-- functions write `reserve`, `capture` and `expire` by those names too): every other
-- stored name has a CHECK; the journal's was the one left. Added NOT VALID and validated
-- after, so a long journal is checked without blocking its writers.
ALTER TABLE journal ADD CONSTRAINT journal_kind_known
    CHECK (kind IN ('grant', 'debit', 'expire', 'reserve', 'capture', 'release', 'hold_expired', 'refund'))
    NOT VALID;
ALTER TABLE journal VALIDATE CONSTRAINT journal_kind_known;
