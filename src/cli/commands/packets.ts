// `pdmscope packets FILE...`: every PDM option in the captures, one row per option, decoded.

import type { Argv, CommandModule } from 'yargs';
import type { AnomalyName } from '../../decode/anomalies.js';
import { Decoder } from '../../decode/decode.js';
import { DecodedPacket, type PdmHit } from '../../decode/packet.js';
import { PacketCounters } from '../../metrics/counters.js';
import { protoName } from '../../metrics/proto-names.js';
import type { InputReport } from '../../metrics/types.js';
import { pdmDeltaNs } from '../../wire/pdm.js';
import { anomalyLine } from '../flow-format.js';
import { inputsExitCode, readInputs, requireInputs } from '../input.js';
import { Ipv6TextCache } from '../ipv6-text.js';
import { stdout } from '../output.js';
import { csvLine } from '../table.js';
import { formatDurationNs, formatTsUs } from '../units.js';
import { FILTER_HELP, type CommonInputArgs, espOptions, espSetupFromArgs, inputOptions } from './common.js';

type Format = 'table' | 'json' | 'ndjson' | 'csv';

interface PacketsArgs extends CommonInputArgs {
  files: string[];
  format: Format;
  quiet: boolean;
}

/** One output row: the snake_case names of docs/architecture.md §3, shared by every format. */
export interface PdmRow {
  frame: number;
  file: string;
  ts_us: number;
  src: string;
  dst: string;
  proto: string | null;
  proto_num: number | null;
  src_port: number | null;
  dst_port: number | null;
  icmp_echo_id: number | null;
  position: string;
  esp: string;
  /** 1: RFC 8250; 2: PDMv2 clear form (draft-ietf-ippm-encrypted-pdmv2-14), whose PSNs are 32-bit. */
  pdm_version: number;
  scale_dtlr: number;
  scale_dtls: number;
  psn_this_pkt: number;
  psn_last_recv: number;
  delta_last_recv: number;
  delta_last_sent: number;
  /** PDMv2 only (null for RFC 8250). */
  epoch: number | null;
  global_pointer: number | null;
  delta_last_recv_ns: number;
  delta_last_sent_ns: number;
}

const ROW_FIELDS: (keyof PdmRow)[] = [
  'frame', 'file', 'ts_us', 'src', 'dst', 'proto', 'proto_num', 'src_port', 'dst_port', 'icmp_echo_id', 'position', 'esp', 'pdm_version',
  'scale_dtlr', 'scale_dtls', 'psn_this_pkt', 'psn_last_recv', 'delta_last_recv', 'delta_last_sent', 'epoch', 'global_pointer',
  'delta_last_recv_ns', 'delta_last_sent_ns',
];

function rowOf(p: DecodedPacket, hit: PdmHit, file: string, addresses: Ipv6TextCache): PdmRow {
  const inner = hit.layer > 0;
  const esp = p.espSpi < 0 ? 'none' : hit.layer === 2 ? 'tunnel' : inner ? 'inside' : 'outside';
  const hasUpper = p.upperProto >= 0;
  return {
    frame: p.frameNumber,
    file,
    ts_us: p.tsUs,
    src: addresses.text(hit.layer === 2 ? p.addrBuf : p.outerBuf, hit.layer === 2 ? p.srcOff : p.outerSrcOff),
    dst: addresses.text(hit.layer === 2 ? p.addrBuf : p.outerBuf, hit.layer === 2 ? p.dstOff : p.outerDstOff),
    proto: hasUpper ? protoName(p.upperProto) : null,
    proto_num: hasUpper ? p.upperProto : null,
    src_port: p.srcPort >= 0 ? p.srcPort : null,
    dst_port: p.dstPort >= 0 ? p.dstPort : null,
    icmp_echo_id: p.icmpEchoId >= 0 ? p.icmpEchoId : null,
    position: hit.position,
    esp,
    pdm_version: hit.version,
    scale_dtlr: hit.scaleDtlr,
    scale_dtls: hit.scaleDtls,
    psn_this_pkt: hit.psnThisPkt,
    psn_last_recv: hit.psnLastRecv,
    delta_last_recv: hit.deltaLastRecv,
    delta_last_sent: hit.deltaLastSent,
    epoch: hit.version === 2 ? hit.epoch : null,
    global_pointer: hit.version === 2 ? hit.globalPointer : null,
    delta_last_recv_ns: pdmDeltaNs(hit.deltaLastRecv, hit.scaleDtlr),
    delta_last_sent_ns: pdmDeltaNs(hit.deltaLastSent, hit.scaleDtls),
  };
}

const TABLE_HEADER =
  'frame      time (UTC)                   source -> destination                           proto  position  esp      ' +
  'scale r/s  psn this  psn last  delta last recv  delta last sent';

function tableLine(r: PdmRow): string {
  const ports = r.src_port !== null ? `${r.src}.${r.src_port} -> ${r.dst}.${r.dst_port}` :
    r.icmp_echo_id !== null ? `${r.src} -> ${r.dst} id ${r.icmp_echo_id}` : `${r.src} -> ${r.dst}`;
  const position = (r.position === 'dstopts' ? 'dst' : r.position === 'dstopts_before_routing' ? 'dst<rh' : 'hbh') +
    (r.pdm_version === 2 ? ' v2' : '');
  return `${String(r.frame).padEnd(10)} ${formatTsUs(r.ts_us)}  ${ports.padEnd(47)} ${(r.proto ?? '-').padEnd(6)} ` +
    `${position.padEnd(9)} ${r.esp.padEnd(8)} ${`${r.scale_dtlr}/${r.scale_dtls}`.padStart(9)}  ${String(r.psn_this_pkt).padStart(8)}  ` +
    `${String(r.psn_last_recv).padStart(8)}  ${formatDurationNs(r.delta_last_recv_ns).padStart(15)}  ${formatDurationNs(r.delta_last_sent_ns).padStart(15)}`;
}

/** The stderr summary: totals, then each anomaly by name. */
export function summaryLines(counters: PacketCounters, inputs: InputReport[]): string {
  const lines = [`packets: ${counters.total} read, ${counters.ipv6} IPv6, ${counters.withPdm} with PDM, ${counters.malformed} malformed` +
    (inputs.length > 1 ? ` (${inputs.length} files)` : '')];
  for (const [name, n] of Object.entries(counters.sortedAnomalies())) {
    lines.push(anomalyLine(name as AnomalyName, n));
  }
  for (const [spi, n] of Object.entries(counters.espNoSaRecord())) lines.push(`  esp_no_sa spi ${spi}: ${n}`);
  return lines.join('\n') + '\n';
}

export const packetsCommand: CommandModule<object, PacketsArgs> = {
  command: 'packets <files..>',
  describe: 'list every PDM option in capture files, decoded',
  builder: (y: Argv<object>) =>
    espOptions(inputOptions(y))
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'pcap or pcapng files, read in order' })
      .option('format', { choices: ['table', 'json', 'ndjson', 'csv'] as const, default: 'table' as Format, describe: 'output format' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no summary on stderr' })
      .example('$0 packets trace.pcapng', 'one line per PDM option')
      .example('$0 packets trace.pcap --format ndjson | jq .psn_this_pkt', 'machine-readable')
      .example("$0 packets trace.pcap --filter 'ip6 protochain 17'", 'UDP behind extension headers')
      .epilogue(FILTER_HELP) as unknown as Argv<PacketsArgs>,
  handler: async (args) => {
    const files = requireInputs(args.files);
    const esp = espSetupFromArgs(args);
    const decoder = new Decoder({ esp: esp.opener });
    const packet = new DecodedPacket();
    const counters = new PacketCounters();
    const format = args.format;
    let first = true;
    const addresses = new Ipv6TextCache();
    if (format === 'table') stdout.line(TABLE_HEADER);
    if (format === 'csv') stdout.line(ROW_FIELDS.join(','));
    if (format === 'json') stdout.write('{"schema":"pdmscope.packets/1","pdm":[');
    const inputs = await readInputs(files, args.filter, (frame, capLen, wireLen, tsUs, linkType, frameNumber, fileIndex) => {
      decoder.decodeFrame(frame, capLen, wireLen, tsUs, linkType, frameNumber, packet);
      counters.count(packet);
      for (let i = 0; i < packet.pdmCount; i++) {
        const row = rowOf(packet, packet.pdm[i]!, files[fileIndex]!, addresses);
        switch (format) {
          case 'ndjson': stdout.line(JSON.stringify(row)); break;
          case 'json': stdout.write((first ? '' : ',') + JSON.stringify(row)); first = false; break;
          case 'csv': stdout.line(csvLine(ROW_FIELDS.map((f) => row[f]))); break;
          case 'table': stdout.line(tableLine(row)); break;
        }
      }
    }, esp.preOpen);
    if (format === 'json') {
      stdout.write(`],"inputs":${JSON.stringify(inputs)},"packets":${JSON.stringify(counters.summary())},` +
        `"anomalies":${JSON.stringify(counters.sortedAnomalies())},"esp_no_sa_by_spi":${JSON.stringify(counters.espNoSaRecord())}}\n`);
    }
    stdout.flush();
    if (!args.quiet) process.stderr.write(summaryLines(counters, inputs));
    process.exitCode = inputsExitCode(inputs);
  },
};
