-- Refunds: a CHARGED job whose result could not be delivered gets its price back, once.
-- The operation becomes REFUNDED; its ledger rows are then hold + charge + refund.
ALTER TABLE operations DROP CONSTRAINT operations_status_check;
ALTER TABLE operations ADD CONSTRAINT operations_status_check
    CHECK (status IN ('PENDING', 'CHARGED', 'FAILED', 'REFUNDED'));

ALTER TABLE ledger DROP CONSTRAINT ledger_kind_shape;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_shape CHECK (
    (kind = 'welcome' AND delta_balance >= 0 AND delta_reserved = 0 AND job_id IS NULL)
    OR (kind = 'topup' AND delta_balance > 0 AND delta_reserved = 0 AND job_id IS NULL
        AND admin_id IS NOT NULL AND request_id IS NOT NULL)
    OR (kind = 'hold' AND delta_balance = 0 AND delta_reserved >= 0 AND job_id IS NOT NULL)
    OR (kind = 'release' AND delta_balance = 0 AND delta_reserved <= 0 AND job_id IS NOT NULL)
    OR (kind = 'charge' AND delta_balance = delta_reserved AND delta_balance <= 0 AND job_id IS NOT NULL)
    OR (kind = 'refund' AND delta_balance >= 0 AND delta_reserved = 0 AND job_id IS NOT NULL)
);
CREATE UNIQUE INDEX ledger_one_refund ON ledger (job_id) WHERE kind = 'refund';

-- /history reads the user's ledger, newest first.
CREATE INDEX ledger_by_user ON ledger (user_id, id DESC);
