// The layer rules of docs/architecture.md §2, checked on the sources: which src/ folder may
// import which, no import circle between files, no threads, child processes or native addons in
// the core, and no test helper (test/support/) loaded by code that ships. Tests beside the
// sources (src/**/*.test.ts) count as part of their folder: they move with it.
//
// The sources are read as text (fast, and free of TypeScript 7's unstable compiler API), so the
// scan below understands just enough TypeScript to find module specifiers: static
// `import`/`export ... from`, `import('...')`, and the two ways src/ names a module without an
// import, `new URL('./x.js', import.meta.url)` (a worker or child entry: an arrow like any
// other) and `createRequire(...)('pkg')` (native addons).
//
// Today's tree does not meet the rules yet. Its violations are listed below (KNOWN_*), one exact
// arrow or circle each, and the list is a ratchet: a violation not on the list fails, and so does
// a listed one that no longer exists (delete its line). `LAYERING_PRINT=1 node
// dist/test/layering.test.js` prints the lists as measured now (on stderr), ready to paste.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// The rule table of docs/architecture.md §2 (keep the two the same). Keys are the first path
// segment under src/ (`index.ts` is the file at src/ itself); files under one key import each
// other freely. 'types' allows `import type`/`export type` only: those are erased
// from the output (verbatimModuleSyntax), so the folder names the other's types but never loads
// it. An inline `import { type X }` is kept as a runtime import by verbatimModuleSyntax and
// counts as one here.

type Allowance = 'any' | 'types';
type Rule = { readonly everything: true } | { readonly everything: false; readonly may: Readonly<Record<string, Allowance>> };

const CORE = ['wire', 'decode', 'crypto', 'flow', 'metrics'] as const;
const core = (): Record<string, Allowance> => Object.fromEntries(CORE.map((f) => [f, 'any' as const]));
const may = (m: Record<string, Allowance>): Rule => ({ everything: false, may: m });

const LAYERS: Readonly<Record<string, Rule>> = {
  wire: may({}), //                                    nothing but itself
  decode: may({ wire: 'any', crypto: 'types' }), //   crypto/ arrives through ctx: decode names its types only
  crypto: may({ wire: 'any' }),
  flow: may({ wire: 'any', decode: 'types' }),
  metrics: may({ flow: 'any', decode: 'types' }),
  pipeline: may({ ...core(), capture: 'any' }),
  capture: may({}), //                                 native addons only (packages are not folders)
  send: may({ ...core(), capture: 'any' }),
  sink: may(core()),
  cli: { everything: true },
  'index.ts': { everything: true },
};

// What the core (and its tests beside it) may not load: it runs without threads, child
// processes or libpcap, so it is tested without root.
const CORE_FORBIDDEN_PACKAGES = ['worker_threads', 'child_process', 'pcap', 'cap', 'better-sqlite3'];

// ---------------------------------------------------------------------------------------------
// Today's violations. Every entry is `from -> to` (paths under src/) or, for a circle, the files
// of one strongly connected component, sorted, joined with ` <-> `. Shrink only.

const KNOWN_ARROWS: readonly string[] = [
  // The reader worker's helpers sit in capture/ and reach into the core (ESP pre-open, packet
  // records); the redesign moves them to pipeline/reader-thread/, which may import the core.
  'capture/esp-preopen.test.ts -> crypto/esp.ts',
  'capture/esp-preopen.test.ts -> crypto/sa-file.ts',
  'capture/esp-preopen.test.ts -> decode/decode.ts',
  'capture/esp-preopen.test.ts -> decode/esp-opener.ts',
  'capture/esp-preopen.test.ts -> decode/packet.ts',
  'capture/esp-preopen.test.ts -> wire/ipv6.ts',
  'capture/esp-preopen.ts -> crypto/esp.ts',
  'capture/esp-preopen.ts -> crypto/sa-file.ts',
  'capture/esp-preopen.ts -> decode/decode.ts',
  'capture/esp-preopen.ts -> decode/esp-opener.ts',
  'capture/esp-preopen.ts -> decode/packet.ts',
  'capture/offline.ts -> flow/packet-record.ts',
  'capture/packet-recorder.ts -> crypto/esp.ts',
  'capture/packet-recorder.ts -> decode/decode.ts',
  'capture/packet-recorder.ts -> decode/packet.ts',
  'capture/packet-recorder.ts -> flow/packet-record.ts',
  'capture/packet-recorder.ts -> flow/table.ts',
  // prescan formats a magic number with wire/'s hex32; capture/ may load native addons only.
  'capture/prescan.ts -> wire/bytes.ts',
  // crypto/ implements decode/'s EspOpener (and its tests decode frames): the table turns this
  // round, decode/ gets crypto through ctx. esp.ts's `import { type ... }` is no `import type`:
  // verbatimModuleSyntax keeps it as `import {} from '../decode/esp-opener.js'`, a real load.
  'crypto/esp.test.ts -> decode/decode.ts',
  'crypto/esp.test.ts -> decode/esp-opener.ts',
  'crypto/esp.test.ts -> decode/packet.ts',
  'crypto/esp.ts -> decode/esp-opener.ts',
  'decode/decode.test.ts -> crypto/esp.ts',
  'decode/decode.test.ts -> crypto/sa-file.ts',
  // Packet records carry decode/'s anomaly codes and PdmHit as values; they become the
  // pipeline's packet facts.
  'flow/packet-record.test.ts -> decode/anomalies.ts',
  'flow/packet-record.test.ts -> decode/packet.ts',
  'flow/packet-record.ts -> decode/anomalies.ts',
  'flow/packet-record.ts -> decode/packet.ts',
  // live/ is in no row of the table: session.ts goes to pipeline/ (or cli/).
  'live/session.ts -> capture/live.ts',
  'live/session.ts -> metrics/analyzer.ts',
  'live/session.ts -> metrics/flow-pdm.ts',
  'live/session.ts -> metrics/types.ts',
  'live/session.ts -> sink/store.ts',
  // The Analyzer decodes frames itself (it moves to pipeline/); the counters use decode/'s
  // anomaly catalogue as values and wire/'s hex32; flow-pdm's test builds PDM deltas with wire/.
  // The one catalogue (decode/anomalies.ts) also holds the findings that flow-pdm.ts and the
  // Analyzer read as values: a catalogue in decode/ and "decode/ types" for metrics/ do not fit
  // together yet (allow decode/anomalies.ts as data, or read findings through pipeline/).
  'metrics/analyzer.ts -> decode/anomalies.ts',
  'metrics/analyzer.ts -> decode/decode.ts',
  'metrics/analyzer.ts -> decode/packet.ts',
  'metrics/analyzer.ts -> wire/ipv6.ts',
  'metrics/counters.ts -> decode/anomalies.ts',
  'metrics/counters.ts -> wire/bytes.ts',
  'metrics/flow-pdm.test.ts -> decode/packet.ts',
  'metrics/flow-pdm.ts -> decode/anomalies.ts',
  'metrics/flow-pdm.test.ts -> wire/pdm.ts',
];

const KNOWN_CYCLES: readonly string[] = [
  // The worker entry imports the reader that starts it (drainWithLibpcap, ReaderWorkerData);
  // offline.ts and reader-prewarm.ts share the worker's URL and data type.
  'capture/offline.ts <-> capture/reader-prewarm.ts <-> capture/reader-worker.ts',
  // store-options.ts names analyze's AnalysisResult type; analyze.ts calls storeAnalyzeRun.
  'cli/commands/analyze.ts <-> cli/commands/store-options.ts',
];

const KNOWN_CORE_PACKAGES: readonly string[] = [
  // The SA-file loader's tests make FIFOs and their writers, and read /dev/zero in a child
  // process with a deadline.
  'crypto/sa-file.test.ts -> child_process',
];

// ---------------------------------------------------------------------------------------------
// The scan.

type Tok = { kind: 'id' | 'str' | 'punct'; text: string; line: number };

const REGEX_AFTER = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'instanceof', 'yield', 'await']);

/** Identifiers, string literals and punctuation, with comments, template text and regular
 * expression literals skipped (they may hold text that looks like an import). */
function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  const templateDepth: number[] = []; // brace depth at each open `${`
  let depth = 0;
  let line = 1;
  let i = 0;
  const n = src.length;
  const push = (kind: Tok['kind'], text: string): void => { toks.push({ kind, text, line }); };
  const skipTemplate = (): void => { // from just after ` or a closing } of ${...}
    while (i < n) {
      const c = src[i]!;
      if (c === '\\') { i += 2; continue; }
      if (c === '\n') line++;
      if (c === '`') { i++; push('str', '`'); return; }
      if (c === '$' && src[i + 1] === '{') { i += 2; templateDepth.push(depth); depth++; return; }
      i++;
    }
  };
  while (i < n) {
    const c = src[i]!;
    if (c === '\n') { line++; i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '/' && src[i + 1] === '/') { while (i < n && src[i] !== '\n') i++; continue; }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === '\n') line++;
      i = stop;
      continue;
    }
    if (c === '\'' || c === '"') {
      let k = i + 1;
      let text = '';
      while (k < n && src[k] !== c && src[k] !== '\n') {
        if (src[k] === '\\') { text += src[k + 1] ?? ''; k += 2; continue; }
        text += src[k];
        k++;
      }
      push('str', text);
      i = k + 1;
      continue;
    }
    if (c === '`') { i++; skipTemplate(); continue; }
    if (c === '/') {
      const prev = toks[toks.length - 1];
      const regex = prev === undefined
        || (prev.kind === 'punct' && !')]}'.includes(prev.text))
        || (prev.kind === 'id' && REGEX_AFTER.has(prev.text));
      if (regex) {
        let k = i + 1;
        let inClass = false;
        while (k < n && src[k] !== '\n') {
          const d = src[k]!;
          if (d === '\\') { k += 2; continue; }
          if (d === '[') inClass = true;
          else if (d === ']') inClass = false;
          else if (d === '/' && !inClass) break;
          k++;
        }
        k++;
        while (k < n && /[a-z]/.test(src[k]!)) k++;
        push('str', '/regex/');
        i = k;
        continue;
      }
    }
    if (/[A-Za-z_$0-9]/.test(c)) {
      let k = i + 1;
      while (k < n && /[\w$]/.test(src[k]!)) k++;
      push('id', src.slice(i, k));
      i = k;
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') {
      if (templateDepth.length > 0 && templateDepth[templateDepth.length - 1] === depth - 1) {
        templateDepth.pop();
        depth--;
        i++;
        skipTemplate();
        continue;
      }
      depth--;
    }
    push('punct', c);
    i++;
  }
  return toks;
}

type ImportKind = 'static' | 'type' | 'dynamic' | 'url' | 'require';
type FoundImport = { spec: string; kind: ImportKind; line: number };

/** The module specifiers one source file names, with how it names them. */
function findImports(src: string): { imports: FoundImport[]; problems: string[] } {
  const t = tokenize(src);
  const imports: FoundImport[] = [];
  const problems: string[] = [];
  const is = (k: number, text: string): boolean => t[k] !== undefined && t[k]!.kind !== 'str' && t[k]!.text === text;
  const str = (k: number): string | null => (t[k]?.kind === 'str' && t[k]!.text !== '`' ? t[k]!.text : null);
  // From token k on, the `from '...'` that ends an import/export declaration.
  const fromClause = (k: number): number => {
    for (; k < t.length; k++) {
      if (is(k, ';')) return -1;
      if (is(k, 'from') && str(k + 1) !== null) return k + 1;
    }
    return -1;
  };
  for (let k = 0; k < t.length; k++) {
    const tok = t[k]!;
    if (tok.kind !== 'id' || is(k - 1, '.')) continue;
    if (tok.text === 'import') {
      if (is(k + 1, '.')) continue; // import.meta
      if (is(k + 1, '(')) {
        const spec = str(k + 2);
        if (spec === null) problems.push(`line ${tok.line}: import() of a computed specifier; the layering scan cannot follow it`);
        else imports.push({ spec, kind: is(k - 1, 'typeof') ? 'type' : 'dynamic', line: tok.line });
        continue;
      }
      const side = str(k + 1);
      if (side !== null) { imports.push({ spec: side, kind: 'static', line: tok.line }); continue; }
      const typeOnly = is(k + 1, 'type') && !is(k + 2, 'from') && !is(k + 2, ',') && !is(k + 2, '=');
      const at = fromClause(k + 1);
      if (at < 0) { problems.push(`line ${tok.line}: an import without a from clause the scan understands`); continue; }
      imports.push({ spec: str(at)!, kind: typeOnly ? 'type' : 'static', line: tok.line });
      continue;
    }
    if (tok.text === 'export') {
      let k2 = k + 1;
      const typeOnly = is(k2, 'type') && (is(k2 + 1, '{') || is(k2 + 1, '*'));
      if (typeOnly) k2++;
      if (is(k2, '*')) {
        const at = fromClause(k2);
        if (at >= 0) imports.push({ spec: str(at)!, kind: typeOnly ? 'type' : 'static', line: tok.line });
      } else if (is(k2, '{')) {
        let e = k2;
        while (e < t.length && !is(e, '}')) e++;
        if (is(e + 1, 'from') && str(e + 2) !== null) imports.push({ spec: str(e + 2)!, kind: typeOnly ? 'type' : 'static', line: tok.line });
      }
      continue;
    }
    // new URL('./x.js', import.meta.url): a module started as a worker or child process.
    if (tok.text === 'URL' && is(k - 1, 'new') && is(k + 1, '(') && str(k + 2) !== null && is(k + 3, ',')
      && is(k + 4, 'import') && is(k + 5, '.') && is(k + 6, 'meta')) {
      imports.push({ spec: str(k + 2)!, kind: 'url', line: tok.line });
      continue;
    }
    // require('x') and createRequire(import.meta.url)('x').
    if (tok.text === 'require' && is(k + 1, '(') && str(k + 2) !== null) {
      imports.push({ spec: str(k + 2)!, kind: 'require', line: tok.line });
      continue;
    }
    if (tok.text === 'createRequire' && is(k + 1, '(')) {
      let e = k + 2;
      let open = 1;
      for (; e < t.length && open > 0; e++) { if (is(e, '(')) open++; else if (is(e, ')')) open--; }
      if (is(e, '(') && str(e + 1) !== null) imports.push({ spec: str(e + 1)!, kind: 'require', line: tok.line });
    }
  }
  return { imports, problems };
}

/** A bare specifier's package: `node:fs/promises` → `fs`, `pcap/build/x` → `pcap`. */
function packageOf(spec: string): string {
  const s = spec.startsWith('node:') ? spec.slice(5) : spec;
  const parts = s.split('/');
  return s.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

type Arrow = { from: string; to: string; kind: ImportKind; line: number };
type Graph = {
  files: string[];
  arrows: Arrow[]; //  between files of src/, one per import
  outside: Arrow[]; // from src/ to a module outside it (test/support/...), `to` relative to src/
  packages: { from: string; pkg: string; line: number }[];
  problems: string[];
};

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function listSources(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir + rel, { withFileTypes: true })) {
    const p = rel + e.name;
    if (e.isDirectory()) out.push(...listSources(dir, `${p}/`));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function scan(srcDir = SRC): Graph {
  const files = listSources(srcDir).sort();
  const known = new Set(files);
  const g: Graph = { files, arrows: [], outside: [], packages: [], problems: [] };
  for (const file of files) {
    const { imports, problems } = findImports(readFileSync(srcDir + file, 'utf8'));
    for (const p of problems) g.problems.push(`${file} ${p}`);
    for (const imp of imports) {
      if (imp.spec.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file), imp.spec));
        if (!target.endsWith('.js')) continue; // not a module (package.json, data files)
        if (target.startsWith('../')) { g.outside.push({ from: file, to: target.replace(/\.js$/, '.ts'), kind: imp.kind, line: imp.line }); continue; }
        const ts = `${target.slice(0, -3)}.ts`;
        if (!known.has(ts)) { g.problems.push(`${file}:${imp.line} names ${imp.spec}, which is no file in src/`); continue; }
        g.arrows.push({ from: file, to: ts, kind: imp.kind, line: imp.line });
      } else {
        g.packages.push({ from: file, pkg: packageOf(imp.spec), line: imp.line });
      }
    }
  }
  return g;
}

const layerOf = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file);

/** Why an arrow breaks the table, or null. */
function ruleBreak(from: string, to: string, typeOnly: boolean): string | null {
  const a = layerOf(from);
  const b = layerOf(to);
  if (a === b) return null;
  const rule = LAYERS[a];
  if (rule === undefined) return `src/${a}/ is not in the layer table`;
  if (rule.everything) return null;
  const allowed = rule.may[b];
  const list = Object.keys(rule.may).map((f) => `${f}/${rule.may[f] === 'types' ? ' (types)' : ''}`).join(', ');
  if (allowed === 'any') return null;
  if (allowed === 'types') return typeOnly ? null : `${a}/ may import ${b}/ only with \`import type\``;
  return `${a}/ may import ${list === '' ? 'nothing outside itself' : `only ${list}`}`;
}

/** Strongly connected components with more than one file, or one file importing itself (Tarjan). */
function importCircles(files: readonly string[], arrows: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, Set<string>>(files.map((f) => [f, new Set<string>()]));
  for (const a of arrows) next.get(a.from)!.add(a.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || next.get(v)!.has(v)) out.push(comp.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return out;
}

/** One circle through the component's first file, as a path (shortest, found breadth first). */
function circlePath(comp: readonly string[], arrows: readonly { from: string; to: string }[]): string[] {
  const inComp = new Set(comp);
  const start = comp[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q]!;
    for (const a of arrows) {
      if (a.from !== v || !inComp.has(a.to)) continue;
      if (a.to === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(a.to)) { prev.set(a.to, v); queue.push(a.to); }
    }
  }
  return [...comp, start];
}

const cycleKey = (comp: readonly string[]): string => comp.join(' <-> ');

// ---------------------------------------------------------------------------------------------
// The ratchet.

function ratchet(what: string, listName: string, found: ReadonlyMap<string, string>, known: readonly string[]): void {
  const knownSet = new Set(known);
  const fresh = [...found.keys()].filter((k) => !knownSet.has(k)).sort();
  const gone = known.filter((k) => !found.has(k));
  const dup = known.filter((k, i) => known.indexOf(k) !== i);
  const msg: string[] = [];
  if (fresh.length > 0) {
    msg.push(`${fresh.length} new ${what}:`);
    for (const k of fresh) msg.push(`  ${k}`, `      ${found.get(k)}`);
    msg.push('Fix the import. If the rule itself is wrong, change docs/architecture.md §2 and the table in test/layering.test.ts together.');
  }
  if (gone.length > 0) {
    msg.push(`${gone.length} entr${gone.length === 1 ? 'y' : 'ies'} of ${listName} in test/layering.test.ts no longer occur${gone.length === 1 ? 's' : ''}; delete ${gone.length === 1 ? 'it' : 'them'} (the list only shrinks):`);
    for (const k of gone) msg.push(`  '${k}',`);
  }
  if (fresh.length > 0 && gone.length > 0) msg.push('(A listed entry that changed, e.g. a circle that gained a file, shows as one new and one gone.)');
  if (dup.length > 0) msg.push(`${listName} lists twice: ${dup.join('; ')}`);
  if (msg.length > 0) assert.fail(msg.join('\n'));
}

const graph = scan();

function measured(): { arrows: Map<string, string>; cycles: Map<string, string>; corePackages: Map<string, string> } {
  const arrows = new Map<string, string>();
  // One key per pair of files; an arrow is type-only when every import between the pair is.
  const pairs = new Map<string, Arrow[]>();
  for (const a of graph.arrows) {
    const key = `${a.from} -> ${a.to}`;
    pairs.set(key, [...(pairs.get(key) ?? []), a]);
  }
  for (const [key, list] of pairs) {
    const typeOnly = list.every((a) => a.kind === 'type');
    const why = ruleBreak(list[0]!.from, list[0]!.to, typeOnly);
    if (why !== null) arrows.set(key, `${why} (src/${list[0]!.from}:${list.map((a) => `${a.line} ${a.kind}`).join(', ')})`);
  }
  // Test helpers live in test/support/ for tests; the code that ships never loads them.
  for (const a of graph.outside) {
    if (a.from.endsWith('.test.ts')) continue;
    arrows.set(`${a.from} -> ${a.to}`, `only tests (*.test.ts) may import from outside src/ (src/${a.from}:${a.line} ${a.kind})`);
  }
  const cycles = new Map<string, string>();
  for (const comp of importCircles(graph.files, graph.arrows)) {
    cycles.set(cycleKey(comp), `circle: ${circlePath(comp, graph.arrows).join(' -> ')}`);
  }
  const corePackages = new Map<string, string>();
  for (const p of graph.packages) {
    if (!(CORE as readonly string[]).includes(layerOf(p.from)) || !CORE_FORBIDDEN_PACKAGES.includes(p.pkg)) continue;
    corePackages.set(`${p.from} -> ${p.pkg}`, `the core (${CORE.join(', ')}) runs without threads, child processes and native addons (src/${p.from}:${p.line})`);
  }
  return { arrows, cycles, corePackages };
}

const now = measured();

if (process.env['LAYERING_PRINT'] === '1') {
  const show = (name: string, m: Map<string, string>): void => {
    process.stderr.write(`const ${name}: readonly string[] = [\n${[...m.keys()].sort().map((k) => `  '${k}',\n`).join('')}];\n`);
  };
  show('KNOWN_ARROWS', now.arrows);
  show('KNOWN_CYCLES', now.cycles);
  show('KNOWN_CORE_PACKAGES', now.corePackages);
}

test('the scan reads every source in src/ and understands every import in it', () => {
  assert.ok(graph.files.length > 50, `only ${graph.files.length} sources under ${SRC}`);
  assert.ok(graph.arrows.length > 100, `only ${graph.arrows.length} imports between them`);
  assert.deepEqual(graph.problems, []);
  for (const f of Object.keys(LAYERS)) if (f !== 'index.ts') assert.ok(!f.includes('/'), f);
});

test('imports between src/ folders follow the layer table (docs/architecture.md §2)', () => {
  ratchet('import(s) against the layer table', 'KNOWN_ARROWS', now.arrows, KNOWN_ARROWS);
});

test('no import circle between files in src/', () => {
  ratchet('import circle(s)', 'KNOWN_CYCLES', now.cycles, KNOWN_CYCLES);
});

test('the core loads no worker_threads, child_process or native addon', () => {
  ratchet('package import(s) in the core', 'KNOWN_CORE_PACKAGES', now.corePackages, KNOWN_CORE_PACKAGES);
});

test('the scan: comments, strings, templates and regular expressions hide no imports', () => {
  const src = [
    "import type { A } from './a.js';",
    "import { b, type B } from './b.js';",
    "import './c.js';",
    "import * as d from 'node:worker_threads';",
    "export { e } from './e.js';",
    "export type { F } from './f.js';",
    "export * from './g.js';",
    "export const h = 1;",
    "// import x from './no1.js';",
    "/* import('./no2.js') */",
    "const s = 'import x from \"./no3.js\"';",
    "const t = `import x from './no4.js' ${ `${1}` + 'y' } and import('./no5.js')`;",
    "const r = /import\\('.\\/no6.js'\\)/g;",
    "const m = await import('./i.js');",
    "type T = typeof import('./j.js');",
    "const w = new URL('./k.js', import.meta.url);",
    "const p = createRequire(import.meta.url)('pcap');",
    "export {",
    "  l,",
    "  type L,",
    "} from './l.js';",
  ].join('\n');
  const { imports, problems } = findImports(src);
  assert.deepEqual(problems, []);
  assert.deepEqual(imports.map((i) => `${i.line} ${i.kind} ${i.spec}`), [
    '1 type ./a.js', '2 static ./b.js', '3 static ./c.js', '4 static node:worker_threads',
    '5 static ./e.js', '6 type ./f.js', '7 static ./g.js', '14 dynamic ./i.js', '15 type ./j.js',
    '16 url ./k.js', '17 require pcap', '18 static ./l.js',
  ]);
  assert.equal(packageOf('node:fs/promises'), 'fs');
  assert.equal(packageOf('pcap/build/Release/pcap_binding'), 'pcap');
});

test('the rule check and the circle finder', () => {
  assert.equal(ruleBreak('decode/a.ts', 'wire/b.ts', false), null);
  assert.equal(ruleBreak('flow/a.ts', 'decode/b.ts', true), null);
  assert.match(ruleBreak('flow/a.ts', 'decode/b.ts', false) ?? '', /only with `import type`/);
  assert.match(ruleBreak('wire/a.ts', 'metrics/b.ts', true) ?? '', /nothing outside itself/);
  assert.equal(ruleBreak('cli/commands/a.ts', 'capture/b.ts', false), null);
  const arrows = [['a', 'b'], ['b', 'c'], ['c', 'a'], ['c', 'd'], ['d', 'd'], ['e', 'a']].map(([from, to]) => ({ from: from!, to: to! }));
  assert.deepEqual(importCircles(['a', 'b', 'c', 'd', 'e'], arrows).map(cycleKey).sort(), ['a <-> b <-> c', 'd']);
  assert.deepEqual(circlePath(['a', 'b', 'c'], arrows), ['a', 'b', 'c', 'a']);
});
