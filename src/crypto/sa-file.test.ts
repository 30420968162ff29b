import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import {
  EspSaFileError, MAX_SA_FILE_BYTES, MAX_SA_LINE_CHARS, SA_FIFO_WAIT_MS, SecretBytes, loadEspSaFile, parseEspSaText,
} from './sa-file.js';

const GCM_KEY = '0x000102030405060708090a0b0c0d0e0fdeadbeef';
const AUTH_KEY = '0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

test('parses Wireshark records: wildcards, prefixes, SPI bases, hex and ASCII keys, esn', () => {
  const text = [
    '# comment',
    '',
    `"IPv6","2001:db8::1","2001:db8::2","0x00002000","AES-GCM with 16 octet ICV [RFC4106]","${GCM_KEY}","NULL",""`,
    `"IPv6","*","2001:db8::/32","8192","AES-CBC [RFC3602]","0123456789abcdef","HMAC-SHA-256-128 [RFC4868]","${AUTH_KEY}","esn"`,
    `  "IPv6" , "2001:db8::/48","*","*","NULL","","NULL",""  `,
    `"IPv6","2001:db8::1","2001:db8:1::/48","010","NULL","","HMAC-SHA-1-96 [RFC2404]","0x0123"`,
    `"IPv6","*","*","0xffffffff","NULL","","NULL","","0"`,
  ].join('\r\n');
  const r = parseEspSaText(text, 'sa.txt');
  assert.equal(r.length, 5);
  assert.equal(r[0]!.spi, 0x2000);
  assert.equal(r[0]!.encryptionKey.length, 20);
  assert.deepEqual([...r[0]!.encryptionKey.bytes().subarray(16)], [0xde, 0xad, 0xbe, 0xef]);
  assert.equal(r[0]!.esn, false);
  assert.equal(r[0]!.origin, 'sa.txt:3');
  assert.equal(r[1]!.spi, 8192);
  assert.equal(r[1]!.src.bytes, null);
  assert.equal(r[1]!.dst.prefixBits, 32);
  // Without 0x the key is its ASCII bytes (Wireshark compute_ascii_key).
  assert.deepEqual(Buffer.from(r[1]!.encryptionKey.bytes()).toString('latin1'), '0123456789abcdef');
  assert.equal(r[1]!.esn, true);
  assert.equal(r[2]!.spi, null);
  assert.equal(r[2]!.src.prefixBits, 48);
  assert.equal(r[3]!.dst.prefixBits, 48);
  assert.equal(r[3]!.spi, 8, 'a leading 0 is octal, as strtoul(…, 0)');
  assert.deepEqual([...r[3]!.authenticationKey.bytes()], [0x01, 0x23]);
  assert.equal(r[4]!.spi, 0xffffffff);
  assert.equal(r[4]!.esn, false);
});

test('UAT escapes: \\x22 and \\\\ inside fields', () => {
  const r = parseEspSaText('"IPv6","*","*","*","AES-CBC [RFC3602]","a\\x22b\\\\cdefghijklmn","NULL",""', 'f');
  assert.equal(Buffer.from(r[0]!.encryptionKey.bytes()).toString('latin1'), 'a"b\\cdefghijklmn');
});

test('every Wireshark algorithm string is accepted', () => {
  const encs: Array<[string, number]> = [
    ['NULL', 0], ['TripleDES-CBC [RFC2451]', 24], ['AES-CBC [RFC3602]', 16], ['AES-CTR [RFC3686]', 20],
    ['DES-CBC [RFC2405]', 8], ['CAST5-CBC [RFC2144]', 16], ['BLOWFISH-CBC [RFC2451]', 16], ['TWOFISH-CBC', 16],
    ['AES-GCM [RFC4106]', 20], ['AES-GCM with 8 octet ICV [RFC4106]', 20], ['AES-GCM with 12 octet ICV [RFC4106]', 28],
    ['AES-GCM with 16 octet ICV [RFC4106]', 36],
  ];
  for (const [name, len] of encs) {
    const key = len === 0 ? '' : `0x${'11'.repeat(len)}`;
    const auth = name.startsWith('AES-GCM') ? 'NULL' : 'HMAC-SHA-1-96 [RFC2404]';
    const r = parseEspSaText(`"IPv6","*","*","*","${name}","${key}","${auth}","${auth === 'NULL' ? '' : '0x01'}"`, 'f');
    assert.equal(r[0]!.encryption, name);
  }
  const auths = ['NULL', 'HMAC-SHA-1-96 [RFC2404]', 'HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]',
    'HMAC-SHA-256-128 [RFC4868]', 'HMAC-SHA-384-192 [RFC4868]', 'HMAC-SHA-512-256 [RFC4868]', 'HMAC-MD5-96 [RFC2403]',
    'MAC-RIPEMD-160-96 [RFC2857]', 'ANY 64 bit authentication [no checking]', 'ANY 96 bit authentication [no checking]',
    'ANY 128 bit authentication [no checking]', 'ANY 192 bit authentication [no checking]',
    'ANY 256 bit authentication [no checking]'];
  for (const name of auths) {
    const r = parseEspSaText(`"IPv6","*","*","*","NULL","","${name}","${name === 'NULL' ? '' : '0x0102'}"`, 'f');
    assert.equal(r[0]!.authentication, name);
  }
});

const SECRET_HEX = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const SECRET_ASCII = 'Sup3rS3cretPassw';

test('errors: one line with file and line number, never key material', () => {
  const bad: Array<[string, RegExp]> = [
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","0x${SECRET_HEX}ab","NULL",""`, /needs a 16, 24 or 32-byte encryption key, got 17 bytes/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","0x${SECRET_HEX}zz","NULL",""`, /field 6 \(encryption key\) starts with 0x but is not all hex/],
    [`"IPv6","*","*","*","AES-GCM with 16 octet ICV [RFC4106]","0x${SECRET_HEX}","NULL",""`, /4-byte salt.*got 16 bytes/],
    [`"IPv6","*","*","*","AES-GCM with 16 octet ICV [RFC4106]","0x${SECRET_HEX}00000000","HMAC-SHA-1-96 [RFC2404]","0x${SECRET_HEX}"`, /authentication must be "NULL"/],
    [`"IPv6","*","*","*","AES-CBC","${SECRET_ASCII}","NULL",""`, /field 5 \(encryption\) is not one of Wireshark's encryption names/],
    [`"IPv6","*","*","*","NULL","","HMAC-SHA1-96","${SECRET_ASCII}"`, /field 7 \(authentication\) is not one of Wireshark's authentication names/],
    [`"IPv6","*","*","*","NULL","","HMAC-SHA-1-96 [RFC2404]",""`, /needs an authentication key/],
    [`"IPv6","*","*","0x1g","NULL","","NULL","${SECRET_ASCII}"`, /field 4 \(SPI\) is not a number/],
    [`"IPv6","*","*","0x100000000","NULL","","NULL",""`, /field 4 \(SPI\) is not a number/],
    [`"IPv6","*","*","4294967296","NULL","","NULL",""`, /field 4 \(SPI\) does not fit in 32 bits/],
    [`"IPv6","2001:db8::zz","*","*","NULL","","NULL",""`, /field 2 \(source address\) is not an IPv6 address/],
    [`"IPv6","*","2001:db8::/129","*","NULL","","NULL",""`, /field 3 \(destination address\) has a bad prefix length/],
    [`"IPv6","","*","*","NULL","","NULL",""`, /field 2 \(source address\) is empty/],
    [`"IPX","*","*","*","NULL","","NULL",""`, /field 1 \(protocol\) must be "IPv6"/],
    [`"IPv6","*","*","*","NULL","","NULL"`, /expected 8 quoted fields \(9 with esn\), found 7/],
    [`"IPv6","*","*","*","NULL","","NULL","","esn","x"`, /found 10/],
    [`"IPv6","*","*","*","NULL","","NULL","","sometimes"`, /field 9 \(esn\) must be "esn"/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","${SECRET_ASCII}`, /field 6 \(encryption key\) has no closing double quote/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]" "${SECRET_ASCII}","NULL",""`, /expected a comma after field 5 \(encryption\)/],
    [`IPv6,"*","*","*","NULL","","NULL",""`, /field 1 \(protocol\) does not start with a double quote/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","\\q${SECRET_ASCII}","NULL",""`, /field 6 \(encryption key\) has an unknown escape/],
    // Issue 16: an odd number of hex digits (Wireshark pads a 0) is an error, not a shifted key.
    [`"IPv6","*","*","*","AES-GCM with 16 octet ICV [RFC4106]","0x${SECRET_HEX}deadbee","NULL",""`, /field 6 \(encryption key\) has an odd number of hex digits \(39\)/],
    [`"IPv6","*","*","*","NULL","","HMAC-SHA-1-96 [RFC2404]","0x${SECRET_HEX}1"`, /field 8 \(authentication key\) has an odd number of hex digits/],
    // Issue 16: an IPv4 SA could never apply (pdmscope decodes IPv6 only): an error, not ignored.
    [`"IPv4","192.0.2.1","198.51.100.0/24","010","NULL","","NULL",""`, /field 1 \(protocol\) is "IPv4": pdmscope reads ESP in IPv6 packets only/],
    [`"IPv6","*","*","*","NULL","${SECRET_ASCII}","NULL",""`, /field 6 \(encryption key\) must be empty with NULL encryption/],
    [`"IPv6","*","*","*","NULL","","NULL","0x${SECRET_HEX}"`, /field 8 \(authentication key\) must be empty with NULL authentication/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","0x${SECRET_HEX}","HMAC-SHA-1-96 [RFC2404]",""`, /HMAC-SHA-1-96 \[RFC2404\] needs an authentication key/],
  ];
  for (const [line, pattern] of bad) {
    const text = `# header\n\n${line}\n`;
    assert.throws(() => parseEspSaText(text, '/etc/keys.sa'), (err: unknown) => {
      assert.ok(err instanceof EspSaFileError, String(err));
      assert.match(err.message, /^esp_sa file \/etc\/keys\.sa, line 3: /);
      assert.match(err.message, pattern);
      assert.equal(err.message.includes('\n'), false);
      assert.equal(err.line, 3);
      for (const secret of [SECRET_HEX, SECRET_ASCII, SECRET_HEX.slice(0, 8), 'c0ffee', 'Sup3r']) {
        assert.equal(err.message.includes(secret), false, `${err.message} leaks key material`);
        assert.equal(String(err.stack).includes(secret), false);
      }
      return true;
    }, line);
  }
});

test('keys never show in toString, JSON or inspect output', () => {
  const r = parseEspSaText(
    `"IPv6","*","*","0x10","AES-CBC [RFC3602]","${SECRET_ASCII}","HMAC-SHA-256-128 [RFC4868]","0x${SECRET_HEX}"`, 'f');
  const rec = r[0]!;
  const outputs = [
    inspect(rec, { depth: 10, showHidden: true }), JSON.stringify(rec), String(rec.encryptionKey), `${rec.authenticationKey}`,
    inspect(rec.encryptionKey, { showHidden: true }), inspect(new SecretBytes(Buffer.from(SECRET_HEX, 'hex'))),
  ];
  for (const text of outputs) {
    assert.equal(text.includes(SECRET_ASCII), false, text);
    assert.equal(text.toLowerCase().includes(SECRET_HEX), false, text);
    assert.equal(text.includes('192, 255, 238'), false, text);
  }
  assert.match(JSON.stringify(rec), /\[secret, 16 bytes\]/);
  assert.equal(String(rec.authenticationKey), '[secret, 16 bytes]');
});

test('loadEspSaFile: reads a file; a missing file is a one-line error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-sa-'));
  const path = join(dir, 'esp_sa');
  writeFileSync(path, `"IPv6","*","*","*","NULL","","NULL",""\n`);
  assert.equal(loadEspSaFile(path).length, 1);
  assert.throws(() => loadEspSaFile(join(dir, 'missing')), (err: unknown) =>
    err instanceof EspSaFileError && /^esp_sa file .*missing: cannot read it \(ENOENT\)$/.test(err.message));
});

test('every truncation of a valid file parses or is an EspSaFileError that quotes no key', () => {
  const keys = [SECRET_HEX, AUTH_KEY.slice(2), GCM_KEY.slice(2)];
  const text = [
    '# keys',
    `"IPv6","2001:db8::1","2001:db8::2","0x00002000","AES-GCM with 16 octet ICV [RFC4106]","${GCM_KEY}","NULL",""`,
    `"IPv6","*","2001:db8::/32","8192","AES-CBC [RFC3602]","0x${SECRET_HEX}","HMAC-SHA-256-128 [RFC4868]","${AUTH_KEY}","esn"`,
  ].join('\n');
  for (let end = 0; end <= text.length; end++) {
    try {
      parseEspSaText(text.slice(0, end), 'cut');
    } catch (err) {
      assert.ok(err instanceof EspSaFileError, `${end}: ${String(err)}`);
      for (const key of keys) {
        for (let i = 0; i + 8 <= key.length; i++) assert.equal(err.message.includes(key.slice(i, i + 8)), false, err.message);
      }
    }
  }
});

test('seeded random text never throws anything but EspSaFileError', () => {
  let seed = 12345;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  const alphabet = '"",*\\x0123456789abcdefIPv6NULL AES-CBC [RFC3602]:/#\n';
  for (let n = 0; n < 3000; n++) {
    let s = '';
    const len = rand() % 120;
    for (let i = 0; i < len; i++) s += alphabet[rand() % alphabet.length];
    try {
      parseEspSaText(s, 'rand');
    } catch (err) {
      assert.ok(err instanceof EspSaFileError, `${JSON.stringify(s)}: ${String(err)}`);
    }
  }
});

// --- Issue 16: a key in the wrong column is never printed --------------------------------------

/** A distinctive key; no message may contain any 8-character piece of it. */
const PLANTED_HEX = 'f00dfacecafebabe0123456789abcdef8badf00d';
const PLANTED_ASCII = 'Kq7-Zr2x!Wm9@Lp4#Ty6';

function assertNoKeyPiece(text: string, keys: readonly string[], context: string): void {
  const lower = text.toLowerCase();
  for (const key of keys) {
    for (let i = 0; i + 8 <= key.length; i++) {
      const piece = key.slice(i, i + 8).toLowerCase();
      assert.equal(lower.includes(piece), false, `${context}: message has "${piece}" of the key: ${text}`);
    }
  }
}

/** A valid line, column by column (AES-GCM-128 with its salt). */
const VALID_FIELDS = ['IPv6', '2001:db8::1', '2001:db8::2', '0x00002000', 'AES-GCM with 16 octet ICV [RFC4106]',
  '0x000102030405060708090a0b0c0d0e0fdeadbeef', 'NULL', ''];

/** Every line with `value` in one column: each of the eight, a ninth, and a tenth after "esn". */
function linesWithValueInEachField(value: string): string[] {
  const quote = (fields: string[]): string => fields.map((f) => `"${f}"`).join(',');
  const lines: string[] = [];
  for (let i = 0; i < VALID_FIELDS.length; i++) {
    const fields = [...VALID_FIELDS];
    fields[i] = value;
    lines.push(quote(fields));
  }
  lines.push(quote([...VALID_FIELDS, value]), quote([...VALID_FIELDS, 'esn', value]));
  return lines;
}

test('issue 16: a key written into any field, or as a ninth or tenth one, never shows in the error', () => {
  const values = [`0x${PLANTED_HEX}`, PLANTED_HEX, `0X${PLANTED_HEX.toUpperCase()}`, `0x${PLANTED_HEX}1`, `0x${PLANTED_HEX}zz`,
    PLANTED_ASCII, `${PLANTED_HEX}/64`, `2001:db8::${PLANTED_HEX.slice(0, 4)}/${PLANTED_HEX}`, ` ${PLANTED_HEX} `];
  let errors = 0;
  for (const value of values) {
    for (const line of linesWithValueInEachField(value)) {
      try {
        parseEspSaText(`# keys\n${line}\n`, 'k.sa');
      } catch (err) {
        assert.ok(err instanceof EspSaFileError, String(err));
        assert.match(err.message, /^esp_sa file k\.sa, line 2: field \d+|^esp_sa file k\.sa, line 2: (expected|HMAC|AES)/);
        assertNoKeyPiece(err.message, [PLANTED_HEX, PLANTED_ASCII], line);
        assertNoKeyPiece(String(err.stack), [PLANTED_HEX, PLANTED_ASCII], line);
        errors++;
      }
    }
  }
  assert.ok(errors >= values.length * 8, `only ${errors} lines were refused`);
});

test('issue 16: seeded random keys in random fields never show in the error', () => {
  let seed = 16;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  const hex = '0123456789abcdef';
  for (let n = 0; n < 2000; n++) {
    let key = '';
    const len = 8 + rand(72);
    for (let i = 0; i < len; i++) key += hex[rand(16)];
    const fields = [...VALID_FIELDS];
    const at = rand(10);
    const value = rand(2) === 0 ? `0x${key}` : key;
    if (at < 8) fields[at] = value;
    else fields.push(...(at === 8 ? [value] : ['esn', value]));
    const line = fields.map((f) => `"${f}"`).join(',');
    try {
      parseEspSaText(line, 'r.sa');
    } catch (err) {
      assert.ok(err instanceof EspSaFileError, String(err));
      assertNoKeyPiece(err.message, [key], line);
    }
  }
});

// --- Issue 16: bounded reading ----------------------------------------------------------------

test('issue 16: a line longer than MAX_SA_LINE_CHARS is refused at once, naming the line', () => {
  const t0 = performance.now();
  const text = `"IPv6","*","*","*","NULL","","NULL",""\n"IPv6","*","*","*","AES-CBC [RFC3602]","${'a'.repeat(1 << 20)}`;
  assert.throws(() => parseEspSaText(text, 'long.sa'),
    /esp_sa file long\.sa, line 2: longer than 4096 characters, too long for an SA line$/);
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(MAX_SA_LINE_CHARS, 4096);
  // The longest real line (every column at its longest) is far below the bound.
  const longest = `"IPv6","2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128","2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128","0xffffffff",` +
    `"AES-CTR [RFC3686]","0x${'ab'.repeat(36)}","HMAC-SHA-512-256 [RFC4868]","0x${'cd'.repeat(64)}","esn"`;
  assert.ok(longest.length < 400);
  assert.equal(parseEspSaText(longest, 'ok').length, 1);
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pdmscope-sa-'));
}

test('issue 16: a file larger than MAX_SA_FILE_BYTES is refused without being read', () => {
  const path = join(tempDir(), 'big.sa');
  const line = `"IPv6","*","*","*","NULL","","NULL",""\n`;
  writeFileSync(path, line.repeat(Math.ceil((MAX_SA_FILE_BYTES + 1) / line.length)));
  const t0 = performance.now();
  assert.throws(() => loadEspSaFile(path), (err: unknown) =>
    err instanceof EspSaFileError && err.message === `esp_sa file ${path}: is larger than 8 MiB, too large for an SA table`);
  assert.ok(performance.now() - t0 < 1000);
});

test('issue 16: devices and directories are refused (/dev/zero never ends)', () => {
  // In a child with a deadline: reading /dev/zero whole would take the machine's memory.
  const code = `import('${new URL('./sa-file.js', import.meta.url).href}').then((m) => {
    for (const p of ['/dev/zero', '/dev/null', '${tempDir()}']) {
      try { m.loadEspSaFile(p); console.log('loaded ' + p); } catch (e) { console.log(e.message); }
    }
  });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.signal, null, 'loadEspSaFile did not return within 10 s');
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'esp_sa file /dev/zero: is a character device, not an SA file (give a regular file or a FIFO)');
  assert.equal(lines[1], 'esp_sa file /dev/null: is a character device, not an SA file (give a regular file or a FIFO)');
  assert.match(lines[2]!, /^esp_sa file .*: is a directory, not an SA file/);
});

function mkfifo(): string {
  const path = join(tempDir(), 'keys.fifo');
  execFileSync('mkfifo', [path]);
  return path;
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => { if (child.exitCode !== null) resolve(); else child.on('exit', () => resolve()); });
}

const FIFO_TEXT = `# keys\n"IPv6","*","*","0x10","AES-CBC [RFC3602]","0x${'11'.repeat(16)}","NULL",""\n"IPv6","*","*","*","NULL","","NULL",""\n`;

test('issue 16: a FIFO is read to its end, also when its writer comes later', async () => {
  const fifo = mkfifo();
  const src = join(tempDir(), 'src.sa');
  writeFileSync(src, FIFO_TEXT);
  for (const delay of ['0', '0.3']) {
    const writer = spawn('sh', ['-c', `sleep ${delay}; cat "$1" > "$2"`, 'sh', src, fifo], { stdio: 'ignore' });
    const notices: string[] = [];
    const records = loadEspSaFile(fifo, { onWaiting: (n) => notices.push(n) });
    assert.equal(records.length, 2);
    assert.equal(records[0]!.spi, 0x10);
    assert.equal(records[1]!.origin, `${fifo}:3`);
    assert.deepEqual(notices, []);
    await waitExit(writer);
  }
});

test('issue 16: a FIFO nobody writes is an error after the wait, with a notice while waiting', () => {
  const fifo = mkfifo();
  const notices: string[] = [];
  const t0 = performance.now();
  assert.throws(() => loadEspSaFile(fifo, { fifoWaitMs: 1500, onWaiting: (n) => notices.push(n) }), (err: unknown) =>
    err instanceof EspSaFileError && err.message === `esp_sa file ${fifo}: is a FIFO that nobody wrote to within 1.5 s`);
  const ms = performance.now() - t0;
  assert.ok(ms >= 1400 && ms < 5000, `${ms} ms`);
  assert.deepEqual(notices, [`esp_sa file ${fifo} is a FIFO with no writer yet: waiting up to 1.5 s`]);
  assert.equal(SA_FIFO_WAIT_MS, 10_000);
});

test('issue 16: a FIFO whose writer never closes it is an error after the wait, without the notice', async () => {
  const fifo = mkfifo();
  const writer = spawn('sh', ['-c', 'exec 3>"$1"; printf "# keys\\n" >&3; sleep 5', 'sh', fifo], { stdio: 'ignore' });
  try {
    const notices: string[] = [];
    assert.throws(() => loadEspSaFile(fifo, { fifoWaitMs: 1500, onWaiting: (n) => notices.push(n) }), (err: unknown) =>
      err instanceof EspSaFileError && err.message === `esp_sa file ${fifo}: is a FIFO whose writer did not close it within 1.5 s`);
    assert.deepEqual(notices, []);
  } finally {
    writer.kill();
    await waitExit(writer);
  }
});

test('issue 16: a FIFO that streams more than MAX_SA_FILE_BYTES is cut off with an error', async () => {
  const fifo = mkfifo();
  const writer = spawn('sh', ['-c', 'exec cat /dev/zero > "$1"', 'sh', fifo], { stdio: 'ignore' });
  try {
    assert.throws(() => loadEspSaFile(fifo), (err: unknown) =>
      err instanceof EspSaFileError && err.message === `esp_sa file ${fifo}: is larger than 8 MiB, too large for an SA table`);
  } finally {
    writer.kill();
    await waitExit(writer);
  }
});
