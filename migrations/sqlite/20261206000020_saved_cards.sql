-- P16: when the saved card was set up (a Stripe PaymentIntent's `created`, or the local
-- checkout's event time). A card is replaced only by one set up at the same time or later,
-- so Stripe's events arriving out of order never bring back an older card.
ALTER TABLE auto_top_up_settings ADD COLUMN card_saved_at INTEGER;

-- A top-up bought with "save this card for automatic top-ups" (P16): Stripe's Checkout
-- sets the card up for later charges; the local checkout says so and does the same.
ALTER TABLE payments ADD COLUMN saves_card INTEGER NOT NULL DEFAULT 0 CHECK (saves_card IN (0, 1));
