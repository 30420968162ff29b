// The HTML report in Debian's headless Chromium (docs/architecture.md §7), driven by playwright-core; never
// `npx playwright install`. Renders a generated 3-flow document (100,000 samples per metric in one
// flow, one flow without samples), checks for errors, painted charts and table sorting, keeps a
// screenshot at test-output/report.png and prints render timings.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, testNeeding } from './support/prereq.js';
import { renderReport, writeReportFile } from '../src/sink/report.js';
import { syntheticReportInput, threeFlowInput } from './support/report.js';
import type { ReportStatus } from '../src/sink/report-client.js';

const OUT_DIR = resolve(import.meta.dirname, '..', '..', 'test-output');

async function launch(userDataDir: string): Promise<BrowserContext> {
  // Playwright refuses --user-data-dir in args; launchPersistentContext takes the fresh
  // directory instead. The other flags keep the offline machine's Chromium from calling out.
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1500, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh Chromium profile and page for `fn`; closed and removed afterwards. */
async function withPage(fn: (page: Page) => Promise<void>): Promise<void> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'pdmscope-chromium-'));
  const context = await launch(userDataDir);
  try {
    await fn(await context.newPage());
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

/** Waits until the report's script says it is ready and returns its status. */
async function reportReady(page: Page): Promise<ReportStatus> {
  await page.waitForFunction(() => (window as unknown as { __pdmReport?: ReportStatus }).__pdmReport?.ready === true, undefined, { timeout: 30_000 });
  return page.evaluate(() => (window as unknown as { __pdmReport: ReportStatus }).__pdmReport);
}

interface CanvasInfo { id: string; width: number; height: number; painted: number; seriesPixels: number }

/** Per chart: pixels that are not background, and pixels close to one of the series colours. */
async function inspectCanvases(page: Page, colours: string[]): Promise<CanvasInfo[]> {
  return page.evaluate((hexes) => {
    const rgb = hexes.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
    return Array.from(document.querySelectorAll<HTMLElement>('.chart')).map((host) => {
      const canvas = host.querySelector('canvas');
      if (canvas === null) return { id: host.id, width: 0, height: 0, painted: 0, seriesPixels: 0 };
      const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      let seriesPixels = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3]! === 0) continue;
        painted++;
        if (rgb.some(([r, g, b]) => Math.abs(px[i]! - r!) + Math.abs(px[i + 1]! - g!) + Math.abs(px[i + 2]! - b!) < 60)) seriesPixels++;
      }
      return { id: host.id, width: canvas.width, height: canvas.height, painted, seriesPixels };
    });
  }, colours);
}

async function columnValues(page: Page, col: number): Promise<string[]> {
  return page.$$eval('#flow-table tbody tr', (rows, c) => rows.map((r) => (r as HTMLTableRowElement).cells[c]!.dataset.v ?? ''), col);
}

testNeeding('report renders in headless Chromium: no errors, painted charts, sortable table, screenshot', [CHROMIUM], async (t) => {
  mkdirSync(OUT_DIR, { recursive: true });
  const input = threeFlowInput();
  const started = performance.now();
  const html = renderReport(input);
  const renderNodeMs = performance.now() - started;
  const reportPath = join(OUT_DIR, 'report.html');
  writeReportFile(reportPath, input);
  await withPage(async (page) => {
    const problems: string[] = [];
    const warnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
      if (m.type() === 'warning') warnings.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Any request that is not the report file itself would be an external reference.
    const requests: string[] = [];
    page.on('request', (r) => { if (r.url() !== pathToFileURL(reportPath).href) requests.push(r.url()); });

    await page.goto(pathToFileURL(reportPath).href);
    const status = await reportReady(page);
    const reloads: number[] = [];
    for (let i = 0; i < 2; i++) {
      await page.reload();
      reloads.push((await reportReady(page)).paintedMs);
    }
    t.diagnostic(`report ${(html.length / 1024).toFixed(0)} KiB; Node render ${renderNodeMs.toFixed(0)} ms for 3 flows / ${input.samples.length} samples; `
      + `Chromium: chart script ${status.scriptMs.toFixed(0)} ms, navigation → painted ${status.paintedMs.toFixed(0)} ms cold, ${reloads.map((r) => r.toFixed(0)).join(' / ')} ms on reload`);

    assert.deepEqual(problems, []);
    // (Checked before the test's own getImageData reads, which make Chromium warn.)
    assert.deepEqual(warnings, []);
    assert.deepEqual(requests, []);
    // Flows 0 and 1 have samples (series, CDF, loss); flow 2 has none and shows placeholders.
    assert.equal(status.charts, 6);
    assert.equal(await page.locator('#flow-2 .chart').count(), 0);
    assert.equal(await page.locator('#flow-2 .empty').count(), 3);
    // Generous bound for a loaded shared CI machine; the target (< 1 s) is reported above.
    assert.ok(Math.min(status.paintedMs, ...reloads) < 3000, `painted after ${status.paintedMs} ms`);

    const colours = ['#2563eb', '#059669', '#c084fc', '#dc2626', '#ea580c'];
    const canvases = await inspectCanvases(page, colours);
    assert.equal(canvases.length, 6);
    for (const c of canvases) {
      assert.ok(c.width > 200 && c.height > 100, `${c.id} size ${c.width}x${c.height}`);
      assert.ok(c.painted > 0, `${c.id} is blank`);
      assert.ok(c.seriesPixels > 100, `${c.id}: only ${c.seriesPixels} pixels in series colours`);
    }

    // Sorting: RTD p50 ascending, then descending; null (flow 2) stays last both times.
    const heads = await page.$$eval('#flow-table thead th', (ths) => ths.map((th) => th.textContent?.trim() ?? ''));
    const rtdCol = heads.indexOf('RTD p50');
    const indexCol = heads.indexOf('#');
    assert.ok(rtdCol > 0);
    const before = await columnValues(page, indexCol);
    assert.deepEqual(before, ['0', '1', '2']);
    await page.click(`#flow-table thead th:nth-child(${rtdCol + 1})`);
    const ascending = await columnValues(page, rtdCol);
    assert.equal(await page.getAttribute(`#flow-table thead th:nth-child(${rtdCol + 1})`, 'aria-sort'), 'ascending');
    assert.deepEqual(await columnValues(page, indexCol), ['1', '0', '2']);
    assert.ok(Number(ascending[0]) < Number(ascending[1]) && ascending[2] === '');
    await page.click(`#flow-table thead th:nth-child(${rtdCol + 1})`);
    assert.equal(await page.getAttribute(`#flow-table thead th:nth-child(${rtdCol + 1})`, 'aria-sort'), 'descending');
    assert.deepEqual(await columnValues(page, indexCol), ['0', '1', '2']);
    // A text column sorts by text.
    const protoCol = heads.indexOf('Responder');
    await page.click(`#flow-table thead th:nth-child(${protoCol + 1})`);
    const responders = await columnValues(page, protoCol);
    assert.deepEqual(responders, [...responders].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })));
    assert.deepEqual(await columnValues(page, indexCol), ['1', '0', '2']);
    // Back to document order for the screenshot.
    await page.click(`#flow-table thead th:nth-child(${indexCol + 1})`);
    assert.deepEqual(await columnValues(page, indexCol), ['0', '1', '2']);

    // Resizing re-lays out the charts without errors.
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.waitForTimeout(300);
    const narrow = await inspectCanvases(page, colours);
    assert.ok(narrow.every((c) => c.painted > 0));
    await page.setViewportSize({ width: 1500, height: 900 });
    await page.waitForTimeout(300);

    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(OUT_DIR, 'report.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
}, 120_000);

testNeeding('report edge cases render without errors: one sample, equal timestamps, zero and negative delays', [CHROMIUM], async () => {
  const input = syntheticReportInput([
    { samplesPerMetric: 1, rtdNs: 2e6, serverDelayNs: 1e5, durationUs: 1, lossEvents: 1, port: 1 },
    { samplesPerMetric: 50, rtdNs: 0.5, serverDelayNs: 0.25, durationUs: 200, lossEvents: 0, port: 2 },
    { samplesPerMetric: 30, rtdNs: 1e6, serverDelayNs: 1e5, durationUs: 86_400e6 * 3, lossEvents: 2, port: 3 },
  ]);
  // Flow 1: every sample at one instant; RTD ≤ 0 (clocks that disagree) forces a linear CDF axis.
  for (const s of input.samples) {
    if (s.flow_index !== 1) continue;
    s.ts_us = input.doc.flows[1]!.first_ts_us;
    if (s.metric === 'rtd') s.value_ns = -s.value_ns * (s.frame % 3);
  }
  // Flow 0: only RTD samples.
  input.samples = input.samples.filter((s) => s.flow_index !== 0 || s.metric === 'rtd');
  mkdirSync(OUT_DIR, { recursive: true });
  const reportPath = join(OUT_DIR, 'report-edge.html');
  writeReportFile(reportPath, input);
  await withPage(async (page) => {
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(reportPath).href);
    const status = await reportReady(page);
    assert.deepEqual(problems, []);
    assert.equal(status.charts, 8, 'series and CDF for 3 flows, loss for flows 0 and 2');
    const canvases = await inspectCanvases(page, ['#2563eb']);
    for (const c of canvases) assert.ok(c.painted > 0, `${c.id} is blank`);
    assert.ok(canvases.find((c) => c.id === 'chart-series-2')!.seriesPixels > 0, 'RTD drawn over three days');
    // Hovering a chart fills the legend without errors.
    await page.locator('#chart-series-2 .u-over').hover();
    await page.waitForTimeout(100);
    const legend = await page.locator('#chart-series-2 .u-legend').innerText();
    assert.match(legend, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6} UTC/);
    assert.match(legend, /\d+(\.\d+)? (ns|µs|ms|s)/);
    assert.deepEqual(problems, []);
  });
}, 60_000);
