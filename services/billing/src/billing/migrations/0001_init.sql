-- Users, their accounts, the ledger of every money movement and the paid operations (jobs).
-- Money is bigint kopecks. The invariant is documented in billing/ledger.py.

CREATE TABLE users (
    user_id    bigint PRIMARY KEY,           -- Telegram user id
    username   text,
    first_name text,
    is_blocked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    user_id  bigint PRIMARY KEY REFERENCES users (user_id),
    balance  bigint NOT NULL,
    reserved bigint NOT NULL DEFAULT 0,
    -- available = balance - reserved can never go below zero, whatever the application does.
    CONSTRAINT accounts_reserved_within_balance CHECK (reserved >= 0 AND reserved <= balance)
);

CREATE TABLE operations (
    job_id         text PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (user_id),
    chat_id        bigint NOT NULL,
    mode           text NOT NULL,
    model_id       text NOT NULL,
    price          bigint NOT NULL CHECK (price >= 0),
    status         text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'CHARGED', 'FAILED')),
    failure_reason text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deadline_at    timestamptz NOT NULL
);
CREATE INDEX operations_user_history ON operations (user_id, created_at DESC, job_id DESC);
CREATE INDEX operations_pending_deadline ON operations (deadline_at) WHERE status = 'PENDING';

CREATE TABLE ledger (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (user_id),
    kind           text NOT NULL,
    delta_balance  bigint NOT NULL,
    delta_reserved bigint NOT NULL,
    job_id         text REFERENCES operations (job_id),
    admin_id       bigint,
    request_id     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Each kind moves money in exactly one way (see billing/ledger.py).
    CONSTRAINT ledger_kind_shape CHECK (
        (kind = 'welcome' AND delta_balance >= 0 AND delta_reserved = 0 AND job_id IS NULL)
        OR (kind = 'topup' AND delta_balance > 0 AND delta_reserved = 0 AND job_id IS NULL
            AND admin_id IS NOT NULL AND request_id IS NOT NULL)
        OR (kind = 'hold' AND delta_balance = 0 AND delta_reserved >= 0 AND job_id IS NOT NULL)
        OR (kind = 'release' AND delta_balance = 0 AND delta_reserved <= 0 AND job_id IS NOT NULL)
        OR (kind = 'charge' AND delta_balance = delta_reserved AND delta_balance <= 0 AND job_id IS NOT NULL)
    )
);
-- The database itself refuses a second welcome credit, a replayed top-up, a second hold of a job,
-- and a job that is both charged and released (or charged twice).
CREATE UNIQUE INDEX ledger_one_welcome ON ledger (user_id) WHERE kind = 'welcome';
CREATE UNIQUE INDEX ledger_topup_request ON ledger (request_id) WHERE kind = 'topup';
CREATE UNIQUE INDEX ledger_one_hold ON ledger (job_id) WHERE kind = 'hold';
CREATE UNIQUE INDEX ledger_one_outcome ON ledger (job_id) WHERE kind IN ('charge', 'release');
