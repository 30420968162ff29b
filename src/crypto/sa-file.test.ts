import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { EspSaFileError, SecretBytes, loadEspSaFile, parseEspSaText } from './sa-file.js';

const GCM_KEY = '0x000102030405060708090a0b0c0d0e0fdeadbeef';
const AUTH_KEY = '0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

test('parses Wireshark records: wildcards, prefixes, SPI bases, hex and ASCII keys, esn', () => {
  const text = [
    '# comment',
    '',
    `"IPv6","2001:db8::1","2001:db8::2","0x00002000","AES-GCM with 16 octet ICV [RFC4106]","${GCM_KEY}","NULL",""`,
    `"IPv6","*","2001:db8::/32","8192","AES-CBC [RFC3602]","0123456789abcdef","HMAC-SHA-256-128 [RFC4868]","${AUTH_KEY}","esn"`,
    `  "IPv6" , "2001:db8::/48","*","*","NULL","","NULL",""  `,
    `"IPv4","192.0.2.1","198.51.100.0/24","010","NULL","","HMAC-SHA-1-96 [RFC2404]","0x123"`,
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
  assert.equal(r[3]!.protocol, 'IPv4');
  assert.equal(r[3]!.spi, 8, 'a leading 0 is octal, as strtoul(…, 0)');
  // An odd number of hex digits gets a leading 0.
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
    const r = parseEspSaText(`"IPv6","*","*","*","${name}","${key}","${auth}","0x01"`, 'f');
    assert.equal(r[0]!.encryption, name);
  }
  const auths = ['NULL', 'HMAC-SHA-1-96 [RFC2404]', 'HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]',
    'HMAC-SHA-256-128 [RFC4868]', 'HMAC-SHA-384-192 [RFC4868]', 'HMAC-SHA-512-256 [RFC4868]', 'HMAC-MD5-96 [RFC2403]',
    'MAC-RIPEMD-160-96 [RFC2857]', 'ANY 64 bit authentication [no checking]', 'ANY 96 bit authentication [no checking]',
    'ANY 128 bit authentication [no checking]', 'ANY 192 bit authentication [no checking]',
    'ANY 256 bit authentication [no checking]'];
  for (const name of auths) {
    const r = parseEspSaText(`"IPv6","*","*","*","NULL","","${name}","0x0102"`, 'f');
    assert.equal(r[0]!.authentication, name);
  }
});

const SECRET_HEX = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const SECRET_ASCII = 'Sup3rS3cretPassw';

test('errors: one line with file and line number, never key material', () => {
  const bad: Array<[string, RegExp]> = [
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","0x${SECRET_HEX}ab","NULL",""`, /needs a 16, 24 or 32-byte encryption key, got 17 bytes/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","0x${SECRET_HEX}zz","NULL",""`, /encryption key starts with 0x but is not all hex/],
    [`"IPv6","*","*","*","AES-GCM with 16 octet ICV [RFC4106]","0x${SECRET_HEX}","NULL",""`, /4-byte salt.*got 16 bytes/],
    [`"IPv6","*","*","*","AES-GCM with 16 octet ICV [RFC4106]","0x${SECRET_HEX}00000000","HMAC-SHA-1-96 [RFC2404]","0x${SECRET_HEX}"`, /authentication must be "NULL"/],
    [`"IPv6","*","*","*","AES-CBC","${SECRET_ASCII}","NULL",""`, /unknown encryption "AES-CBC"/],
    [`"IPv6","*","*","*","NULL","","HMAC-SHA1-96","${SECRET_ASCII}"`, /unknown authentication/],
    [`"IPv6","*","*","*","NULL","","HMAC-SHA-1-96 [RFC2404]",""`, /needs an authentication key/],
    [`"IPv6","*","*","0x1g","NULL","","NULL","${SECRET_ASCII}"`, /SPI "0x1g" is not a number/],
    [`"IPv6","*","*","0x100000000","NULL","","NULL",""`, /SPI "0x100000000" is not a number/],
    [`"IPv6","*","*","4294967296","NULL","","NULL",""`, /does not fit in 32 bits/],
    [`"IPv6","2001:db8::zz","*","*","NULL","","NULL",""`, /source address "2001:db8::zz" is not an IPv6 address/],
    [`"IPv6","*","2001:db8::/129","*","NULL","","NULL",""`, /destination address has a bad prefix length/],
    [`"IPv6","","*","*","NULL","","NULL",""`, /source address is empty/],
    [`"IPX","*","*","*","NULL","","NULL",""`, /protocol must be "IPv6" or "IPv4"/],
    [`"IPv6","*","*","*","NULL","","NULL"`, /expected 8 quoted fields \(9 with esn\), found 7/],
    [`"IPv6","*","*","*","NULL","","NULL","","esn","x"`, /found 10/],
    [`"IPv6","*","*","*","NULL","","NULL","","sometimes"`, /ninth field must be "esn"/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","${SECRET_ASCII}`, /field 6 has no closing double quote/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]" "${SECRET_ASCII}","NULL",""`, /expected a comma after field 5/],
    [`IPv6,"*","*","*","NULL","","NULL",""`, /field 1 does not start with a double quote/],
    [`"IPv6","*","*","*","AES-CBC [RFC3602]","\\q${SECRET_ASCII}","NULL",""`, /field 6 has an unknown escape/],
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
