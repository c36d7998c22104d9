-- Cluster leases that act as one (torchrun variables, Ray clusters) and
-- nodes that say what they can run.

-- What each agent offers, from its Hello: its Ray (or why it has none),
-- where its cluster peers reach it, and the ports its jobs may use.
ALTER TABLE agent_sessions
    ADD COLUMN IF NOT EXISTS ray_version        TEXT,
    ADD COLUMN IF NOT EXISTS ray_missing        TEXT,
    ADD COLUMN IF NOT EXISTS advertised_address TEXT,
    ADD COLUMN IF NOT EXISTS job_ports_first    INTEGER,
    ADD COLUMN IF NOT EXISTS job_ports_last     INTEGER;

-- How a submitted spec runs, read once at submission so the dispatcher can
-- match it to nodes without parsing JSON: process, container or ray, and
-- the Ray version a ray job needs.
ALTER TABLE job_specs
    ADD COLUMN IF NOT EXISTS runtime     TEXT,
    ADD COLUMN IF NOT EXISTS ray_version TEXT;
UPDATE job_specs SET runtime = CASE WHEN convert_from(spec, 'UTF8')::jsonb ? 'image'
                                    THEN 'container' ELSE 'process' END
WHERE runtime IS NULL;

-- The first port of the block of job ports an assignment holds on its node.
-- Two open assignments of a node never hold the same block.
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS port_base INTEGER;
CREATE UNIQUE INDEX IF NOT EXISTS assignments_open_port_block
    ON assignments (node, port_base) WHERE ended_at IS NULL AND port_base IS NOT NULL;
