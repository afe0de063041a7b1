-- Variants: a job may ask its model for several images (1–4) at one price per image. Its price (and
-- hold) is per image × images; when fewer images come back, the charge that settles it is followed
-- in the same statement by a 'partial_refund' row giving the missing images' price back, once.
-- A later refund of the whole job (undeliverable) gives back only what is still charged.
ALTER TABLE operations ADD COLUMN images integer NOT NULL DEFAULT 1;
ALTER TABLE operations ADD COLUMN delivered integer;  -- images delivered, set when charged
ALTER TABLE operations ADD CONSTRAINT operations_images_priced
    CHECK (images BETWEEN 1 AND 4 AND price % images = 0
           AND (delivered IS NULL OR delivered BETWEEN 1 AND images));

DO $$
DECLARE
    shape text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT shape FROM pg_constraint
    WHERE conrelid = 'ledger'::regclass AND conname = 'ledger_kind_shape';
    -- shape is 'CHECK (<expression>)': keep the expression, add the kind (as 0007 does).
    shape := substring(shape FROM '^CHECK \((.*)\)$');
    EXECUTE 'ALTER TABLE ledger DROP CONSTRAINT ledger_kind_shape';
    EXECUTE 'ALTER TABLE ledger ADD CONSTRAINT ledger_kind_shape CHECK ((' || shape || ')'
        || ' OR (kind = ''partial_refund'' AND delta_balance > 0 AND delta_reserved = 0'
        || ' AND job_id IS NOT NULL))';
END $$;
CREATE UNIQUE INDEX ledger_one_partial_refund ON ledger (job_id) WHERE kind = 'partial_refund';
