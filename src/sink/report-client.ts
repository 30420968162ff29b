// The report's in-page script. It is type-checked here and embedded into the page as source text
// (reportClientMain.toString(), see report.ts), so everything it uses must be declared inside it,
// except the page globals: uPlot (inlined library) and the embedded formatters of
// report-format.ts, which report.ts places in the same <script> under the same names.

import type UPlot from 'uplot';
import { durationAxisLabels, formatCount, formatDurationNs, formatTsUsUtc } from './report-format.js';

declare const uPlot: typeof UPlot;

/** Columns as base64 little-endian Float64Arrays (NaN = no value in this row). */
export interface ClientColumns {
  x: string;
  y: string[];
}

export interface ClientFlow {
  flow_index: number;
  /** Delay time series: x in seconds since the epoch, y in ns; y order = ClientData.metrics. */
  series: ClientColumns | null;
  /** CDF: x in ns, y in percent; y order = ClientData.metrics. */
  cdf: ClientColumns | null;
  /** Cumulative packets lost: x in seconds since the epoch; y order = initiator→responder, responder→initiator. */
  loss: ClientColumns | null;
}

export interface ClientData {
  metrics: { name: string; label: string; color: string }[];
  loss: { label: string; color: string }[];
  flows: ClientFlow[];
}

/** What the page exposes for tests and for measuring render time. */
export interface ReportStatus {
  ready: boolean;
  charts: number;
  /** Milliseconds spent building charts (script work). */
  scriptMs: number;
  /** Milliseconds from navigation start to the frame after the charts were built. */
  paintedMs: number;
}

export function reportClientMain(data: ClientData): void {
  const started = performance.now();
  const status: ReportStatus = { ready: false, charts: 0, scriptMs: 0, paintedMs: 0 };
  (window as unknown as { __pdmReport: ReportStatus }).__pdmReport = status;

  // ---- sortable tables -----------------------------------------------------------------------
  // Cells carry their sort key in data-v ('' = no value, always sorted last); headers say
  // data-type="num" or "text". First click sorts ascending, the next descending.
  for (const table of Array.from(document.querySelectorAll<HTMLTableElement>('table.sortable'))) {
    const head = table.tHead?.rows[0];
    const body = table.tBodies[0];
    if (head === undefined || body === undefined) continue;
    Array.from(head.cells).forEach((th, col) => {
      th.addEventListener('click', () => {
        const numeric = th.dataset.type === 'num';
        const ascending = th.getAttribute('aria-sort') !== 'ascending';
        for (const other of Array.from(head.cells)) other.removeAttribute('aria-sort');
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const rows = Array.from(body.rows).map((row, i) => ({ row, i, key: row.cells[col]?.dataset.v ?? row.cells[col]?.textContent ?? '' }));
        rows.sort((a, b) => {
          if (a.key === '' || b.key === '') return a.key === b.key ? a.i - b.i : a.key === '' ? 1 : -1;
          const d = numeric ? Number(a.key) - Number(b.key) : a.key.localeCompare(b.key, undefined, { numeric: true });
          return (ascending ? d : -d) || a.i - b.i;
        });
        body.append(...rows.map((r) => r.row));
      });
    });
  }

  // ---- data ----------------------------------------------------------------------------------
  const decode = (b64: string): Float64Array => {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float64Array(bytes.buffer, 0, bytes.length >> 3);
  };
  /** uPlot draws null as a gap; typed arrays cannot hold null, so gappy columns become arrays. */
  const column = (b64: string): Float64Array | (number | null)[] => {
    const values = decode(b64);
    if (!values.some((v) => Number.isNaN(v))) return values;
    return Array.from(values, (v) => (Number.isNaN(v) ? null : v));
  };
  const columns = (c: ClientColumns): UPlot.AlignedData => [decode(c.x), ...c.y.map(column)] as unknown as UPlot.AlignedData;

  // ---- charts --------------------------------------------------------------------------------
  const utc = (ts: number): Date => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
  const axisStyle = { stroke: '#475569', font: '12px system-ui, sans-serif', labelFont: '600 12px system-ui, sans-serif', grid: { stroke: '#e5e7eb', width: 1 }, ticks: { stroke: '#cbd5e1', width: 1 } };
  // With interleaved series most rows hold one series only: the cursor shows each series' value
  // at the nearest row where that series has one.
  const nearestWithValue = (self: UPlot, seriesIdx: number, closestIdx: number): number => {
    const ys = self.data[seriesIdx];
    if (ys === undefined || seriesIdx === 0 || ys[closestIdx] != null) return closestIdx;
    for (let d = 1; d < 400; d++) {
      if (closestIdx - d >= 0 && ys[closestIdx - d] != null) return closestIdx - d;
      if (closestIdx + d < ys.length && ys[closestIdx + d] != null) return closestIdx + d;
    }
    return closestIdx;
  };
  // 24-hour UTC tick labels; the date appears under the first tick and where the day changes.
  // Columns: tick increment, default, year change, month change, day change, hour, minute, second, mode.
  const timeStamps = [
    [3600 * 24 * 365, '{YYYY}', null, null, null, null, null, null, 1],
    [3600 * 24 * 28, '{MMM}', '\n{YYYY}', null, null, null, null, null, 1],
    [3600 * 24, '{MM}-{DD}', '\n{YYYY}', null, null, null, null, null, 1],
    [3600, '{HH}:{mm}', '\n{YYYY}-{MM}-{DD}', null, '\n{YYYY}-{MM}-{DD}', null, null, null, 1],
    [60, '{HH}:{mm}', '\n{YYYY}-{MM}-{DD}', null, '\n{YYYY}-{MM}-{DD}', null, null, null, 1],
    [1, '{HH}:{mm}:{ss}', '\n{YYYY}-{MM}-{DD}', null, '\n{YYYY}-{MM}-{DD}', null, null, null, 1],
    [0.001, ':{ss}.{fff}', '\n{YYYY}-{MM}-{DD} {HH}:{mm}', null, '\n{YYYY}-{MM}-{DD} {HH}:{mm}', null, '\n{HH}:{mm}', null, 1],
  ] as unknown as UPlot.Axis.Values;
  const timeAxis = { ...axisStyle, space: 70, values: timeStamps };
  // A single instant (one sample, a burst with one timestamp) makes uPlot pad the time range by
  // 86400/ms, about three years here: show 10 ms around it instead. Zoomed ranges pass through.
  const timeScale = { time: true, range: (u: UPlot, min: number, max: number): [number, number] => {
    const xs = u.data[0];
    const single = xs !== undefined && xs.length > 0 && xs[0] === xs[xs.length - 1];
    if (!single && max - min >= 0.01) return [min, max];
    const mid = single ? xs[0]! : (min + max) / 2;
    return [mid - 0.005, mid + 0.005];
  } };
  /** Log-axis ticks are decades and their multiples: each keeps its own unit ("100 µs", "2 ms"). */
  const logDurationTicks = (_u: UPlot, splits: (number | null)[]): string[] => splits.map((v) => (v == null ? '' : formatDurationNs(v)).replace(/\.0+ /, ' ').replace(/(\.\d*?)0+ /, '$1 '));
  const charts: { chart: UPlot; host: HTMLElement; height: number }[] = [];
  const place = (host: HTMLElement, height: number, opts: Omit<UPlot.Options, 'width' | 'height'>, cols: UPlot.AlignedData): void => {
    host.textContent = '';
    const width = Math.max(240, Math.floor(host.clientWidth));
    const chart = new uPlot({ ...opts, width, height } as UPlot.Options, cols, host);
    charts.push({ chart, host, height });
  };
  const timeLegend = (_u: UPlot, v: number | null): string => (v == null ? '—' : `${formatTsUsUtc(v * 1e6)} UTC`);
  const durationLegend = (_u: UPlot, v: number | null): string => formatDurationNs(v);
  const durationTicks = (_u: UPlot, splits: number[]): string[] => durationAxisLabels(splits);

  for (const flow of data.flows) {
    const seriesHost = document.getElementById(`chart-series-${flow.flow_index}`);
    if (flow.series !== null && seriesHost !== null) {
      place(seriesHost, 300, {
        tzDate: utc,
        cursor: { sync: { key: `flow-${flow.flow_index}` }, dataIdx: nearestWithValue },
        scales: { x: timeScale },
        series: [
          { label: 'Capture time', value: timeLegend },
          ...data.metrics.map((m) => ({ label: m.label, stroke: m.color, width: 1.25, spanGaps: true, value: durationLegend })),
        ],
        axes: [
          timeAxis,
          { ...axisStyle, label: 'Delay', size: 78, values: durationTicks },
        ],
      }, columns(flow.series));
    }
    const cdfHost = document.getElementById(`chart-cdf-${flow.flow_index}`);
    if (flow.cdf !== null && cdfHost !== null) {
      const cdfCols = columns(flow.cdf);
      // Delays span decades (a 300 µs server delay beside a 20 ms RTD, rare 200 ms spikes): a
      // log axis keeps each curve readable. Zero or negative values (RTD can be ≤ 0 when clocks
      // disagree) need the linear axis.
      const xs = cdfCols[0] as ArrayLike<number>;
      const logX = xs.length > 0 && xs[0]! > 0;
      place(cdfHost, 260, {
        cursor: { dataIdx: nearestWithValue },
        scales: { x: logX ? { time: false, distr: 3, log: 10 } : { time: false }, y: { range: [0, 100] } },
        series: [
          { label: 'Delay', value: durationLegend },
          ...data.metrics.map((m) => ({ label: m.label, stroke: m.color, width: 1.5, spanGaps: true, value: (_u: UPlot, v: number | null) => (v == null ? '—' : `${v.toFixed(2)} %`) })),
        ],
        axes: [
          { ...axisStyle, label: logX ? 'Delay (log scale)' : 'Delay', values: logX ? logDurationTicks : durationTicks },
          { ...axisStyle, label: 'Samples ≤ delay', size: 60, values: (_u: UPlot, splits: number[]) => splits.map((v) => `${v} %`) },
        ],
      }, cdfCols);
    }
    const lossHost = document.getElementById(`chart-loss-${flow.flow_index}`);
    if (flow.loss !== null && lossHost !== null) {
      place(lossHost, 260, {
        tzDate: utc,
        cursor: { sync: { key: `flow-${flow.flow_index}` }, dataIdx: nearestWithValue },
        scales: { x: timeScale, y: { range: (_u: UPlot, _min: number, max: number) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
        series: [
          { label: 'Capture time', value: timeLegend },
          ...data.loss.map((d) => ({
            label: d.label, stroke: d.color, width: 1.5, spanGaps: true,
            paths: uPlot.paths.stepped!({ align: 1 }), points: { show: false },
            value: (_u: UPlot, v: number | null) => (v == null ? '—' : formatCount(v)),
          })),
        ],
        axes: [
          timeAxis,
          { ...axisStyle, label: 'Packets lost (cumulative)', size: 60, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7, 1e8, 1e9], values: (_u: UPlot, splits: number[]) => splits.map((v) => formatCount(v)) },
        ],
      }, columns(flow.loss));
    }
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      for (const c of charts) c.chart.setSize({ width: Math.max(240, Math.floor(c.host.clientWidth)), height: c.height });
    }, 100);
  });

  status.charts = charts.length;
  status.scriptMs = performance.now() - started;
  requestAnimationFrame(() => {
    status.paintedMs = performance.now();
    status.ready = true;
  });
}
