// Readable durations for tables, and duration arguments (`5ms`, `250us`, `1.5s`, `2m`).

import { UserError, EXIT_USAGE } from './errors.js';

/** 1234567 → "1.23 ms"; three significant digits, unit chosen by magnitude. */
export function formatDurationNs(ns: number | null): string {
  if (ns === null || !Number.isFinite(ns)) return '—';
  const abs = Math.abs(ns);
  if (abs === 0) return '0 ns';
  // PDM reaches down to attoseconds (scale 0); small values keep their own units.
  const [div, unit] = abs >= 1e9 ? [1e9, 's'] : abs >= 1e6 ? [1e6, 'ms'] : abs >= 1e3 ? [1e3, 'µs'] : abs >= 1 ? [1, 'ns']
    : abs >= 1e-3 ? [1e-3, 'ps'] : abs >= 1e-6 ? [1e-6, 'fs'] : [1e-9, 'as'];
  const v = ns / div;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(div === 1 && Number.isInteger(v) ? 0 : digits)} ${unit}`;
}

const UNIT_NS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, min: 60e9, h: 3600e9,
};

/** Parses "5ms", "250us", "1.5s", "2m"; a bare number is taken in `defaultUnit`. */
export function parseDurationNs(text: string, defaultUnit = 's', what = 'duration'): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-zµ]*)\s*$/i.exec(text);
  const unit = (m?.[2] || defaultUnit).toLowerCase();
  const scale = UNIT_NS[unit];
  if (!m || scale === undefined) {
    throw new UserError(`invalid ${what} '${text}': use a number with ns, us, ms, s, m or h (e.g. 5ms)`, EXIT_USAGE);
  }
  return Number(m[1]) * scale;
}

/** 1700000000123456 µs → "2023-11-14T22:13:20.123456Z" */
export function formatTsUs(tsUs: number): string {
  const ms = Math.floor(tsUs / 1000);
  const iso = new Date(ms).toISOString();
  const micro = String(Math.round(tsUs - ms * 1000)).padStart(3, '0');
  return `${iso.slice(0, 23)}${micro}Z`;
}
