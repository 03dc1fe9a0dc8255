-- agenthost schema, version 1. Applied at startup under an advisory lock; every statement is
-- idempotent so replicas starting together all come up.
CREATE TABLE IF NOT EXISTS agenthost_responses (
    id           text PRIMARY KEY,
    user_key     text NOT NULL,
    conversation text,
    previous     text,
    failed       boolean NOT NULL DEFAULT false,
    response     jsonb,
    input        jsonb,
    -- Its conversation's items before this sequence number are its history.
    conv_mark    bigint NOT NULL DEFAULT 0,
    deleted      boolean NOT NULL DEFAULT false,
    written_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS agenthost_responses_written ON agenthost_responses (written_at);

-- Item id -> owning response, for item references.
CREATE TABLE IF NOT EXISTS agenthost_items (
    item_id     text PRIMARY KEY,
    response_id text NOT NULL REFERENCES agenthost_responses (id) ON DELETE CASCADE,
    user_key    text NOT NULL
);
CREATE INDEX IF NOT EXISTS agenthost_items_response ON agenthost_items (response_id);

CREATE TABLE IF NOT EXISTS agenthost_conversations (
    user_key   text NOT NULL,
    id         text NOT NULL,
    body       jsonb NOT NULL,
    next_seq   bigint NOT NULL DEFAULT 0,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_key, id)
);
CREATE INDEX IF NOT EXISTS agenthost_conversations_written ON agenthost_conversations (written_at);

CREATE TABLE IF NOT EXISTS agenthost_conversation_items (
    user_key     text NOT NULL,
    conversation text NOT NULL,
    seq          bigint NOT NULL,
    item_id      text NOT NULL,
    response_id  text,
    item         jsonb NOT NULL,
    PRIMARY KEY (user_key, conversation, seq),
    FOREIGN KEY (user_key, conversation) REFERENCES agenthost_conversations (user_key, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS agenthost_conversation_items_response
    ON agenthost_conversation_items (user_key, conversation, response_id);

-- Version 2: run leases. An unfinished response holds a lease its replica renews; once it
-- lapses (the replica died) any replica ends the response `failed` with `run_lost`.
ALTER TABLE agenthost_responses ADD COLUMN IF NOT EXISTS lease_until timestamptz;
CREATE INDEX IF NOT EXISTS agenthost_responses_lease ON agenthost_responses (lease_until)
    WHERE lease_until IS NOT NULL;

-- Version 3: conversation claims across replicas. A response running on a conversation holds it
-- (`claimed_by`) until it ends or its lease lapses, so two replicas never interleave one
-- conversation's turns.
ALTER TABLE agenthost_conversations ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE agenthost_conversations ADD COLUMN IF NOT EXISTS claimed_until timestamptz;

-- Version 4: the events of background streaming responses, so any replica can replay them
-- (`GET /responses/{id}?stream=true`) while the owning replica runs them and after.
CREATE TABLE IF NOT EXISTS agenthost_events (
    response_id text NOT NULL REFERENCES agenthost_responses (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    frame       text NOT NULL,
    PRIMARY KEY (response_id, seq)
);

CREATE TABLE IF NOT EXISTS agenthost_schema (version integer PRIMARY KEY);
INSERT INTO agenthost_schema (version) VALUES (1), (2), (3), (4) ON CONFLICT DO NOTHING;
