import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  durationAxisLabels, escapeHtml, escapeScriptText, escapeStyleText, formatCount, formatDurationNs, formatSpanUs,
  formatTsUsUtc, jsonForScript,
} from './report-format.js';

test('formatDurationNs picks ns, µs, ms or s with three significant digits', () => {
  const cases: [number | null | undefined, string][] = [
    [null, '—'], [undefined, '—'], [NaN, '—'], [Infinity, '—'],
    [0, '0 ns'], [0.125, '0.125 ns'], [1, '1.00 ns'], [850, '850 ns'], [999, '999 ns'],
    [1000, '1.00 µs'], [12_345, '12.3 µs'], [999_600, '1.00 ms'], [4_560_000, '4.56 ms'],
    [18_000_000, '18.0 ms'], [231_000_000, '231 ms'], [1_230_000_000, '1.23 s'], [3_600e9, '3600 s'],
    [-2_500_000, '-2.50 ms'], [999.7, '1.00 µs'],
  ];
  for (const [ns, text] of cases) assert.equal(formatDurationNs(ns), text, String(ns));
});

test('durationAxisLabels uses one unit per axis and the decimals the step needs', () => {
  assert.deepEqual(durationAxisLabels([0, 500_000, 1_000_000, 1_500_000]), ['0.0 ms', '0.5 ms', '1.0 ms', '1.5 ms']);
  assert.deepEqual(durationAxisLabels([0, 50e6, 100e6, 150e6, 200e6, 250e6]), ['0 ms', '50 ms', '100 ms', '150 ms', '200 ms', '250 ms']);
  assert.deepEqual(durationAxisLabels([0, 0.2e9, 0.4e9, 1.2e9]), ['0.0 s', '0.2 s', '0.4 s', '1.2 s']);
  assert.deepEqual(durationAxisLabels([100, 200, 300]), ['100 ns', '200 ns', '300 ns']);
  assert.deepEqual(durationAxisLabels([0.1e6, 0.2e6, 0.30000000000000004e6]), ['100 µs', '200 µs', '300 µs']);
  assert.deepEqual(durationAxisLabels([null, 1000, NaN]), ['', '1 µs', '']);
  assert.deepEqual(durationAxisLabels([0, 250_000, 500_000, 750_000, 1_000_000]), ['0.00 ms', '0.25 ms', '0.50 ms', '0.75 ms', '1.00 ms']);
  assert.deepEqual(durationAxisLabels([-1.25, -1, -0.75]), ['-1.25 ns', '-1.00 ns', '-0.75 ns']);
  assert.deepEqual(durationAxisLabels([]), []);
});

test('formatTsUsUtc, formatCount and formatSpanUs', () => {
  assert.equal(formatTsUsUtc(1_700_000_000_123_456), '2023-11-14 22:13:20.123456');
  assert.equal(formatTsUsUtc(0), '1970-01-01 00:00:00.000000');
  assert.equal(formatTsUsUtc(null), '—');
  assert.equal(formatCount(1_234_567), '1,234,567');
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(null), '—');
  assert.equal(formatSpanUs(600_000_000), '10 min 00 s');
  assert.equal(formatSpanUs(7_325_000_000), '2 h 02 min');
  assert.equal(formatSpanUs(20_000_000), '20.0 s');
  assert.equal(formatSpanUs(0), '0 ns');
  assert.equal(formatSpanUs(-1), '—');
});

test('escapeHtml escapes every character that could leave text or an attribute', () => {
  assert.equal(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  assert.equal(escapeHtml('2001:db8::1 → ok'), '2001:db8::1 → ok');
});

test('escapeScriptText breaks </script in any case and <!--, and keeps the JS meaning inside strings', () => {
  const js = `var a = "</script><script>alert(1)</SCRIPT>"; var b = '<!--'; var c = /<\\/style>/;`;
  const safe = escapeScriptText(js);
  assert.doesNotMatch(safe, /<\/script/i);
  assert.doesNotMatch(safe, /<!--/);
  // Same values when evaluated.
  const run = (src: string): unknown[] => new Function(`${src}; return [a, b, c.source];`)() as unknown[];
  assert.deepEqual(run(safe), run(js));
  assert.doesNotMatch(escapeStyleText('a::after{content:"</style>"}'), /<\/style/i);
});

test('jsonForScript cannot close its element and parses back to the same value', () => {
  const value = { path: '</script><!-- x & y > z', line: 'a\u2028b', n: [1.5, null] };
  const text = jsonForScript(value);
  assert.doesNotMatch(text, /[<>&\u2028]/);
  assert.deepEqual(JSON.parse(text), value);
});

test('the embedded formatters are self-contained: their source runs alone', () => {
  for (const f of [formatDurationNs, durationAxisLabels, formatTsUsUtc, formatCount]) {
    const alone = new Function(`${f.toString()}; return ${f.name};`)() as (...args: unknown[]) => unknown;
    assert.equal(typeof alone, 'function');
  }
  const fmt = new Function(`${formatDurationNs.toString()}; return formatDurationNs;`)() as typeof formatDurationNs;
  assert.equal(fmt(4_560_000), '4.56 ms');
  const axis = new Function(`${durationAxisLabels.toString()}; return durationAxisLabels;`)() as typeof durationAxisLabels;
  assert.deepEqual(axis([0, 1e6]), ['0 ms', '1 ms']);
});
