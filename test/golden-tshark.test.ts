// Golden tests: pdmscope's `packets` command against tshark (Wireshark's PDM dissector) and
// against the expectations written by the scapy generator (scripts/fixtures/), so neither
// pdmscope's encoder nor its decoder is its own oracle.
//
// The committed goldens (fixtures/**/<name>.tshark.tsv) need no tshark; golden-tshark-fresh
// compares them with a fresh tshark run, so a tshark version drift shows up there.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PDM_FIELDS, type PdmValues, decodeFixtures, decodedNs, fixtureName, loadDecodeExpectations, loadTruth, mapLimit,
  readTsharkGolden, runCliAsync, simFixtures,
} from './support/fixtures.js';

/** A line of `pdmscope packets --format ndjson` (the contract of src/cli/commands/packets.ts). */
interface PacketsLine extends PdmValues {
  frame: number;
  file: string;
  ts_us: number;
  src: string;
  dst: string;
  proto: string;
  proto_num: number;
  src_port: number | null;
  dst_port: number | null;
  icmp_echo_id: number | null;
  position: 'dstopts' | 'dstopts_before_routing' | 'hop_by_hop';
  esp: 'none' | 'outside' | 'inside' | 'tunnel';
  delta_last_recv_ns: number;
  delta_last_sent_ns: number;
}

interface PacketsDocument {
  schema: string;
  inputs: unknown[];
  packets: { total: number; ipv6: number; with_pdm: number; malformed: number };
  anomalies: Record<string, number>;
  pdm: PacketsLine[];
}

/** Runs `packets` once over all `files` (frames are numbered per file) and splits by file. */
async function packetsNdjsonByFile(files: readonly string[]): Promise<Map<string, PacketsLine[]>> {
  const r = await runCliAsync(['packets', ...files, '--format', 'ndjson', '--quiet']);
  assert.equal(r.status, 0, `pdmscope packets exited ${r.status}: ${r.stderr.trim()}`);
  const byFile = new Map<string, PacketsLine[]>(files.map((f) => [f, []]));
  for (const line of r.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const l = JSON.parse(line) as PacketsLine;
    const file = files.find((f) => f === l.file || f.endsWith(`/${l.file}`) || l.file.endsWith(`/${fixtureBase(f)}`));
    assert.ok(file !== undefined, `packets printed a line for an unknown file ${l.file}`);
    byFile.get(file)!.push(l);
  }
  return byFile;
}

function fixtureBase(path: string): string {
  return path.split('/').pop() ?? path;
}

type CliResult = Awaited<ReturnType<typeof runCliAsync>>;

function packetsJsonRun(file: string): Promise<CliResult> {
  return runCliAsync(['packets', file, '--format', 'json', '--quiet']);
}

function parsePacketsJson(file: string, r: CliResult): PacketsDocument {
  assert.equal(r.status, 0, `pdmscope packets ${file} --format json exited ${r.status}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as PacketsDocument;
}

function byFrame(lines: readonly PacketsLine[]): Map<number, PdmValues[]> {
  const m = new Map<number, PdmValues[]>();
  for (const l of lines) {
    const list = m.get(l.frame) ?? [];
    list.push(pick(l));
    m.set(l.frame, list);
  }
  return m;
}

function pick(v: PdmValues): PdmValues {
  const o = {} as PdmValues;
  for (const f of PDM_FIELDS) o[f] = v[f];
  return o;
}

/** Every frame's PDM options from pdmscope equal tshark's, except frames tshark alone decodes. */
function compareWithTshark(
  file: string, ours: Map<number, PdmValues[]>, tshark: Map<number, PdmValues[]>, tsharkOnly: ReadonlySet<number>,
): void {
  for (const [frame, opts] of tshark) {
    if (tsharkOnly.has(frame)) {
      assert.ok(opts.length > 0, `${file} frame ${frame}: expected tshark to show the invalid PDM`);
      assert.equal(ours.get(frame), undefined, `${file} frame ${frame}: pdmscope must not report this PDM`);
      continue;
    }
    assert.deepEqual(ours.get(frame) ?? [], opts, `${file} frame ${frame}: PDM fields differ from tshark`);
  }
  for (const frame of ours.keys()) {
    assert.ok(tshark.has(frame), `${file}: pdmscope reports frame ${frame}, which tshark does not list`);
  }
}

function checkNsFields(file: string, l: PacketsLine): void {
  assert.equal(l.delta_last_recv_ns, decodedNs(l.delta_last_recv, l.scale_dtlr), `${file} frame ${l.frame} delta_last_recv_ns`);
  assert.equal(l.delta_last_sent_ns, decodedNs(l.delta_last_sent, l.scale_dtls), `${file} frame ${l.frame} delta_last_sent_ns`);
}

const expectations = loadDecodeExpectations();
const DECODE_FILES = decodeFixtures();
const SIM_FILES = simFixtures();
const CLI_PARALLEL = 4;

test('decode fixtures', async (t) => {
  // One `packets` run over every fixture, and the json summaries four at a time: each CLI start
  // costs ~0.3 s, so one process per check would take minutes.
  const [lineSets, docs] = await Promise.all([
    packetsNdjsonByFile(DECODE_FILES),
    mapLimit(DECODE_FILES, CLI_PARALLEL, packetsJsonRun),
  ]);
  for (const [index, file] of DECODE_FILES.entries()) {
    const name = fixtureName(file);
    const exp = expectations.fixtures[name];
    const lines = lineSets.get(file)!;
    const run = docs[index]!;
    await t.test(name, async (tf) => {
      assert.ok(exp, `fixtures/decode/expectations.json has no entry for ${name}`);
      const tsharkOnly = new Set(exp.tshark_only_frames);

      await tf.test('PDM fields equal the committed tshark golden', () => {
        compareWithTshark(file, byFrame(lines), readTsharkGolden(file), tsharkOnly);
      });

      await tf.test('every line matches the generator expectations', () => {
        assert.equal(lines.length, exp.pdm.length, `${name}: number of PDM options`);
        exp.pdm.forEach((want, i) => {
          const got = lines[i]!;
          const where = `${name} line ${i + 1} (frame ${want.frame})`;
          assert.ok(got.file.endsWith(exp.file), `${where}: file ${got.file}`);
          for (const k of ['frame', 'ts_us', 'src', 'dst', 'proto_num', 'src_port', 'dst_port', 'icmp_echo_id',
            'position', 'esp', ...PDM_FIELDS] as const) {
            assert.deepEqual(got[k], want[k], `${where}: ${k}`);
          }
          if (want.proto !== null) assert.equal(got.proto, want.proto, `${where}: proto`);
          checkNsFields(name, got);
        });
      });

      await tf.test('json summary: packet count and anomalies', () => {
        const doc = parsePacketsJson(file, run);
        assert.equal(doc.schema, 'pdmscope.packets/1');
        assert.equal(doc.packets.total, exp.packets_total, `${name}: packets.total`);
        assert.equal(doc.packets.ipv6, exp.packets_ipv6, `${name}: packets.ipv6`);
        assert.deepEqual(doc.anomalies, exp.anomalies, `${name}: anomalies`);
        assert.deepEqual(doc.pdm, lines, `${name}: the json form holds the same objects as ndjson`);
      });
    });
  }
});

test('sim fixtures: PDM fields equal the tshark golden and the simulator truth', async (t) => {
  const lineSets = await packetsNdjsonByFile(SIM_FILES);
  for (const file of SIM_FILES) {
    const name = fixtureName(file);
    await t.test(name, () => {
      const lines = lineSets.get(file)!;
      const ours = byFrame(lines);
      compareWithTshark(file, ours, readTsharkGolden(file), new Set());
      const truth = loadTruth(file);
      assert.equal(lines.length, truth.packets.length, `${name}: one PDM line per simulated packet`);
      for (const p of truth.packets) {
        assert.deepEqual(ours.get(p.frame), [pick(p)], `${name} frame ${p.frame}`);
      }
      for (const l of lines) {
        checkNsFields(name, l);
        assert.equal(l.position, 'dstopts');
        assert.equal(l.esp, 'none');
      }
    });
  }
});
