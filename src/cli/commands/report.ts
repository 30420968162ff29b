// `pdmscope report`: a self-contained HTML report of one stored run. The store is opened
// read-only and never created; the report is written through a temporary file.

import { existsSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { EXIT_USAGE, UserError } from '../errors.js';
import { ANALYZE_SCHEMA, type AnalyzeDocument, type FlowReport, type InputReport, type PsnEvent, type Sample } from '../../metrics/types.js';
import { StoreError, openStore, type RunRow, type Store } from '../../sink/store.js';
import { DEFAULT_MAX_CHART_FLOWS, ReportError, writeReportFile, type ReportInput } from '../../sink/report.js';

export interface ReportArgs {
  db: string;
  run?: number;
  out: string;
  title?: string;
  'max-flows': number;
}

function toInputReport(value: unknown): InputReport {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof InputReport, unknown>>;
  return {
    path: typeof v.path === 'string' ? v.path : String(v.path ?? '?'),
    packets: typeof v.packets === 'number' ? v.packets : 0,
    link_types: Array.isArray(v.link_types) ? v.link_types.filter((x): x is number => typeof x === 'number') : [],
    format: v.format === 'pcap' ? 'pcap' : 'pcapng',
    // Live runs store interfaces, not files: no completeness flag means nothing went wrong.
    complete: v.complete !== false,
    error: typeof v.error === 'string' ? v.error : null,
  };
}

const PSN_DIRECTIONS = new Set<PsnEvent['direction']>(['initiator_to_responder', 'responder_to_initiator']);
const PSN_KINDS = new Set<PsnEvent['kind']>(['lost', 'reordered', 'duplicate', 'restart']);

/**
 * The report input of one stored run: its totals and flows as an analyze/1 document, with the
 * samples and PSN events of the `maxChartFlows` flows with the most samples (the ones the report
 * plots) read lazily, flow by flow.
 */
export function reportInputFromStore(store: Store, run: RunRow, options: { title?: string; maxChartFlows?: number; dbLabel?: string } = {}): ReportInput {
  const stored = store.queryFlows({ runId: run.id, sort: 'id' });
  const flows: FlowReport[] = stored.map(({ id: _id, run_id: _run, ...flow }) => flow);
  const flowIndexById = new Map(stored.map((f) => [f.id, f.flow_index]));
  const max = options.maxChartFlows ?? DEFAULT_MAX_CHART_FLOWS;
  // Same choice as the renderer (most samples first, then flow order), made before reading
  // samples so a run with many flows is not read whole. run.id is an integer from the store.
  const counts = new Map<number, number>(store.readonlySql(`SELECT flow_id, count(*) FROM samples WHERE run_id = ${Math.trunc(run.id)} GROUP BY flow_id`).rows
    .map((r) => [Number(r[0]), Number(r[1])]));
  const chartedIds = stored.map((f, i) => ({ id: f.id, i, n: counts.get(f.id) ?? 0 }))
    .filter((f) => f.n > 0)
    .sort((a, b) => b.n - a.n || a.i - b.i)
    .slice(0, Math.max(0, max))
    .map((f) => f.id);
  const charted = new Set(chartedIds);
  function* samples(): Generator<Sample> {
    for (const flowId of chartedIds) {
      const flowIndex = flowIndexById.get(flowId)!;
      for (const s of store.querySamples({ flowId })) {
        if (s.value_ns === null) continue;
        yield { flow_index: flowIndex, ts_us: s.ts_us, metric: s.metric, value_ns: s.value_ns, psn: s.psn, frame: s.frame };
      }
    }
  }
  function* psnEvents(): Generator<PsnEvent> {
    // The store has no typed reader for PSN events yet; a read-only statement with an integer id.
    const result = store.readonlySql(`SELECT flow_id, ts_us, direction, kind, count, psn, frame FROM psn_events WHERE run_id = ${Math.trunc(run.id)} ORDER BY ts_us, rowid`);
    for (const [flowId, ts, direction, kind, count, psn, frame] of result.rows) {
      const id = Number(flowId);
      if (!charted.has(id)) continue;
      if (!PSN_DIRECTIONS.has(direction as PsnEvent['direction']) || !PSN_KINDS.has(kind as PsnEvent['kind'])) continue;
      yield {
        flow_index: flowIndexById.get(id)!, ts_us: Number(ts), direction: direction as PsnEvent['direction'], kind: kind as PsnEvent['kind'],
        count: Number(count), psn: Number(psn), frame: Number(frame),
      };
    }
  }
  const p = run.packets;
  const doc: AnalyzeDocument = {
    schema: ANALYZE_SCHEMA,
    inputs: run.inputs.map(toInputReport),
    packets: { total: p.total ?? 0, ipv6: p.ipv6 ?? 0, with_pdm: p.with_pdm ?? 0, malformed: p.malformed ?? 0 },
    anomalies: run.anomalies as AnalyzeDocument['anomalies'],
    esp_no_sa_by_spi: run.esp_no_sa_by_spi,
    flows,
  };
  const state = run.status === 'complete' ? '' : ', in progress';
  return {
    title: options.title ?? `pdmscope report — run ${run.id}`,
    subtitle: `Run ${run.id} (${run.kind}${state}) of ${options.dbLabel ?? store.path}: ${run.command}`,
    generated_at_us: Date.now() * 1000,
    doc,
    samples: samples(),
    psn_events: psnEvents(),
    max_chart_flows: max,
  };
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report',
  describe: 'write a self-contained HTML report (tables and charts) of a stored run',
  builder: (y: Argv<object>) => y
    .option('db', { type: 'string', default: './pdmscope.db', describe: 'SQLite store to read', requiresArg: true })
    .option('run', { type: 'number', describe: 'run id (pdmscope query runs); default: the latest run', requiresArg: true })
    .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'HTML file to write', requiresArg: true })
    .option('title', { type: 'string', describe: 'page title', requiresArg: true })
    .option('max-flows', { type: 'number', default: DEFAULT_MAX_CHART_FLOWS, describe: 'flows that get charts (the ones with the most samples); all flows are in the table', requiresArg: true })
    .example('$0 report --out report.html', 'report of the latest run in ./pdmscope.db')
    .example('$0 report --db capture.db --run 3 --out run3.html', 'report of run 3')
    .epilog('Charts need samples: store them with `pdmscope analyze --samples`. Without samples the report has the tables only.') as Argv<ReportArgs>,
  handler: (args) => {
    if (args.run !== undefined && !(Number.isSafeInteger(args.run) && args.run > 0)) {
      throw new UserError(`--run must be a positive integer, got ${args.run}`, EXIT_USAGE);
    }
    if (!(Number.isSafeInteger(args['max-flows']) && args['max-flows'] >= 0)) {
      throw new UserError(`--max-flows must be a non-negative integer, got ${args['max-flows']}`, EXIT_USAGE);
    }
    if (!existsSync(args.db)) throw new UserError(`${args.db}: no such database (run pdmscope analyze first, or pass --db)`);
    let store: Store;
    try {
      store = openStore(args.db, { readonly: true, oneShot: true });
    } catch (err) {
      throw new UserError(err instanceof StoreError ? err.message : `${args.db}: ${(err as Error).message}`);
    }
    try {
      const runs = store.listRuns();
      if (runs.length === 0) throw new UserError(`${args.db}: no runs stored yet`);
      const run = args.run === undefined ? runs[runs.length - 1]! : runs.find((r) => r.id === args.run);
      if (run === undefined) throw new UserError(`${args.db}: no run ${args.run} (stored runs: ${runs.map((r) => r.id).join(', ')})`);
      const input = reportInputFromStore(store, run, { maxChartFlows: args['max-flows'], dbLabel: args.db, ...(args.title === undefined ? {} : { title: args.title }) });
      const written = writeReportFile(args.out, input, () => store.assertUnchanged());
      process.stderr.write(`pdmscope: wrote ${args.out} (run ${run.id}, ${input.doc.flows.length} flows, ${(written.bytes / 1024).toFixed(0)} KiB)\n`);
    } catch (err) {
      if (err instanceof StoreError) {
        try { store.assertUnchanged(); } catch (changed) { throw new UserError((changed as Error).message); }
      }
      if (err instanceof StoreError || err instanceof ReportError) throw new UserError(err.message);
      throw err;
    } finally {
      store.close();
    }
  },
};

export default reportCommand;
