// The SQLite schema of the pdmscope store and its forward migrations. Column names are the
// analyze/1 JSON paths joined with '_' (initiator.addr → initiator_addr, server_delay_ns.p99 →
// server_delay_ns_p99), so SQL, CSV and JSON share one vocabulary (docs/architecture.md §3).
// Timestamps are INTEGER µs since the epoch; durations are REAL ns: attoseconds overflow a
// 64-bit INTEGER beyond 9.22 s (docs/protocol.md §11 pitfall 2), and ns keep PDM's sub-ns fractions.

import type Database from 'better-sqlite3';

/** 'PDMS': marks a database as pdmscope's (PRAGMA application_id). */
export const APPLICATION_ID = 0x50444d53;

export const METRICS = ['server_delay_ns', 'total_ns', 'rtd_ns'] as const;
export type StoredMetric = (typeof METRICS)[number];
export const STAT_FIELDS = ['count', 'min', 'mean', 'max', 'p50', 'p90', 'p99'] as const;
export const DIRECTIONS = ['initiator_to_responder', 'responder_to_initiator'] as const;
export const PSN_FIELDS = ['lost', 'reordered', 'duplicates', 'restarts'] as const;

/** Every flows column written per flow, in insert order (id is the rowid). */
export const FLOW_COLUMNS: readonly string[] = [
  'run_id', 'flow_index', 'proto', 'proto_num',
  'initiator_addr', 'initiator_port', 'responder_addr', 'responder_port',
  'esp_placement', 'esp_spis', 'icmp_echo_id', 'first_ts_us', 'last_ts_us',
  ...DIRECTIONS.map((d) => `packets_${d}`),
  ...DIRECTIONS.map((d) => `pdm_packets_${d}`),
  ...METRICS.flatMap((m) => STAT_FIELDS.map((s) => `${m}_${s}`)),
  ...DIRECTIONS.flatMap((d) => PSN_FIELDS.map((p) => `psn_${d}_${p}`)),
  'pdm_sessions', 'findings', 'reverse',
  ...METRICS.map((m) => `${m}_sketch`),
];

function statColumns(metric: string): string {
  return `${metric}_count INTEGER NOT NULL DEFAULT 0, ${metric}_min REAL, ${metric}_mean REAL, ${metric}_max REAL,
    ${metric}_p50 REAL, ${metric}_p90 REAL, ${metric}_p99 REAL,`;
}

const SCHEMA_V1 = `
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('analyze', 'live', 'send')),
  status TEXT NOT NULL CHECK (status IN ('complete', 'in_progress')),
  started_at_us INTEGER NOT NULL,
  finished_at_us INTEGER,
  command TEXT NOT NULL,
  inputs TEXT NOT NULL,
  content_hash TEXT,
  packets TEXT NOT NULL,
  anomalies TEXT NOT NULL,
  esp_no_sa_by_spi TEXT NOT NULL DEFAULT '{}',
  tool_version TEXT NOT NULL
);
CREATE INDEX runs_content_hash ON runs (content_hash) WHERE content_hash IS NOT NULL;

CREATE TABLE flows (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  flow_index INTEGER NOT NULL,
  proto TEXT NOT NULL,
  proto_num INTEGER NOT NULL,
  initiator_addr TEXT NOT NULL,
  initiator_port INTEGER,
  responder_addr TEXT NOT NULL,
  responder_port INTEGER,
  esp_placement TEXT CHECK (esp_placement IN ('outside', 'inside', 'tunnel')),
  esp_spis TEXT,
  icmp_echo_id INTEGER,
  first_ts_us INTEGER NOT NULL,
  last_ts_us INTEGER NOT NULL,
  packets_initiator_to_responder INTEGER NOT NULL,
  packets_responder_to_initiator INTEGER NOT NULL,
  pdm_packets_initiator_to_responder INTEGER NOT NULL,
  pdm_packets_responder_to_initiator INTEGER NOT NULL,
  ${statColumns('server_delay_ns')}
  ${statColumns('total_ns')}
  ${statColumns('rtd_ns')}
  ${DIRECTIONS.flatMap((d) => PSN_FIELDS.map((p) => `psn_${d}_${p} INTEGER NOT NULL DEFAULT 0,`)).join('\n  ')}
  pdm_sessions INTEGER NOT NULL DEFAULT 0,
  findings TEXT NOT NULL DEFAULT '[]',
  reverse TEXT,
  server_delay_ns_sketch BLOB,
  total_ns_sketch BLOB,
  rtd_ns_sketch BLOB,
  UNIQUE (run_id, flow_index)
);
CREATE INDEX flows_initiator ON flows (initiator_addr, initiator_port);
CREATE INDEX flows_responder ON flows (responder_addr, responder_port);

CREATE TABLE samples (
  run_id INTEGER NOT NULL,
  flow_id INTEGER NOT NULL,
  ts_us INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value_ns REAL,
  psn INTEGER NOT NULL,
  frame INTEGER NOT NULL
);
CREATE INDEX samples_flow ON samples (flow_id, metric, ts_us);

CREATE TABLE psn_events (
  run_id INTEGER NOT NULL,
  flow_id INTEGER NOT NULL,
  ts_us INTEGER NOT NULL,
  direction TEXT NOT NULL,
  kind TEXT NOT NULL,
  count INTEGER NOT NULL,
  psn INTEGER NOT NULL,
  frame INTEGER NOT NULL
);
CREATE INDEX psn_events_flow ON psn_events (flow_id, ts_us);
`;

/** MIGRATIONS[i] takes a database from user_version i to i + 1; each runs in its own transaction. */
export type Migration = (db: Database.Database) => void;

/**
 * v2: samples become a WITHOUT ROWID table clustered on (flow_id, metric, ts_us, seq): one
 * B-tree instead of a rowid table plus the samples_flow index, so each sample is written once
 * (bulk inserts ~1.3x faster, the file ~35% smaller) and a flow's samples of one metric are
 * read in time order from contiguous pages. `seq` breaks ties of equal timestamps in arrival
 * order (the old rowid did that): 0, 1, ... among a flow's samples of one metric and ts_us for
 * runs written at once, a running count for live runs; existing rows keep their rowid as seq.
 */
const SAMPLES_V2 = `
CREATE TABLE samples_v2 (
  run_id INTEGER NOT NULL,
  flow_id INTEGER NOT NULL,
  ts_us INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value_ns REAL,
  psn INTEGER NOT NULL,
  frame INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (flow_id, metric, ts_us, seq)
) WITHOUT ROWID;
INSERT INTO samples_v2 (run_id, flow_id, ts_us, metric, value_ns, psn, frame, seq)
  SELECT run_id, flow_id, ts_us, metric, value_ns, psn, frame, rowid FROM samples ORDER BY flow_id, metric, ts_us, rowid;
DROP TABLE samples;
ALTER TABLE samples_v2 RENAME TO samples;
`;

export const MIGRATIONS: readonly Migration[] = [
  (db) => {
    db.exec(SCHEMA_V1);
    db.pragma(`application_id = ${APPLICATION_ID}`);
  },
  (db) => {
    db.exec(SAMPLES_V2);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
