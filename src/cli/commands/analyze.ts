// `pdmscope analyze FILE...`: flows and RFC 8250 delay metrics from captures.

import type { Argv, CommandModule } from 'yargs';
import { Analyzer, type AnalyzeHead, type FinishedFlows } from '../../metrics/analyzer.js';
import type { SampleObserver } from '../../metrics/flow-pdm.js';
import type { AnalyzeDocument, FlowReport, PsnEvent } from '../../metrics/types.js';
import { UserError } from '../errors.js';
import { writeAnalyzeTable } from '../flow-format.js';
import { inputsExitCode, readInputs, requireInputs } from '../input.js';
import { stdout } from '../output.js';
import { Progress } from '../progress.js';
import { csvLine, flatten } from '../table.js';
import { durationArgNs, durationOption } from '../options.js';
import { FILTER_HELP, type CommonInputArgs, espOptions, espSetupFromArgs, inputOptions } from './common.js';
import { SampleColumns } from '../../sink/sample-columns.js';
import { storeAnalyzeRun, storeOptions, type StoreArgs } from './store-options.js';
import { FileFlowSpill } from '../../sink/flow-spill.js';
import { maxFlowsFromArgs, maxFlowsOption, type MaxFlowsArgs } from './max-flows.js';

type Format = 'table' | 'json' | 'ndjson' | 'csv';

interface AnalyzeArgs extends CommonInputArgs, StoreArgs, MaxFlowsArgs {
  files: string[];
  format: Format;
  allFlows: boolean;
  idleTimeout: string;
  report?: string;
  quiet: boolean;
}

export interface AnalysisResult {
  /** The document without its flows: they are built one at a time from `flows`. */
  head: AnalyzeHead;
  /** In output order; iterating builds each flow's report (and sketches) and lets it go. */
  flows: FinishedFlows;
  samples: SampleColumns | null;
  psnEvents: PsnEvent[] | null;
}

/** Reads the captures through one Analyzer; keeps samples only when asked. */
export async function analyzeFiles(
  files: string[],
  opts: {
    filter?: string | undefined; allFlows: boolean; idleTimeoutUs: number; maxFlows?: number; keepSamples: boolean; keepSketches: boolean;
    args: CommonInputArgs; progress?: Progress;
  },
): Promise<AnalysisResult> {
  // Columns, not an array of objects: millions of long-lived objects make every GC copy them.
  const samples = opts.keepSamples ? new SampleColumns(1 << 16) : null;
  const psnEvents: PsnEvent[] | null = opts.keepSamples ? [] : null;
  const observer: SampleObserver | null = samples === null ? null : {
    onSample: (s) => samples.push(s),
    onPsnEvent: (e) => psnEvents!.push(e),
  };
  const esp = espSetupFromArgs(opts.args);
  const analyzer = new Analyzer({
    idleTimeoutUs: opts.idleTimeoutUs, allFlows: opts.allFlows, esp: esp.opener, observer,
    keepSketches: opts.keepSketches,
    // Ended flows beyond the bound wait for the output in a temporary file, not the heap.
    ...(opts.maxFlows === undefined ? {} : { maxFlows: opts.maxFlows }), spill: () => new FileFlowSpill(),
  });
  const progress = opts.progress;
  const inputs = await readInputs(files, opts.filter, (frame, capLen, wireLen, tsUs, linkType, frameNumber, fileIndex) => {
    analyzer.addFrame(frame, capLen, wireLen, tsUs, linkType, frameNumber);
    if (progress !== undefined && (frameNumber & 0xffff) === 0) progress.update(fileIndex, frameNumber);
  }, esp.preOpen, (words, at, frameNumber, fileIndex) => {
    // Large files: the reader thread decoded the packet (capture/packet-recorder.ts).
    analyzer.addRecord(words, at, frameNumber);
    if (progress !== undefined && (frameNumber & 0xffff) === 0) progress.update(fileIndex, frameNumber);
  });
  progress?.done();
  const { head, flows } = analyzer.end(inputs);
  return { head, flows, samples, psnEvents };
}

export function flowCsvHeader(f: FlowReport): string[] {
  return Object.keys(flatten(f as unknown as Record<string, unknown>));
}

/** Writes the document in `format`, building one flow report at a time. */
export function writeAnalyzeOutput(head: AnalyzeHead, flows: FinishedFlows, format: Format): void {
  switch (format) {
    case 'json': {
      // Flow by flow: one JSON.stringify of 100,000 flows would hold a string of hundreds of MB.
      const headText = JSON.stringify(head, null, 2);
      stdout.write(headText.slice(0, -2) + ',\n  "flows": [');
      let first = true;
      for (const f of flows.reports()) {
        stdout.write((first ? '\n    ' : ',\n    ') + JSON.stringify(f, null, 2).replace(/\n/g, '\n    '));
        first = false;
      }
      stdout.line(flows.length === 0 ? ']\n}' : '\n  ]\n}');
      break;
    }
    case 'ndjson':
      for (const f of flows.reports()) stdout.line(JSON.stringify(f));
      break;
    case 'csv': {
      if (flows.length === 0) break;
      // The columns of the first flow name every line's fields (as they always have).
      const header = flowCsvHeader(flows.report(0));
      stdout.line(header.join(','));
      for (const f of flows.reports()) {
        const flat = flatten(f as unknown as Record<string, unknown>);
        stdout.line(csvLine(header.map((h) => flat[h])));
      }
      break;
    }
    case 'table':
      writeAnalyzeTable(head, flows.length, flows.reports(), (text) => stdout.write(text));
      break;
  }
  stdout.flush();
}

export const analyzeCommand: CommandModule<object, AnalyzeArgs> = {
  command: 'analyze <files..>',
  describe: 'flows, server delay, round-trip delay and total from the PDM options in captures',
  builder: (y: Argv<object>) =>
    maxFlowsOption(storeOptions(espOptions(inputOptions(y))))
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'pcap or pcapng files, read in order as one capture' })
      .option('format', { choices: ['table', 'json', 'ndjson', 'csv'] as const, default: 'table' as Format, describe: 'output format (json: schema pdmscope.analyze/1)' })
      .option('all-flows', { type: 'boolean', default: false, describe: 'also list IPv6 flows without PDM' })
      .option('idle-timeout', durationOption('idle-timeout', { default: '120s', describe: 'a flow idle this long (capture time) ends; the next packet starts a new flow' }))
      .option('report', { type: 'string', describe: 'also write a self-contained HTML report (with every sample) to this path' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress or notes on stderr' })
      .example('$0 analyze trace.pcapng', 'flow table with delay statistics')
      .example('$0 analyze a.pcap b.pcap --format json --no-db | jq .flows[0].rtd_ns', 'the analyze/1 document')
      .example('$0 analyze esp.pcap --esp-sa ~/.config/wireshark/esp_sa', 'PDM inside ESP with Wireshark\'s keys')
      .epilogue(FILTER_HELP) as unknown as Argv<AnalyzeArgs>,
  handler: async (args) => {
    const files = requireInputs(args.files);
    const idleTimeoutUs = durationArgNs(args.idleTimeout, 'idle-timeout') / 1000;
    const maxFlows = maxFlowsFromArgs(args);
    const store = args.db !== false;
    const keepSamples = (store && args.samples) || args.report !== undefined;
    const progress = !args.quiet && process.stderr.isTTY ? new Progress(files) : undefined;
    const started = Date.now();
    const result = await analyzeFiles(files, {
      filter: args.filter, allFlows: args.allFlows, idleTimeoutUs, maxFlows, keepSamples, keepSketches: store, args, ...(progress ? { progress } : {}),
    });
    writeAnalyzeOutput(result.head, result.flows, args.format);
    if (store) {
      const runId = await storeAnalyzeRun(args, files, result, started);
      if (!args.quiet) process.stderr.write(`pdmscope: stored as run ${runId} in ${args.db}\n`);
    }
    if (args.report !== undefined) {
      const { writeReportFile } = await import('../../sink/report.js'); // only with --report
      try {
        writeReportFile(args.report, {
          title: `pdmscope: ${files.join(', ')}`,
          generated_at_us: Date.now() * 1000,
          doc: { ...result.head, flows: [...result.flows.reports()] } satisfies AnalyzeDocument,
          samples: result.samples ?? [],
          psn_events: result.psnEvents ?? [],
        });
      } catch (err) {
        throw new UserError(err instanceof Error ? err.message : String(err));
      }
      if (!args.quiet) process.stderr.write(`pdmscope: report written to ${args.report}\n`);
    }
    result.flows.close();
    process.exitCode = inputsExitCode(result.head.inputs);
  },
};
