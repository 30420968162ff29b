// Output helpers for `pdmscope query`: readable durations, duration parsing, aligned tables and
// RFC 4180 CSV. (Kept beside the store until a shared src/cli/format.ts exists.)

/** 850ns, 12.3µs, 4.56ms, 1.23s; null → '-'. Negative durations keep their sign. */
export function formatDurationNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '-';
  const abs = Math.abs(ns);
  const sign = ns < 0 ? '-' : '';
  const fmt = (v: number, unit: string): string => `${sign}${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${unit}`;
  if (abs < 1e3) return fmt(abs, 'ns');
  if (abs < 1e6) return fmt(abs / 1e3, 'µs');
  if (abs < 1e9) return fmt(abs / 1e6, 'ms');
  return fmt(abs / 1e9, 's');
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };

/** Parses '5ms', '250us', '250µs', '1.5s', '100ns' (a bare number is ns) into ns; null when malformed. */
export function parseDurationNs(text: string): number | null {
  const m = /^\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(ns|us|µs|ms|s)?\s*$/i.exec(text);
  if (m === null) return null;
  const value = Number(m[1]);
  const unit = (m[2] ?? 'ns').toLowerCase();
  const factor = UNIT_NS[unit];
  if (factor === undefined || !Number.isFinite(value)) return null;
  return value * factor;
}

/** µs since the epoch → ISO 8601 UTC with microseconds. */
export function formatTimestampUs(us: number | null | undefined): string {
  if (us === null || us === undefined) return '-';
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  const micro = String(Math.trunc(us - ms * 1000)).padStart(3, '0');
  return `${iso.slice(0, 23)}${micro}Z`;
}

/** Left-aligned text columns, right-aligned numeric ones, two spaces apart. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells
    .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : cellText(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** JSON-safe text of a value from SQLite: BLOBs as hex, bigints as decimal, objects as JSON. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** One CSV record without its line end (toCsv's rows, for output that streams). */
export function csvRecord(values: readonly unknown[]): string {
  return values.map(csvCell).join(',');
}

export function toCsv(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [headers.map(csvCell).join(','), ...rows.map((r) => r.map(csvCell).join(','))].join('\r\n') + '\r\n';
}

/** JSON.stringify that writes BLOBs as hex strings and bigints as numbers. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return Number(v);
    if (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return Buffer.from((v as { data: number[] }).data).toString('hex');
    }
    return v;
  }, 2) + '\n';
}
