// Readable durations for tables, and duration arguments (`5ms`, `250us`, `1.5s`, `2m`).

import { formatDurationNs as formatReportDurationNs } from '../sink/report-format.js';
import { UserError, EXIT_USAGE } from './errors.js';

/**
 * 1234567 → "1.23 ms": the report's formatter (three significant digits, unit by magnitude, no
 * "1000 µs" after rounding), so terminal and HTML print durations alike. Below 1 ns PDM still
 * resolves attoseconds (scale 0), so the terminal names ps, fs and as instead of "0.000 ns".
 */
export function formatDurationNs(ns: number | null): string {
  if (ns !== null && ns !== 0 && Math.abs(ns) < 1) {
    const abs = Math.abs(ns);
    const [div, unit] = abs >= 1e-3 ? [1e-3, 'ps'] : abs >= 1e-6 ? [1e-6, 'fs'] : [1e-9, 'as'];
    const v = ns / div;
    return `${v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2)} ${unit}`;
  }
  return formatReportDurationNs(ns);
}

const UNIT_NS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, min: 60e9, h: 3600e9,
};

/**
 * The longest duration argument: 8.64e15 ms (2,400,000,000 h, about 274,000 years), the range of a
 * JavaScript Date, so a deadline computed from one is still a time. Anything longer (a string of
 * digits that overflows to Infinity) is refused in words instead of turning into a timer that
 * fires at once or a deadline that is not a number. (Long idle timeouts are in use: `--idle-timeout
 * 10000000s` analyzes a capture as if flows never idled.)
 */
export const MAX_DURATION_NS = 8.64e15 * 1e6;
const MAX_DURATION_HOURS = MAX_DURATION_NS / 3600e9;

/** Parses "5ms", "250us", "1.5s", "2m"; a bare number is taken in `defaultUnit`. */
export function parseDurationNs(text: string, defaultUnit = 's', what = 'duration'): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-zµ]*)\s*$/i.exec(text);
  const unit = (m?.[2] || defaultUnit).toLowerCase();
  const scale = UNIT_NS[unit];
  if (!m || scale === undefined) {
    throw new UserError(`invalid ${what} '${text}': use a number with ns, us, ms, s, m or h (e.g. 5ms)`, EXIT_USAGE);
  }
  const ns = Number(m[1]) * scale;
  if (!(Math.abs(ns) <= MAX_DURATION_NS)) {
    throw new UserError(`${what} '${text}' is too long: durations go up to ${MAX_DURATION_HOURS}h (about 274,000 years, the range of a Date)`, EXIT_USAGE);
  }
  return ns;
}

/** 1700000000123456 µs → "2023-11-14T22:13:20.123456Z" */
export function formatTsUs(tsUs: number): string {
  const ms = Math.floor(tsUs / 1000);
  const iso = new Date(ms).toISOString();
  const micro = String(Math.round(tsUs - ms * 1000)).padStart(3, '0');
  return `${iso.slice(0, 23)}${micro}Z`;
}
