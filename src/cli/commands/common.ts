// Options shared by the commands that read packets: BPF filter, ESP keys.

import { writeSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { EspOpener } from '../../decode/esp-opener.js';
import { EspPreOpen } from '../../capture/esp-preopen.js';
import { createEspOpener } from '../../crypto/esp.js';
import { EspSaFileError, type EspSaRecord, loadEspSaFile } from '../../crypto/sa-file.js';
import { UserError } from '../errors.js';

export const FILTER_HELP =
  'BPF filters run in libpcap before pdmscope sees a packet. `udp` and `udp port N` do NOT match UDP ' +
  'behind a Destination Options header (where PDM lives): use `ip6 protochain 17` for UDP and ' +
  '`ip6 protochain 6` for TCP, or `ip6[6] == 60` for packets whose first extension header is ' +
  'Destination Options.';

export interface CommonInputArgs {
  filter?: string;
  espSa?: string;
  espNull: boolean;
}

export function inputOptions<T>(y: Argv<T>): Argv<T> {
  return y.option('filter', { type: 'string', describe: 'BPF filter given to libpcap (see below: `udp` misses UDP behind extension headers)' });
}

export function espOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('esp-sa', { type: 'string', describe: "ESP keys in Wireshark's esp_sa format (one SA per line; optional 9th field esn)" })
    .option('esp-null', { type: 'boolean', default: true, describe: 'read ESP-NULL payloads without keys (heuristic); --no-esp-null turns it off' });
}

/** The ESP opener the arguments ask for, or null when nothing inside ESP can be read. */
export function openerFromArgs(args: CommonInputArgs): EspOpener | null {
  const records = saRecordsFromArgs(args);
  if (records.length === 0 && !args.espNull) return null;
  return createEspOpener(records, { nullHeuristic: args.espNull });
}

/** ESP opening for commands that read capture files: the Decoder's opener and the read option. */
export interface EspSetup {
  /** For the Decoder (null: nothing inside ESP is read). */
  opener: EspOpener | null;
  /** For readCaptureFile (ReadOptions.esp): a worker read opens ESP next to libpcap. */
  preOpen: EspPreOpen | null;
}

/** Like openerFromArgs, for file reads: ESP is opened in the reader thread when it has one. */
export function espSetupFromArgs(args: CommonInputArgs): EspSetup {
  const records = saRecordsFromArgs(args);
  if (records.length === 0 && !args.espNull) return { opener: null, preOpen: null };
  const preOpen = new EspPreOpen(records, { nullHeuristic: args.espNull });
  return { opener: preOpen.opener, preOpen };
}

function saRecordsFromArgs(args: CommonInputArgs): EspSaRecord[] {
  let records: EspSaRecord[] = [];
  if (args.espSa !== undefined) {
    try {
      // A FIFO nobody writes yet: say so on stderr rather than wait in silence (sa-file.ts).
      records = loadEspSaFile(args.espSa, { onWaiting: (notice) => { try { writeSync(2, `pdmscope: ${notice}\n`); } catch { /* stderr gone */ } } });
    } catch (err) {
      // The parser's messages name file and line, never key material.
      if (err instanceof EspSaFileError) throw new UserError(err.message);
      throw new UserError(`${args.espSa}: ${(err as Error).message}`);
    }
  }
  return records;
}
