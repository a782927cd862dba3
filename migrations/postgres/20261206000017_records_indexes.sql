-- Your records (P18): a download reads an account's generations and payments in the order
-- of their time, a page after another (`server::db::records`), each page starting after
-- the last row sent. These indexes give each page in that order, so a long download costs
-- one read per row instead of the account's whole history per page.
CREATE INDEX holds_account_created ON holds (account_id, created_at, id);
CREATE INDEX payments_account_created ON payments (account_id, created_at, id);
