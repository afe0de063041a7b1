-- Promo codes, referral bonuses and the provider cost of each job (for /stats).
--
-- Two new ledger kinds, each a credit keyed by what caused it (external_id, unique per kind):
--   promo     'promo:<promo_id>:<user_id>'  one per redemption (a user redeems a code once)
--   referral  'referral:<referred user_id>'  one per referred user, when they first pay
-- The kinds are added to whatever shape the ledger already has (its CHECK is extended, not
-- rewritten), so this migration composes with others that add kinds of their own.

CREATE TABLE promo_codes (
    promo_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    amount     bigint NOT NULL CHECK (amount > 0),
    max_uses   integer NOT NULL CHECK (max_uses > 0),
    uses       integer NOT NULL DEFAULT 0,
    expires_at timestamptz,
    created_by bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- However many redeem at once, no more than max_uses ever do.
    CONSTRAINT promo_codes_uses_within_limit CHECK (uses >= 0 AND uses <= max_uses)
);

-- One redemption per user and code, whatever the application does.
CREATE TABLE promo_redemptions (
    promo_id    bigint NOT NULL REFERENCES promo_codes (promo_id),
    user_id     bigint NOT NULL REFERENCES users (user_id),
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promo_id, user_id)
);

-- Who brought a user. The bonus is fixed (billing's setting) when the referral is recorded and paid
-- to the referrer once, when the user's first payment is credited (rewarded_at set).
CREATE TABLE referrals (
    user_id     bigint PRIMARY KEY REFERENCES users (user_id),
    referrer_id bigint NOT NULL REFERENCES users (user_id),
    bonus       bigint NOT NULL CHECK (bonus > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    rewarded_at timestamptz,
    CONSTRAINT referrals_not_self CHECK (user_id <> referrer_id)
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id);

DO $$
DECLARE
    shape text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT shape FROM pg_constraint
    WHERE conrelid = 'ledger'::regclass AND conname = 'ledger_kind_shape';
    -- shape is 'CHECK (<expression>)': keep the expression, add the two kinds.
    shape := substring(shape FROM '^CHECK \((.*)\)$');
    EXECUTE 'ALTER TABLE ledger DROP CONSTRAINT ledger_kind_shape';
    EXECUTE 'ALTER TABLE ledger ADD CONSTRAINT ledger_kind_shape CHECK ((' || shape || ')'
        || ' OR (kind IN (''promo'', ''referral'') AND delta_balance > 0 AND delta_reserved = 0'
        || ' AND job_id IS NULL AND external_id IS NOT NULL))';
END $$;
CREATE UNIQUE INDEX ledger_one_promo ON ledger (external_id) WHERE kind = 'promo';
CREATE UNIQUE INDEX ledger_one_referral ON ledger (external_id) WHERE kind = 'referral';
-- /stats sums the ledger by period.
CREATE INDEX ledger_by_time ON ledger (created_at);

-- The referral hook sits on the ledger itself: whatever credits a payment (Telegram Stars today, any
-- other method tomorrow) writes a 'payment' row, and the user's first one pays their referrer's bonus
-- in the same transaction. The conditional update of the referral row lets only one payment pay it;
-- the unique index above backs that up.
CREATE FUNCTION ledger_reward_referrer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referrer bigint;
    amount   bigint;
BEGIN
    UPDATE referrals SET rewarded_at = now()
    WHERE user_id = NEW.user_id AND rewarded_at IS NULL
    RETURNING referrer_id, bonus INTO referrer, amount;
    IF FOUND THEN
        INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, external_id)
        VALUES (referrer, 'referral', amount, 0, 'referral:' || NEW.user_id);
        UPDATE accounts SET balance = balance + amount WHERE user_id = referrer;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_payment_rewards_referrer AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind = 'payment') EXECUTE FUNCTION ledger_reward_referrer();

-- What the provider bills for a job (kopecks at billing's dollar rate, list prices), fixed when
-- the job is reserved; /stats sums it over charged jobs.
ALTER TABLE operations ADD COLUMN provider_cost bigint NOT NULL DEFAULT 0 CHECK (provider_cost >= 0);
