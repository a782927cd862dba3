-- Which Stripe customer is which account: written when the app creates the customer, before
-- any checkout, so every subscription and invoice event finds its account by its customer.
CREATE TABLE stripe_customers (
    account_id   INTEGER PRIMARY KEY REFERENCES accounts (id),
    customer_id  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    -- When the subscription state last applied was made (the event's time), so an older
    -- state delivered late is ignored.
    state_at     INTEGER,
    CONSTRAINT stripe_customers_customer_unique UNIQUE (customer_id)
);
