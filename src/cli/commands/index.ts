// Every command the CLI knows; one module per command.
import type { CommandModule } from 'yargs';
import { analyzeCommand } from './analyze.js';
import { liveCommand } from './live.js';
import { packetsCommand } from './packets.js';
import { queryCommand } from './query.js';
import { reflectCommand } from './reflect.js';
import { reportCommand } from './report.js';
import { sendCommand } from './send.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const COMMANDS: CommandModule<any, any>[] = [analyzeCommand, packetsCommand, queryCommand, liveCommand, reportCommand, sendCommand, reflectCommand];
