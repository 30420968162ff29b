// Locating and loading the scapy-generated fixtures (scripts/fixtures/*.py) from compiled tests
// in dist/. Paths are relative to the repository root, found from this file's URL, so tests
// work from any working directory.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** The repository root: the nearest ancestor of this file holding package.json and fixtures/. */
export const REPO_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'fixtures'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`fixtures: no repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
})();

export const FIXTURES_DIR = join(REPO_ROOT, 'fixtures');
export const DECODE_DIR = join(FIXTURES_DIR, 'decode');
export const SIM_DIR = join(FIXTURES_DIR, 'sim');
export const PDMV2_DIR = join(FIXTURES_DIR, 'pdmv2');
export const FRAMING_DIR = join(FIXTURES_DIR, 'framing');
export const DEMO_PCAP = join(FIXTURES_DIR, 'demo.pcapng');
export const CLI_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** Absolute path of a fixture given relative to fixtures/ (e.g. 'sim/psn-wrap.pcap'). */
export function fixturePath(relative: string): string {
  return resolve(FIXTURES_DIR, relative);
}

function captureFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.pcap') || n.endsWith('.pcapng')).sort().map((n) => join(dir, n));
}

/** Every capture under fixtures/decode. */
export function decodeFixtures(): string[] {
  return captureFiles(DECODE_DIR);
}

/** Every simulator capture: fixtures/sim/* and fixtures/demo.pcapng. */
export function simFixtures(): string[] {
  return [...captureFiles(SIM_DIR), DEMO_PCAP];
}

/** Simulator captures in the PDMv2 clear form (simulate.py pdmv2-* scenarios): fixtures/pdmv2/*. */
export function pdmv2Fixtures(): string[] {
  return captureFiles(PDMV2_DIR);
}

/** IPv6 Payload Length against the frame (scripts/fixtures/make_framing_fixtures.py): fixtures/framing/*. */
export function framingFixtures(): string[] {
  return captureFiles(FRAMING_DIR);
}

/** `x/y/name.pcap` → `name`. */
export function fixtureName(capturePath: string): string {
  const base = capturePath.split('/').pop() ?? capturePath;
  return base.replace(/\.(pcapng|pcap)$/, '');
}

// ------------------------------------------------------------------ tshark goldens

/** The six PDM fields, named as Wireshark's ipv6.opt.pdm.* and pdmscope's JSON. */
export const PDM_FIELDS = [
  'scale_dtlr', 'scale_dtls', 'psn_this_pkt', 'psn_last_recv', 'delta_last_recv', 'delta_last_sent',
] as const;
export type PdmField = (typeof PDM_FIELDS)[number];
export type PdmValues = Record<PdmField, number>;

/** tshark's arguments for a golden (scripts/fixtures/tshark_goldens.sh uses the same). */
export function tsharkGoldenArgs(capturePath: string): string[] {
  return ['-r', capturePath, '-o', 'ipv6.defragment:FALSE', '-T', 'fields', '-E', 'header=y', '-e', 'frame.number',
    ...PDM_FIELDS.flatMap((f) => ['-e', `ipv6.opt.pdm.${f}`])];
}

/** Parses tshark -T fields output: frame number → the PDM options of that frame, in order. */
export function parseTsharkFields(tsv: string): Map<number, PdmValues[]> {
  const lines = tsv.split('\n').filter((l) => l.length > 0);
  const header = lines.shift()?.split('\t') ?? [];
  if (header[0] !== 'frame.number' || header.length !== 1 + PDM_FIELDS.length) {
    throw new Error(`tshark output has an unexpected header: ${header.join(' ')}`);
  }
  const frames = new Map<number, PdmValues[]>();
  for (const line of lines) {
    const cols = line.split('\t');
    const frame = Number(cols[0]);
    const per = PDM_FIELDS.map((_, i) => (cols[i + 1] ?? '') === '' ? [] : cols[i + 1]!.split(',').map(Number));
    const n = Math.max(...per.map((v) => v.length));
    const opts: PdmValues[] = [];
    for (let k = 0; k < n; k++) {
      const o = {} as PdmValues;
      PDM_FIELDS.forEach((f, i) => { o[f] = per[i]![k] ?? Number.NaN; });
      opts.push(o);
    }
    frames.set(frame, opts);
  }
  return frames;
}

export function readTsharkGolden(capturePath: string): Map<number, PdmValues[]> {
  return parseTsharkFields(readFileSync(capturePath.replace(/\.(pcapng|pcap)$/, '.tshark.tsv'), 'utf8'));
}

export function runTshark(capturePath: string): Map<number, PdmValues[]> {
  const out = execFileSync('tshark', tsharkGoldenArgs(capturePath), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return parseTsharkFields(out);
}

// ------------------------------------------------------------------ decode expectations

/** One line of `pdmscope packets --format ndjson` as the generator expects it. */
export interface ExpectedPdmLine extends PdmValues {
  frame: number;
  ts_us: number;
  src: string;
  dst: string;
  proto: string | null;
  proto_num: number | null;
  src_port: number | null;
  dst_port: number | null;
  icmp_echo_id: number | null;
  position: 'dstopts' | 'dstopts_before_routing' | 'hop_by_hop';
  esp: 'none' | 'outside' | 'inside' | 'tunnel';
}

/** fixtures/decode/expectations.json, one entry per capture (written by make_decode_fixtures.py). */
export interface DecodeExpectation {
  file: string;
  description: string;
  link_type: number;
  format: 'pcap' | 'pcapng';
  timestamp_resolution: 'us' | 'ns';
  byte_order: 'little' | 'big';
  packets_total: number;
  /** Frames with a complete IPv6 fixed header. */
  packets_ipv6: number;
  /** Anomaly name (src/decode/anomalies.ts) → packets; one per packet, the first met. */
  anomalies: Record<string, number>;
  pdm: ExpectedPdmLine[];
  frame_anomalies: Record<string, string>;
  /** Frames where tshark prints PDM fields that pdmscope must not report (bad length, cut off). */
  tshark_only_frames: number[];
  tshark_note: string;
}

export interface DecodeExpectations {
  schema: 'pdmscope.fixture-expectations/1';
  generator: string;
  fixtures: Record<string, DecodeExpectation>;
}

export function loadDecodeExpectations(): DecodeExpectations {
  return JSON.parse(readFileSync(join(DECODE_DIR, 'expectations.json'), 'utf8')) as DecodeExpectations;
}

// ------------------------------------------------------------------ simulator truth

export type Direction = 'initiator_to_responder' | 'responder_to_initiator';

/** A delay sample exactly as the host computed it, before encoding. */
export interface TruthSample {
  /** Frame carrying the sample (the first captured copy). */
  frame: number;
  /** PSNTP of that frame. */
  psn: number;
  /** Exact value in attoseconds (decimal string: exceeds 2^53). */
  value_as: string;
  value_ns: number;
  /** The scale it was encoded with: the decoded value lies in (value − 2^scale as, value]. */
  scale: number;
}

/** RTD = total − the DeltaTLR of the response the total packet names; both quantised. */
export interface TruthRtdSample {
  frame: number;
  psn: number;
  value_as: string;
  value_ns: number;
  total_scale: number;
  server_delay_scale: number;
  response_psn: number;
}

export interface TruthPsnCounters {
  lost: number;
  reordered: number;
  duplicates: number;
  restarts: number;
}

export interface TruthFlow {
  flow_index: number;
  proto: 'udp' | 'tcp' | 'icmpv6';
  proto_num: number;
  initiator: { addr: string; port: number | null; host: string };
  responder: { addr: string; port: number | null; host: string };
  icmp_echo_id: number | null;
  /** Captured packets per direction (network duplicates included). */
  packets: Record<Direction, number>;
  pdm_packets: Record<Direction, number>;
  /** Packets each end sent, captured or not. */
  sent: Record<Direction, number>;
  lost_in_network: Record<Direction, number>;
  /** PSN events as seen at the capture point (see psn_counters in simulate.py). */
  psn: Record<Direction, TruthPsnCounters>;
  server_delay: TruthSample[];
  total: TruthSample[];
  rtd: TruthRtdSample[];
  first_frame: number;
  last_frame: number;
}

/** Per captured PDM frame. Times are ns relative to `t0_ns`, on the named clock. */
export interface TruthPacket extends PdmValues {
  frame: number;
  ts_us: number;
  flow: number;
  direction: Direction;
  /** PDM epoch of the sender on this flow (0, then +1 per state restart). */
  epoch: number;
  sender: string;
  receiver: string;
  note: string | null;
  true_delta_last_recv_as: string;
  true_delta_last_sent_as: string;
  /** First packet its sender emitted after a receive (carries fresh samples). */
  fresh: boolean;
  /** 0, or 1 for a network duplicate. */
  copy: number;
  send_true_ns: number;
  send_sender_clock_ns: number;
  receive_true_ns: number | null;
  receive_receiver_clock_ns: number | null;
  lost_in_network: boolean;
  samples: { server_delay_ns?: number; total_ns?: number; rtd_ns?: number };
  /** PDMv2 scenarios only: the version (2), the Epoch field sent and the Global Pointer. */
  pdm_version?: 2;
  pdmv2_epoch?: number;
  global_pointer?: number;
}

export interface SimTruth {
  schema: 'pdmscope.sim-truth/1';
  scenario: string;
  description: string;
  seed: number;
  pcap: string;
  /** All frames in the capture, background included. */
  frames: number;
  capture_point: 'client' | 'server';
  t0_ns: string;
  capture_clock_offset_ns: number;
  state_timeout_ns: number;
  /** Extra `pdmscope analyze` arguments the scenario needs (a longer --idle-timeout). */
  analyze_args: string[];
  hosts: Record<string, { addr: string; side: 'client' | 'server'; clock_offset_ns: number }>;
  background_frames: number;
  flows: TruthFlow[];
  packets: TruthPacket[];
}

/** The truth next to a simulator capture: `<name>.truth.json` or `<name>.truth.json.gz`. */
export function truthPathFor(capturePath: string): string {
  const base = capturePath.replace(/\.(pcapng|pcap)$/, '.truth.json');
  if (existsSync(base)) return base;
  if (existsSync(`${base}.gz`)) return `${base}.gz`;
  throw new Error(`no truth file for ${capturePath}`);
}

export function loadTruth(capturePath: string): SimTruth {
  const path = truthPathFor(capturePath);
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const truth = JSON.parse(text) as SimTruth;
  if (truth.schema !== 'pdmscope.sim-truth/1') throw new Error(`${path}: unknown schema ${String(truth.schema)}`);
  return truth;
}

/** Decoded duration in ns, as pdmscope must compute it: delta × 2^scale attoseconds. */
export function decodedNs(delta: number, scale: number): number {
  return (delta * 2 ** scale) / 1e9;
}

/** Runs the built CLI; returns stdout, stderr and the exit code (never throws on exit codes). */
export function runCli(args: readonly string[]): { stdout: string; stderr: string; status: number } {
  try {
    const stdout = execFileSync(process.execPath, [CLI_MAIN, ...args], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024,
    });
    return { stdout, stderr: '', status: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; status?: number | null };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', status: e.status ?? 1 };
  }
}

/** Like runCli, without blocking: lets tests run several CLI processes at once. */
export function runCliAsync(args: readonly string[]): Promise<{ stdout: string; stderr: string; status: number }> {
  return new Promise((resolveRun) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolveRun({ stdout, stderr, status: code });
      });
  });
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** tshark without blocking (see runTshark). */
export function runTsharkAsync(capturePath: string): Promise<Map<number, PdmValues[]>> {
  return new Promise((resolveRun, reject) => {
    execFile('tshark', tsharkGoldenArgs(capturePath), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) reject(new Error(`tshark ${capturePath}: ${err.message}`));
      else resolveRun(parseTsharkFields(stdout));
    });
  });
}
