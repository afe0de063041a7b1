-- Top-ups paid through YooKassa (card, SBP), in the Stars orders table. The order id is the
-- payment's Idempotence-Key and travels in its metadata; payment_id is YooKassa's id once the
-- payment exists. Paying credits the order's amount once (ledger kind 'payment' keyed by the
-- payment id, which becomes the order's charge_id, as Stars' charge ids do); a canceled payment
-- ends the order CANCELLED; a refund debits once (kind 'payment_refund', same key). For YooKassa
-- the price is the amount itself (kopecks of rubles).
ALTER TABLE users ADD COLUMN email text;  -- where YooKassa's 54-FZ receipts go; /delete_me drops it

ALTER TABLE payment_orders
    DROP CONSTRAINT payment_orders_method_check,
    ADD CONSTRAINT payment_orders_method_check CHECK (method IN ('stars', 'yookassa')),
    DROP CONSTRAINT payment_orders_status_check,
    ADD CONSTRAINT payment_orders_status_check
        CHECK (status IN ('PENDING', 'PAID', 'REFUNDED', 'CANCELLED')),
    DROP CONSTRAINT payment_orders_paid_has_charge,
    ADD CONSTRAINT payment_orders_paid_has_charge
        CHECK ((status IN ('PENDING', 'CANCELLED')) = (charge_id IS NULL)),
    ADD COLUMN payment_id text UNIQUE,
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN checked_at timestamptz,  -- the reconcile's last look at YooKassa
    ADD CONSTRAINT payment_orders_yookassa_shape CHECK (
        method <> 'yookassa'
        OR (price = amount AND (charge_id IS NULL OR charge_id = payment_id))
    );

-- The reconcile takes the pending YooKassa orders it looked at least recently.
CREATE INDEX payment_orders_yookassa_pending ON payment_orders (checked_at NULLS FIRST, created_at)
    WHERE status = 'PENDING' AND method = 'yookassa';
