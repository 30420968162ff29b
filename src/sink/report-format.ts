// Text helpers of the HTML report. The formatters marked "embedded" are also copied into the
// page with Function.prototype.toString (report.ts), so the server-side tables and the browser's
// chart axes and legends print durations the same way. An embedded function must therefore be
// self-contained: no imports, no module-level constants, only its parameters and globals.

/**
 * Embedded. A duration in nanoseconds, three significant digits, unit by magnitude:
 * 850 ns, 12.3 µs, 4.56 ms, 1.23 s. null, undefined, NaN and ±Infinity print as '—'.
 * PDM resolves down to attoseconds, so sub-nanosecond values keep decimals of ns.
 */
export function formatDurationNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '—';
  const abs = Math.abs(ns);
  if (abs === 0) return '0 ns';
  let div = 1;
  let unit = 'ns';
  if (abs >= 1e9) { div = 1e9; unit = 's'; } else if (abs >= 1e6) { div = 1e6; unit = 'ms'; } else if (abs >= 1e3) { div = 1e3; unit = 'µs'; }
  const v = ns / div;
  const a = Math.abs(v);
  // Three significant digits; below 1 ns up to three decimals (0.125 ns).
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  let text = v.toFixed(digits);
  // toFixed rounding can reach the next unit (999.6 µs → "1000 µs"): say 1.00 ms instead.
  if (unit !== 's' && Math.abs(Number(text)) >= 1000) {
    const next = unit === 'ns' ? ['µs', 1e3] as const : unit === 'µs' ? ['ms', 1e6] as const : ['s', 1e9] as const;
    unit = next[0];
    text = (ns / next[1]).toFixed(2);
  }
  return `${text} ${unit}`;
}

/**
 * Embedded. Tick labels for a duration axis (values in ns): ONE unit for all ticks, chosen by the
 * largest tick, and the same number of decimals on every tick, as few as write them all exactly,
 * so an axis reads "0.0 ms, 0.5 ms, 1.0 ms" rather than "0 ns, 500 µs, 1.00 ms". Non-finite ticks
 * give ''.
 */
export function durationAxisLabels(splits: readonly (number | null)[]): string[] {
  let maxAbs = 0;
  for (const s of splits) if (s !== null && Number.isFinite(s)) maxAbs = Math.max(maxAbs, Math.abs(s));
  let div = 1;
  let unit = 'ns';
  if (maxAbs >= 1e9) { div = 1e9; unit = 's'; } else if (maxAbs >= 1e6) { div = 1e6; unit = 'ms'; } else if (maxAbs >= 1e3) { div = 1e3; unit = 'µs'; }
  // The fewest decimals (up to 6) that write every tick exactly: steps of 0.25 ms need two.
  let decimals = 0;
  for (; decimals < 6; decimals++) {
    const scale = 10 ** decimals;
    const exact = splits.every((s) => {
      if (s === null || s === undefined || !Number.isFinite(s)) return true;
      const v = (s / div) * scale;
      return Math.abs(v - Math.round(v)) < 1e-6 * Math.max(1, Math.abs(v));
    });
    if (exact) break;
  }
  return splits.map((s) => (s === null || !Number.isFinite(s) ? '' : `${(s / div).toFixed(decimals)} ${unit}`));
}

/** Embedded. µs since the epoch → "2023-11-14 22:13:20.123456" (UTC, microseconds kept). */
export function formatTsUsUtc(tsUs: number | null | undefined): string {
  if (tsUs === null || tsUs === undefined || !Number.isFinite(tsUs)) return '—';
  const whole = Math.round(tsUs);
  const ms = Math.floor(whole / 1000);
  const iso = new Date(ms).toISOString();
  const micro = String(whole - ms * 1000).padStart(3, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${micro}`;
}

/** Embedded. 1234567 → "1,234,567"; null → '—'. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A time span in µs as "3 h 02 min", "12.5 s", "850 ms". */
export function formatSpanUs(us: number): string {
  if (!Number.isFinite(us) || us < 0) return '—';
  if (us >= 3600e6) return `${Math.floor(us / 3600e6)} h ${String(Math.floor((us % 3600e6) / 60e6)).padStart(2, '0')} min`;
  if (us >= 60e6) return `${Math.floor(us / 60e6)} min ${String(Math.floor((us % 60e6) / 1e6)).padStart(2, '0')} s`;
  return formatDurationNs(us * 1000);
}

/** Text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/**
 * JavaScript source made safe inside <script>…</script>: the HTML parser ends a script at
 * "</script" in any case and enters the "double escaped" state at "<!--" followed by "<script"
 * (HTML Living Standard §13.2.5.4 ff.), so both are broken with a backslash. Inside JS string,
 * template and regex literals "<\/" and "<\!" mean the same characters; the minified uPlot
 * holds neither sequence outside literals.
 */
export function escapeScriptText(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** CSS made safe inside <style>…</style>. */
export function escapeStyleText(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

/**
 * JSON for a <script type="application/json"> block: '<', '>' and '&' become \u escapes
 * (JSON.parse reads them back), so no data can close the element or open a comment.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}
