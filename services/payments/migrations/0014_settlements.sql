-- Settlement reconciliation (issue #16): a run compares what a provider says it settled
-- over a period with what Micro and its ledger recorded, and keeps every line it found.
CREATE TABLE reconciliations (
    id              text COLLATE "C" PRIMARY KEY,
    tenant_id       text COLLATE "C" NOT NULL,
    livemode        boolean NOT NULL,
    provider        text NOT NULL,
    -- Where the provider's side came from: its API, or a settlement file the tenant sent.
    source          text NOT NULL CHECK (source IN ('api', 'csv')),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL CHECK (period_end > period_start),
    status          text NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    failure_message text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX reconciliations_tenant_idx ON reconciliations (tenant_id, livemode, id);

-- One finding of a run; `seq` keeps the order it was found in (and pages the lines).
CREATE TABLE reconciliation_lines (
    reconciliation_id text COLLATE "C" NOT NULL REFERENCES reconciliations (id),
    seq             integer NOT NULL,
    kind            text NOT NULL
        CHECK (kind IN ('MATCHED', 'MISMATCHED', 'MISSING_IN_MICRO', 'MISSING_AT_PROVIDER')),
    -- charge | refund | transfer
    object_type     text NOT NULL,
    reference       text NOT NULL,
    -- The Micro object (pi_, re_, po_) the line is about, when there is one.
    micro_id        text,
    provider_id     text,
    -- For MISMATCHED: which of amount, currency, status, ledger disagreed (comma-separated).
    fields          text,
    provider_amount bigint,
    micro_amount    bigint,
    provider_currency text,
    micro_currency  text,
    provider_status text,
    micro_status    text,
    PRIMARY KEY (reconciliation_id, seq)
);
CREATE INDEX reconciliation_lines_kind_idx ON reconciliation_lines (reconciliation_id, kind, seq);

-- The simulator's own book of what it charged and paid out, written by the simulator when
-- it answers (never derived from Micro's intents), so reconciling a local stack against it
-- checks Micro's records against a second witness.
CREATE TABLE simulator_journal (
    tenant_id   text COLLATE "C" NOT NULL,
    livemode    boolean NOT NULL,
    -- charge | refund | transfer
    kind        text NOT NULL,
    reference   text COLLATE "C" NOT NULL,
    -- A refund's: the reference of the charge it gives back.
    charge      text,
    amount      bigint NOT NULL,
    currency    text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, reference)
);
CREATE INDEX simulator_journal_period_idx ON simulator_journal (tenant_id, livemode, created_at);

-- Runs are recorded, then completed once; lines are only added; the simulator's book entry
-- changes status when the simulated customer answers.
GRANT SELECT, INSERT, UPDATE ON reconciliations, simulator_journal TO :"app_role";
GRANT SELECT, INSERT ON reconciliation_lines TO :"app_role";
