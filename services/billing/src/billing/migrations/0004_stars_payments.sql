-- Top-ups paid with Telegram Stars. An order is what the invoice sells (its id is the invoice
-- payload): the kopecks to credit and the Stars to charge, both fixed by billing when it is made.
-- Paying credits the order's amount once (ledger kind 'payment', keyed by Telegram's charge id);
-- refunding debits it once (kind 'payment_refund', same key).
CREATE TABLE payment_orders (
    order_id    text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (user_id),
    method      text NOT NULL CHECK (method IN ('stars')),
    amount      bigint NOT NULL CHECK (amount > 0),       -- kopecks credited when paid
    price       bigint NOT NULL CHECK (price > 0),        -- in the method's currency: Stars
    status      text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'PAID', 'REFUNDED')),
    charge_id   text UNIQUE,                              -- telegram_payment_charge_id
    created_at  timestamptz NOT NULL DEFAULT now(),
    paid_at     timestamptz,
    refunded_at timestamptz,
    CONSTRAINT payment_orders_paid_has_charge CHECK ((status = 'PENDING') = (charge_id IS NULL))
);
CREATE INDEX payment_orders_by_user ON payment_orders (user_id, created_at DESC);

ALTER TABLE ledger ADD COLUMN external_id text;
ALTER TABLE ledger DROP CONSTRAINT ledger_kind_shape;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_shape CHECK (
    (kind = 'welcome' AND delta_balance >= 0 AND delta_reserved = 0 AND job_id IS NULL)
    OR (kind = 'topup' AND delta_balance > 0 AND delta_reserved = 0 AND job_id IS NULL
        AND admin_id IS NOT NULL AND request_id IS NOT NULL)
    OR (kind = 'hold' AND delta_balance = 0 AND delta_reserved >= 0 AND job_id IS NOT NULL)
    OR (kind = 'release' AND delta_balance = 0 AND delta_reserved <= 0 AND job_id IS NOT NULL)
    OR (kind = 'charge' AND delta_balance = delta_reserved AND delta_balance <= 0 AND job_id IS NOT NULL)
    OR (kind = 'refund' AND delta_balance >= 0 AND delta_reserved = 0 AND job_id IS NOT NULL)
    OR (kind = 'payment' AND delta_balance > 0 AND delta_reserved = 0 AND job_id IS NULL
        AND external_id IS NOT NULL)
    OR (kind = 'payment_refund' AND delta_balance < 0 AND delta_reserved = 0 AND job_id IS NULL
        AND external_id IS NOT NULL)
);
-- The database itself refuses a second credit or a second refund of one payment.
CREATE UNIQUE INDEX ledger_one_payment ON ledger (external_id) WHERE kind = 'payment';
CREATE UNIQUE INDEX ledger_one_payment_refund ON ledger (external_id) WHERE kind = 'payment_refund';
