// Wireshark's `esp_sa` UAT file (epan/dissectors/packet-ipsec.c): one SA per line, eight quoted,
// comma-separated fields — Protocol, Src IP, Dest IP, SPI, Encryption, Encryption Key,
// Authentication, Authentication Key — and, a pdmscope extension Wireshark lacks, an optional
// ninth field that turns on extended sequence numbers (RFC 4303 §2.2.1):
//
//   "IPv6","2001:db8::1","2001:db8::2","0x00002000","AES-GCM with 16 octet ICV [RFC4106]","0x…","NULL",""
//   "IPv6","*","2001:db8::/32","*","AES-CBC [RFC3602]","0x…","HMAC-SHA-256-128 [RFC4868]","0x…","esn"
//
// Keys never leave this module in readable form: they sit in SecretBytes, whose toString,
// toJSON and inspect output say only how long they are, and no error message quotes any field
// (a key may sit in the wrong one): messages name the file, the line and the field.

import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { inspect } from 'node:util';
import { parseIpv6Address } from '../wire/ipv6.js';

/** A key from the SA file. Readable only through `bytes()`; printing it shows its length only. */
export class SecretBytes {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** The key bytes themselves, for the cipher and HMAC set-up only. */
  bytes(): Uint8Array {
    return this.#bytes;
  }

  toString(): string {
    return `[secret, ${this.#bytes.length} bytes]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Encryption transforms, named by the exact strings of Wireshark's SA table. */
export type EspEncryptionName =
  | 'NULL'
  | 'TripleDES-CBC [RFC2451]'
  | 'AES-CBC [RFC3602]'
  | 'AES-CTR [RFC3686]'
  | 'DES-CBC [RFC2405]'
  | 'CAST5-CBC [RFC2144]'
  | 'BLOWFISH-CBC [RFC2451]'
  | 'TWOFISH-CBC'
  | 'AES-GCM [RFC4106]'
  | 'AES-GCM with 8 octet ICV [RFC4106]'
  | 'AES-GCM with 12 octet ICV [RFC4106]'
  | 'AES-GCM with 16 octet ICV [RFC4106]';

export type EspAuthenticationName =
  | 'NULL'
  | 'HMAC-SHA-1-96 [RFC2404]'
  | 'HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]'
  | 'HMAC-SHA-256-128 [RFC4868]'
  | 'HMAC-SHA-384-192 [RFC4868]'
  | 'HMAC-SHA-512-256 [RFC4868]'
  | 'HMAC-MD5-96 [RFC2403]'
  | 'MAC-RIPEMD-160-96 [RFC2857]'
  | 'ANY 64 bit authentication [no checking]'
  | 'ANY 96 bit authentication [no checking]'
  | 'ANY 128 bit authentication [no checking]'
  | 'ANY 192 bit authentication [no checking]'
  | 'ANY 256 bit authentication [no checking]';

export interface EncryptionSpec {
  /** node:crypto cipher name before the key-size suffix is chosen; null: NULL or unsupported. */
  readonly kind: 'null' | 'cbc' | 'ctr' | 'gcm' | 'unsupported';
  /** Allowed key lengths in bytes, salt or nonce included (RFC 4106 §8.1, RFC 3686 §5.1). */
  readonly keyLengths: readonly number[];
  /** Explicit IV on the wire (RFC 3602 §3: 16; RFC 4106 §3.1 and RFC 3686 §3.1: 8). */
  readonly ivLength: number;
  readonly blockLength: number;
  /** AES-GCM: the ICV is the (truncated) tag, RFC 4106 §6. */
  readonly icvLength: number;
}

export interface AuthenticationSpec {
  /** node:crypto hash for the HMAC; null: no ICV check (NULL or "ANY … [no checking]"). */
  readonly hash: string | null;
  readonly icvLength: number;
}

const ENCRYPTIONS: ReadonlyMap<string, EncryptionSpec> = new Map<EspEncryptionName, EncryptionSpec>([
  ['NULL', { kind: 'null', keyLengths: [], ivLength: 0, blockLength: 1, icvLength: 0 }],
  ['TripleDES-CBC [RFC2451]', { kind: 'cbc', keyLengths: [24], ivLength: 8, blockLength: 8, icvLength: 0 }],
  ['AES-CBC [RFC3602]', { kind: 'cbc', keyLengths: [16, 24, 32], ivLength: 16, blockLength: 16, icvLength: 0 }],
  ['AES-CTR [RFC3686]', { kind: 'ctr', keyLengths: [20, 28, 36], ivLength: 8, blockLength: 1, icvLength: 0 }],
  ['DES-CBC [RFC2405]', { kind: 'unsupported', keyLengths: [8], ivLength: 8, blockLength: 8, icvLength: 0 }],
  ['CAST5-CBC [RFC2144]', { kind: 'unsupported', keyLengths: [16], ivLength: 8, blockLength: 8, icvLength: 0 }],
  ['BLOWFISH-CBC [RFC2451]', { kind: 'unsupported', keyLengths: [16], ivLength: 8, blockLength: 8, icvLength: 0 }],
  ['TWOFISH-CBC', { kind: 'unsupported', keyLengths: [16, 32], ivLength: 16, blockLength: 16, icvLength: 0 }],
  // Wireshark's deprecated entry with a 0-byte ICV: its own decryption yields a garbage trailer.
  ['AES-GCM [RFC4106]', { kind: 'unsupported', keyLengths: [20, 28, 36], ivLength: 8, blockLength: 1, icvLength: 0 }],
  ['AES-GCM with 8 octet ICV [RFC4106]', { kind: 'gcm', keyLengths: [20, 28, 36], ivLength: 8, blockLength: 1, icvLength: 8 }],
  ['AES-GCM with 12 octet ICV [RFC4106]', { kind: 'gcm', keyLengths: [20, 28, 36], ivLength: 8, blockLength: 1, icvLength: 12 }],
  ['AES-GCM with 16 octet ICV [RFC4106]', { kind: 'gcm', keyLengths: [20, 28, 36], ivLength: 8, blockLength: 1, icvLength: 16 }],
]);

const AUTHENTICATIONS: ReadonlyMap<string, AuthenticationSpec> = new Map<EspAuthenticationName, AuthenticationSpec>([
  ['NULL', { hash: null, icvLength: 0 }],
  ['HMAC-SHA-1-96 [RFC2404]', { hash: 'sha1', icvLength: 12 }],
  ['HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]', { hash: 'sha256', icvLength: 12 }],
  ['HMAC-SHA-256-128 [RFC4868]', { hash: 'sha256', icvLength: 16 }],
  ['HMAC-SHA-384-192 [RFC4868]', { hash: 'sha384', icvLength: 24 }],
  ['HMAC-SHA-512-256 [RFC4868]', { hash: 'sha512', icvLength: 32 }],
  ['HMAC-MD5-96 [RFC2403]', { hash: 'md5', icvLength: 12 }],
  ['MAC-RIPEMD-160-96 [RFC2857]', { hash: 'ripemd160', icvLength: 12 }],
  ['ANY 64 bit authentication [no checking]', { hash: null, icvLength: 8 }],
  ['ANY 96 bit authentication [no checking]', { hash: null, icvLength: 12 }],
  ['ANY 128 bit authentication [no checking]', { hash: null, icvLength: 16 }],
  ['ANY 192 bit authentication [no checking]', { hash: null, icvLength: 24 }],
  ['ANY 256 bit authentication [no checking]', { hash: null, icvLength: 32 }],
]);

export function encryptionSpec(name: EspEncryptionName): EncryptionSpec {
  return ENCRYPTIONS.get(name)!;
}

export function authenticationSpec(name: EspAuthenticationName): AuthenticationSpec {
  return AUTHENTICATIONS.get(name)!;
}

/** An address column: `*`, an address, or an address/prefix. `bytes` null means any. */
export interface AddressPattern {
  readonly bytes: Uint8Array | null;
  readonly prefixBits: number;
  readonly text: string;
}

export interface EspSaRecord {
  readonly protocol: 'IPv4' | 'IPv6';
  readonly src: AddressPattern;
  readonly dst: AddressPattern;
  /** null: any SPI (`*`). */
  readonly spi: number | null;
  readonly encryption: EspEncryptionName;
  readonly encryptionKey: SecretBytes;
  readonly authentication: EspAuthenticationName;
  readonly authenticationKey: SecretBytes;
  /** Extended (64-bit) sequence numbers, RFC 4303 §2.2.1: the ninth field. */
  readonly esn: boolean;
  /** `file:line`, for messages. */
  readonly origin: string;
}

/** A bad SA file: one line naming the file, the line and the problem, never a key. */
export class EspSaFileError extends Error {
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, problem: string) {
    super(line > 0 ? `esp_sa file ${file}, line ${line}: ${problem}` : `esp_sa file ${file}: ${problem}`);
    this.name = 'EspSaFileError';
    this.file = file;
    this.line = line;
  }
}

/**
 * Bounds on an SA file. The longest real line — IPv6 address/prefix columns, the longest algorithm
 * names, a 36-byte AES-CTR-256 key and a 64-byte HMAC-SHA-512 key in hex — is under 400
 * characters (an ASCII key written as `\xHH` escapes quadruples, still under 600), so 4 KiB per
 * line is ten times any real one; 8 MiB holds over 20,000 such maximal lines or ~50,000 typical
 * ones, more SAs than a gateway keeps. Beyond either, the file is not an SA table (`/dev/zero`, a
 * capture given by mistake) and reading it would only cost memory and time.
 */
export const MAX_SA_FILE_BYTES = 8 * 1024 * 1024;
export const MAX_SA_LINE_CHARS = 4096;
/** A FIFO (`mkfifo`, a script writing the keys) must be written and closed within this time. */
export const SA_FIFO_WAIT_MS = 10_000;
/** When the FIFO has said nothing for this long, `onWaiting` tells the user what is going on. */
const SA_FIFO_NOTICE_MS = 1000;

export interface LoadEspSaOptions {
  /** Time a FIFO may take to be written and closed (default SA_FIFO_WAIT_MS). */
  readonly fifoWaitMs?: number;
  /** Called once, with a one-line notice, when a FIFO still has no writer after a second. */
  readonly onWaiting?: (notice: string) => void;
}

/**
 * Reads and parses an SA file; throws EspSaFileError (unreadable file included). A regular file
 * or a FIFO (named pipe, `<(…)`, /dev/stdin from a pipe) is read up to MAX_SA_FILE_BYTES; a device,
 * directory or socket is refused without reading (`/dev/zero` never ends). A FIFO is opened without
 * blocking, so one that nobody writes ends in an error after `fifoWaitMs` instead of a silent hang.
 */
export function loadEspSaFile(path: string, options: LoadEspSaOptions = {}): EspSaRecord[] {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new EspSaFileError(path, 0, `cannot read it (${errCode(err)})`);
  }
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (st.isFile()) {
      if (st.size > MAX_SA_FILE_BYTES) throw tooLarge(path);
      bytes = readBounded(fd, path, null);
    } else if (st.isFIFO()) {
      bytes = readBounded(fd, path, { waitMs: options.fifoWaitMs ?? SA_FIFO_WAIT_MS, onWaiting: options.onWaiting });
    } else {
      const kind = st.isDirectory() ? 'a directory' : st.isCharacterDevice() ? 'a character device'
        : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
      throw new EspSaFileError(path, 0, `is ${kind}, not an SA file (give a regular file or a FIFO)`);
    }
  } catch (err) {
    if (err instanceof EspSaFileError) throw err;
    throw new EspSaFileError(path, 0, `cannot read it (${errCode(err)})`);
  } finally {
    closeSync(fd);
  }
  return parseEspSaText(bytes.toString('utf8'), path);
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'unreadable';
}

function tooLarge(path: string): EspSaFileError {
  return new EspSaFileError(path, 0, `is larger than ${MAX_SA_FILE_BYTES / 1024 / 1024} MiB, too large for an SA table`);
}

/**
 * Reads `fd` to its end, at most MAX_SA_FILE_BYTES (one byte more is an error). `fifo` null: a
 * regular file. A FIFO opened with O_NONBLOCK reads EAGAIN while a writer holds it open with
 * nothing to say, and 0 both at the end and while no writer has opened it yet (pipe(7)), so a 0
 * before any byte keeps waiting until the deadline — an empty writer is reported the same way.
 */
function readBounded(fd: number, path: string, fifo: { waitMs: number; onWaiting?: ((notice: string) => void) | undefined } | null): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const startedMs = Date.now();
  let sawWriter = false;
  let noticed = false;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      if (fifo === null || (err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      n = -1;
      sawWriter = true;
    }
    if (n > 0) {
      total += n;
      if (total > MAX_SA_FILE_BYTES) throw tooLarge(path);
      chunks.push(chunk.subarray(0, n));
      continue;
    }
    if (fifo === null || (n === 0 && total > 0)) break;
    const waitedMs = Date.now() - startedMs;
    if (waitedMs >= fifo.waitMs) {
      throw new EspSaFileError(path, 0, sawWriter || total > 0
        ? `is a FIFO whose writer did not close it within ${formatSeconds(fifo.waitMs)}`
        : `is a FIFO that nobody wrote to within ${formatSeconds(fifo.waitMs)}`);
    }
    if (!noticed && !sawWriter && waitedMs >= SA_FIFO_NOTICE_MS) {
      noticed = true;
      fifo.onWaiting?.(`esp_sa file ${path} is a FIFO with no writer yet: waiting up to ${formatSeconds(fifo.waitMs)}`);
    }
    sleepMs(10);
  }
  return Buffer.concat(chunks, total);
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** The columns of a line, for messages: they name a field, never quote it (it may be a key). */
const FIELD_NAMES = ['protocol', 'source address', 'destination address', 'SPI', 'encryption', 'encryption key',
  'authentication', 'authentication key', 'esn'] as const;

function fieldName(index: number): string {
  const name = FIELD_NAMES[index];
  return name === undefined ? `field ${index + 1}` : `field ${index + 1} (${name})`;
}

/** Parses the text of an SA file named `file` (for messages). */
export function parseEspSaText(text: string, file: string): EspSaRecord[] {
  const records: EspSaRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (problem: string): never => { throw new EspSaFileError(file, lineNo, problem); };
    if (lines[i]!.length > MAX_SA_LINE_CHARS) fail(`longer than ${MAX_SA_LINE_CHARS} characters, too long for an SA line`);
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = splitUatLine(line, fail);
    if (fields.length < 8 || fields.length > 9) {
      fail(`expected 8 quoted fields (9 with esn), found ${fields.length}`);
    }
    records.push(parseRecord(fields, `${file}:${lineNo}`, fail));
  }
  return records;
}

/**
 * Splits `"a","b",…` with Wireshark's UAT escapes (`\\`, `\"`, `\xHH`). Errors never quote the
 * field text, which may be a key.
 */
function splitUatLine(line: string, fail: (p: string) => never): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] !== '"') fail(`${fieldName(fields.length)} does not start with a double quote`);
    i++;
    let value = '';
    for (;;) {
      if (i >= line.length) fail(`${fieldName(fields.length)} has no closing double quote`);
      const ch = line[i]!;
      if (ch === '"') { i++; break; }
      if (ch === '\\') {
        const next = line[i + 1];
        if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
          value += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        if (next === '\\' || next === '"') { value += next; i += 2; continue; }
        fail(`${fieldName(fields.length)} has an unknown escape`);
      }
      value += ch;
      i++;
    }
    fields.push(value);
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) return fields;
    if (line[i] !== ',') fail(`expected a comma after ${fieldName(fields.length - 1)}`);
    i++;
  }
}

// Messages below name the field and say what is wrong with it, and never quote it: a key pasted
// into the wrong column (issue 16) would otherwise be printed. Only names pdmscope itself matched
// (an algorithm from the tables above) are echoed.
function parseRecord(f: string[], origin: string, fail: (p: string) => never): EspSaRecord {
  const protocol = f[0]!;
  if (protocol === 'IPv4') {
    // pdmscope decodes IPv6 packets only (PDM is an IPv6 destination option, RFC 8250 §3), so an
    // IPv4 SA could never match a packet: say so rather than ignore the line.
    fail(`${fieldName(0)} is "IPv4": pdmscope reads ESP in IPv6 packets only (PDM is an IPv6 option), remove the line`);
  }
  if (protocol !== 'IPv6') fail(`${fieldName(0)} must be "IPv6"`);
  const src = parseAddressPattern(f[1]!, 1, fail);
  const dst = parseAddressPattern(f[2]!, 2, fail);
  const spi = parseSpi(f[3]!, fail);

  const encryption = f[4]!;
  const encSpec = ENCRYPTIONS.get(encryption);
  if (encSpec === undefined) {
    fail(`${fieldName(4)} is not one of Wireshark's encryption names (e.g. "AES-CBC [RFC3602]" or "AES-GCM with 16 octet ICV [RFC4106]")`);
  }
  const encryptionKey = parseKey(f[5]!, 5, fail);
  if (encSpec!.kind === 'null' && encryptionKey.length > 0) {
    fail(`${fieldName(5)} must be empty with NULL encryption (is a key in the wrong field?)`);
  }
  if (encSpec!.kind !== 'null' && !encSpec!.keyLengths.includes(encryptionKey.length)) {
    const want = encSpec!.keyLengths.join(', ').replace(/, (\d+)$/, ' or $1');
    const salt = encSpec!.kind === 'gcm' || encryption === 'AES-GCM [RFC4106]' ? ' (AES key followed by the 4-byte salt)'
      : encSpec!.kind === 'ctr' ? ' (AES key followed by the 4-byte nonce)' : '';
    fail(`${encryption} needs a ${want}-byte encryption key${salt}, got ${encryptionKey.length} bytes`);
  }

  const authentication = f[6]!;
  const authSpec = AUTHENTICATIONS.get(authentication);
  if (authSpec === undefined) {
    fail(`${fieldName(6)} is not one of Wireshark's authentication names (e.g. "HMAC-SHA-256-128 [RFC4868]" or "NULL")`);
  }
  const authenticationKey = parseKey(f[7]!, 7, fail);
  // HMAC takes a key of any length (RFC 2104 §3; Wireshark: "any keylen"), so only its presence
  // is checked; NULL takes none.
  if (authSpec!.hash !== null && authenticationKey.length === 0) fail(`${authentication} needs an authentication key`);
  if (authentication === 'NULL' && authenticationKey.length > 0) {
    fail(`${fieldName(7)} must be empty with NULL authentication (is a key in the wrong field?)`);
  }
  if (encSpec!.kind === 'gcm' && authentication !== 'NULL') {
    // RFC 4106 §2: the GCM tag is the ICV; Wireshark also insists on NULL here.
    fail(`${encryption} authenticates by itself: authentication must be "NULL"`);
  }

  const esn = f.length === 9 ? parseEsn(f[8]!, fail) : false;
  return {
    protocol, src, dst, spi,
    encryption: encryption as EspEncryptionName, encryptionKey,
    authentication: authentication as EspAuthenticationName, authenticationKey,
    esn, origin,
  };
}

function parseAddressPattern(text: string, index: number, fail: (p: string) => never): AddressPattern {
  const t = text.trim();
  if (t === '') fail(`${fieldName(index)} is empty (use * for any)`);
  if (t === '*') return { bytes: null, prefixBits: 0, text: '*' };
  const slash = t.indexOf('/');
  const addrText = slash >= 0 ? t.slice(0, slash) : t;
  let prefixBits = 128;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > 128) fail(`${fieldName(index)} has a bad prefix length (0 to 128)`);
    prefixBits = Number(p);
  }
  const bytes = parseIpv6Address(addrText);
  if (bytes === null) fail(`${fieldName(index)} is not an IPv6 address, address/prefix or *`);
  return { bytes: bytes!, prefixBits, text: t };
}

/** `strtoul(s, NULL, 0)` as Wireshark reads the SPI: 0x hex, leading-0 octal, decimal; `*` any. */
function parseSpi(text: string, fail: (p: string) => never): number | null {
  const t = text.trim();
  if (t === '*') return null;
  let value: number;
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(t)) value = parseInt(t.slice(2), 16);
  else if (/^0[0-7]+$/.test(t)) value = parseInt(t, 8);
  else if (/^(0|[1-9]\d{0,9})$/.test(t)) value = Number(t);
  else return fail(`${fieldName(3)} is not a number (0x2000, 8192) or *`);
  if (value > 0xffffffff) fail(`${fieldName(3)} does not fit in 32 bits`);
  return value;
}

/**
 * Wireshark's compute_ascii_key: `0x` + hex digits, else the ASCII bytes. Wireshark pads an odd
 * number of digits with a leading 0; here it is an error, as a key is whole bytes and a digit
 * lost or added in copying makes every packet fail authentication.
 */
function parseKey(text: string, index: number, fail: (p: string) => never): SecretBytes {
  if (text.length >= 2 && text[0] === '0' && (text[1] === 'x' || text[1] === 'X')) {
    const hex = text.slice(2);
    if (!/^[0-9a-fA-F]*$/.test(hex)) fail(`${fieldName(index)} starts with 0x but is not all hex digits`);
    if (hex.length % 2 === 1) fail(`${fieldName(index)} has an odd number of hex digits (${hex.length}); a key is whole bytes`);
    return new SecretBytes(Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  return new SecretBytes(Uint8Array.from(Buffer.from(text, 'latin1')));
}

function parseEsn(text: string, fail: (p: string) => never): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'esn' || t === '1' || t === 'true' || t === 'yes') return true;
  if (t === '' || t === '0' || t === 'false' || t === 'no') return false;
  return fail(`${fieldName(8)} must be "esn" (or 1/true/yes; empty/0/false/no for 32-bit sequence numbers)`);
}

/**
 * An EspSaRecord as plain data, for a worker thread (structured clone drops SecretBytes' private
 * field). Holds key bytes: hand it to a worker, never to a log or an error message.
 */
export interface EspSaRecordData extends Omit<EspSaRecord, 'encryptionKey' | 'authenticationKey'> {
  readonly encryptionKeyBytes: Uint8Array;
  readonly authenticationKeyBytes: Uint8Array;
}

export function espSaRecordsToData(records: readonly EspSaRecord[]): EspSaRecordData[] {
  return records.map(({ encryptionKey, authenticationKey, ...rest }) => ({
    ...rest,
    encryptionKeyBytes: encryptionKey.bytes().slice(),
    authenticationKeyBytes: authenticationKey.bytes().slice(),
  }));
}

export function espSaRecordsFromData(data: readonly EspSaRecordData[]): EspSaRecord[] {
  return data.map(({ encryptionKeyBytes, authenticationKeyBytes, ...rest }) => ({
    ...rest,
    encryptionKey: new SecretBytes(encryptionKeyBytes),
    authenticationKey: new SecretBytes(authenticationKeyBytes),
  }));
}
