// Wireshark's `esp_sa` UAT file (epan/dissectors/packet-ipsec.c): one SA per line, eight quoted,
// comma-separated fields — Protocol, Src IP, Dest IP, SPI, Encryption, Encryption Key,
// Authentication, Authentication Key — and, a pdmscope extension Wireshark lacks, an optional
// ninth field that turns on extended sequence numbers (RFC 4303 §2.2.1):
//
//   "IPv6","2001:db8::1","2001:db8::2","0x00002000","AES-GCM with 16 octet ICV [RFC4106]","0x…","NULL",""
//   "IPv6","*","2001:db8::/32","*","AES-CBC [RFC3602]","0x…","HMAC-SHA-256-128 [RFC4868]","0x…","esn"
//
// Keys never leave this module in readable form: they sit in SecretBytes, whose toString,
// toJSON and inspect output say only how long they are, and no error message quotes a key field.

import { readFileSync } from 'node:fs';
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

/** Reads and parses an SA file; throws EspSaFileError (unreadable file included). */
export function loadEspSaFile(path: string): EspSaRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new EspSaFileError(path, 0, `cannot read it (${code})`);
  }
  return parseEspSaText(text, path);
}

/** Parses the text of an SA file named `file` (for messages). */
export function parseEspSaText(text: string, file: string): EspSaRecord[] {
  const records: EspSaRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const lineNo = i + 1;
    const fail = (problem: string): never => { throw new EspSaFileError(file, lineNo, problem); };
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
    if (line[i] !== '"') fail(`field ${fields.length + 1} does not start with a double quote`);
    i++;
    let value = '';
    for (;;) {
      if (i >= line.length) fail(`field ${fields.length + 1} has no closing double quote`);
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
        fail(`field ${fields.length + 1} has an unknown escape`);
      }
      value += ch;
      i++;
    }
    fields.push(value);
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) return fields;
    if (line[i] !== ',') fail(`expected a comma after field ${fields.length}`);
    i++;
  }
}

function parseRecord(f: string[], origin: string, fail: (p: string) => never): EspSaRecord {
  const protocol = f[0]!;
  if (protocol !== 'IPv6' && protocol !== 'IPv4') fail(`protocol must be "IPv6" or "IPv4", not "${printable(protocol)}"`);
  const v6 = protocol === 'IPv6';
  const src = parseAddressPattern(f[1]!, v6, 'source address', fail);
  const dst = parseAddressPattern(f[2]!, v6, 'destination address', fail);
  const spi = parseSpi(f[3]!, fail);

  const encryption = f[4]!;
  const encSpec = ENCRYPTIONS.get(encryption);
  if (encSpec === undefined) {
    fail(`unknown encryption "${printable(encryption)}" (use Wireshark's exact name, e.g. "AES-CBC [RFC3602]" or "AES-GCM with 16 octet ICV [RFC4106]")`);
  }
  const encryptionKey = parseKey(f[5]!, 'encryption key', fail);
  if (encSpec!.kind !== 'null' && !encSpec!.keyLengths.includes(encryptionKey.length)) {
    const want = encSpec!.keyLengths.join(', ').replace(/, (\d+)$/, ' or $1');
    const salt = encSpec!.kind === 'gcm' || encryption === 'AES-GCM [RFC4106]' ? ' (AES key followed by the 4-byte salt)'
      : encSpec!.kind === 'ctr' ? ' (AES key followed by the 4-byte nonce)' : '';
    fail(`${encryption} needs a ${want}-byte encryption key${salt}, got ${encryptionKey.length} bytes`);
  }

  const authentication = f[6]!;
  const authSpec = AUTHENTICATIONS.get(authentication);
  if (authSpec === undefined) {
    fail(`unknown authentication "${printable(authentication)}" (use Wireshark's exact name, e.g. "HMAC-SHA-256-128 [RFC4868]" or "NULL")`);
  }
  const authenticationKey = parseKey(f[7]!, 'authentication key', fail);
  if (authSpec!.hash !== null && authenticationKey.length === 0) fail(`${authentication} needs an authentication key`);
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

/** Non-key fields may be echoed, but only printable and short. */
function printable(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 57)}...` : clean;
}

function parseAddressPattern(text: string, v6: boolean, what: string, fail: (p: string) => never): AddressPattern {
  const t = text.trim();
  if (t === '*' || t === '') {
    if (t === '') fail(`${what} is empty (use * for any)`);
    return { bytes: null, prefixBits: 0, text: '*' };
  }
  const slash = t.indexOf('/');
  const addrText = slash >= 0 ? t.slice(0, slash) : t;
  const maxBits = v6 ? 128 : 32;
  let prefixBits = maxBits;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > maxBits) fail(`${what} has a bad prefix length "/${printable(p)}" (0 to ${maxBits})`);
    prefixBits = Number(p);
  }
  const bytes = v6 ? parseIpv6Address(addrText) : parseIpv4(addrText);
  if (bytes === null) fail(`${what} "${printable(addrText)}" is not an ${v6 ? 'IPv6' : 'IPv4'} address`);
  return { bytes: bytes!, prefixBits, text: t };
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

/** `strtoul(s, NULL, 0)` as Wireshark reads the SPI: 0x hex, leading-0 octal, decimal; `*` any. */
function parseSpi(text: string, fail: (p: string) => never): number | null {
  const t = text.trim();
  if (t === '*') return null;
  let value: number;
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(t)) value = parseInt(t.slice(2), 16);
  else if (/^0[0-7]+$/.test(t)) value = parseInt(t, 8);
  else if (/^(0|[1-9]\d{0,9})$/.test(t)) value = Number(t);
  else return fail(`SPI "${printable(t)}" is not a number (0x2000, 8192) or *`);
  if (value > 0xffffffff) fail(`SPI ${printable(t)} does not fit in 32 bits`);
  return value;
}

/** Wireshark's compute_ascii_key: `0x` + hex digits (odd count: a leading 0), else ASCII bytes. */
function parseKey(text: string, what: string, fail: (p: string) => never): SecretBytes {
  if (text.length >= 2 && text[0] === '0' && (text[1] === 'x' || text[1] === 'X')) {
    let hex = text.slice(2);
    if (!/^[0-9a-fA-F]*$/.test(hex)) fail(`${what} starts with 0x but is not all hex digits`);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    return new SecretBytes(Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  return new SecretBytes(Uint8Array.from(Buffer.from(text, 'latin1')));
}

function parseEsn(text: string, fail: (p: string) => never): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'esn' || t === '1' || t === 'true' || t === 'yes') return true;
  if (t === '' || t === '0' || t === 'false' || t === 'no') return false;
  return fail(`ninth field must be "esn" (or 1/true/yes; empty/0/false/no for 32-bit sequence numbers), not "${printable(text)}"`);
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
