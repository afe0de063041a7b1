-- The job a reservation holds money for, so billing can publish it again when the caller died
-- between reserving and publishing (see billing/handoff.py).
ALTER TABLE operations ADD COLUMN job jsonb;
ALTER TABLE operations ADD COLUMN handoff_checked_at timestamptz;
CREATE INDEX operations_handoff_due ON operations (created_at)
    WHERE status = 'PENDING' AND job IS NOT NULL AND handoff_checked_at IS NULL;
