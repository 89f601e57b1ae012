import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { NodeEventRepository, NodeRepository, PowerRecordRepository } from '@bm/db';
import { ROOT } from '../../../test/support/bmctl';
import { enrollNode } from '../../../test/support/nodes';
import { RACK_HOST, type RackSite, startRack } from './rack-site';
import type { PageElement, PageWindow } from './page-types';

// The rack view in a real browser: Debian's chromium, headless, driven by puppeteer-core, on the
// built rack service and a scratch database. Nodes are enrolled, then moved through a deploy the
// way the services do it (NodeRepository's state machine, the deploy helper's progress events,
// the power record); the page must show each step as it happens, without a reload. Text from
// the database that looks like markup must stay text. The screenshot is a test artifact.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, '.jest/artifacts');
const SCREENSHOT = join(ARTIFACTS, 'rack-view.png');
/** Two polls of the feed and then some: how long a change may take to reach the page. */
const LIVE_MS = 5000;
const MIB = 1024 * 1024;

const INSTANCE_1 = '0b3f5a53-7f5e-4a7e-9f0e-000000000001';
const INSTANCE_2 = '0b3f5a53-7f5e-4a7e-9f0e-000000000002';
const HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_REASON = '<script>window.__pwned=2</script> fan "B" & <b>PSU</b>';
const HOSTILE_DETAIL = '<svg onload="window.__pwned=3"> console log';

jest.setTimeout(120_000);

describe('rack view in headless Chromium', () => {
  let site: RackSite;
  let browser: Browser;
  let page: Page;
  let nodes: NodeRepository;
  let events: NodeEventRepository;
  const ids: number[] = [];
  const uuids: string[] = [];
  const problems: string[] = [];
  let navigations = 0;

  /** The tile of node `id`, by what the page shows of it. */
  const tile = (id: number) =>
    page.$eval(`[data-node-id="${id}"]`, (e) => ({
      state: e.getAttribute('data-state'),
      text: (e as unknown as PageElement).innerText,
      phase: e.querySelector('.phase')?.textContent ?? '',
      trail: e.querySelector('.trail')?.textContent ?? '',
      power: e.querySelector('.power')?.textContent ?? '',
      progress: e.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow') ?? null,
      maintenance: e.classList.contains('maintenance'),
      elements: [...e.querySelectorAll('*')].map((c) => c.tagName.toLowerCase()),
    }));
  /** Waits until node `id`'s tile shows `state` (and `phase`, when given). */
  const shows = (id: number, state: string, phase?: string) =>
    page.waitForFunction(
      (sel: string, s: string, p: string | null) => {
        const e = (globalThis as unknown as PageWindow).document.querySelector(sel);
        return (
          e?.getAttribute('data-state') === s &&
          (p === null || (e.querySelector('.phase')?.textContent ?? '').includes(p))
        );
      },
      { timeout: LIVE_MS },
      `[data-node-id="${id}"]`,
      state,
      phase ?? null,
    );

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} missing: apt-get install chromium (deploy/apt-packages.txt)`);
    site = await startRack('bm_rack_view');
    nodes = new NodeRepository(site.db.ds);
    events = new NodeEventRepository(site.db.ds);
    for (const i of [1, 2, 3]) {
      const id = await enrollNode(site.db.ds, RACK_HOST, {
        macs: [`52:54:00:bb:00:0${i}`],
        pm_address: `10.0.1.${i}`,
        cpus: i,
        memory_mb: 1024 * i,
      });
      ids.push(id);
      const [{ uuid }] = await site.db.ds.query('SELECT uuid FROM bm_nodes WHERE id = $1', [id]);
      uuids.push(uuid);
    }
    // Node 3: out of service, with a reason that looks like markup.
    await site.db.ds.query(`UPDATE bm_nodes SET maintenance = true, maintenance_reason = $2 WHERE id = $1`, [
      ids[2],
      HOSTILE_REASON,
    ]);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless=new'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    // Any error of the page (a script blocked by its policy, an exception) fails the test.
    page.on('pageerror', (e) => problems.push(`pageerror: ${(e as Error).message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations++);
  });
  afterAll(async () => {
    await browser?.close();
    await site?.stop();
  });

  it('shows every enrolled node as a tile', async () => {
    await page.goto(site.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: LIVE_MS });
    expect(await page.$$eval('.tile', (t) => t.map((e) => Number(e.getAttribute('data-node-id'))))).toEqual(ids);
    expect(await page.$eval('#connection', (e) => e.getAttribute('data-status'))).toBe('live');
    const first = await tile(ids[0]);
    expect(first).toMatchObject({ state: 'free', power: 'power ?', maintenance: false });
    expect(first.text).toContain(`node ${ids[0]} · ${RACK_HOST}`);
    expect(first.text).toContain('no instance');
    expect(first.text).toContain('1 cpu · 1024 MB');
    expect(await page.$eval('#summary', (e) => e.textContent)).toBe('3 nodes · 3 free · 1 in maintenance');
  });

  it('keeps text from the database as text: a maintenance reason that looks like markup', async () => {
    const t = await tile(ids[2]);
    expect(t.maintenance).toBe(true);
    expect(t.text).toContain(`maintenance: ${HOSTILE_REASON}`);
    expect(t.elements).not.toContain('script');
    expect(t.elements).not.toContain('b');
    expect(await page.evaluate(() => (globalThis as unknown as PageWindow).__pwned)).toBeUndefined();
  });

  it('follows a deploy live: building, prepared, deploying with progress, deploy complete, active', async () => {
    // Every state the page draws for node 1, as it draws it (tiles are replaced on change).
    await page.evaluate((id: number) => {
      const w = globalThis as unknown as PageWindow & { __states: string[] };
      w.__states = [];
      const note = () => {
        const s = w.document.querySelector(`[data-node-id="${id}"]`)?.getAttribute('data-state');
        if (s && w.__states[w.__states.length - 1] !== s) w.__states.push(s);
      };
      note();
      new w.MutationObserver(note).observe(w.document.getElementById('rack')!, { childList: true });
    }, ids[0]);

    await nodes.associate(uuids[0], RACK_HOST, INSTANCE_1, 'vm-one');
    await shows(ids[0], 'building', 'state building');
    expect((await tile(ids[0])).text).toContain(`vm-one ${INSTANCE_1.slice(0, 8)}…`);
    await nodes.transition(ids[0], INSTANCE_1, 'prepared');
    await shows(ids[0], 'prepared');
    await new PowerRecordRepository(site.db.ds).save({
      nodeId: ids[0],
      state: 'on',
      checkedAt: new Date(),
      latencyMs: 2,
      error: null,
      failures: 0,
      nextCheckAt: new Date(),
      changedAt: new Date(),
    });
    await page.waitForFunction(
      (sel: string) => (globalThis as unknown as PageWindow).document.querySelector(sel)?.textContent === 'power on',
      { timeout: LIVE_MS },
      `[data-node-id="${ids[0]}"] .power`,
    );
    await nodes.transition(ids[0], INSTANCE_1, 'deploy_started');
    await shows(ids[0], 'deploying');
    for (const written of [4, 12]) {
      await events.record({
        nodeId: ids[0],
        source: 'deploy-helper',
        kind: 'deploy.progress',
        detail: `write: ${written * MIB} of ${16 * MIB} bytes`,
        bytes: written * MIB,
        instanceUuid: INSTANCE_1,
      });
      const percent = (written / 16) * 100;
      await shows(ids[0], 'deploying', `deploy.progress write ${written}.0 of 16.0 MiB (${percent}%)`);
      expect((await tile(ids[0])).progress).toBe(String(percent));
    }
    await events.record({
      nodeId: ids[0],
      source: 'deploy-helper',
      kind: 'deploy.step',
      detail: 'write: image written to partition 1',
      durationMs: 812,
      bytes: 16 * MIB,
      instanceUuid: INSTANCE_1,
    });
    await shows(ids[0], 'deploying', 'deploy.step write');
    expect((await tile(ids[0])).progress).toBeNull();
    await nodes.transition(ids[0], INSTANCE_1, 'deploy_done');
    await shows(ids[0], 'deploy complete');
    await nodes.transition(ids[0], INSTANCE_1, 'activated');
    await shows(ids[0], 'active', 'state active');

    expect(await page.evaluate(() => (globalThis as unknown as PageWindow).__states)).toEqual([
      'free',
      'building',
      'prepared',
      'deploying',
      'deploy complete',
      'active',
    ]);
    expect((await tile(ids[0])).trail).toMatch(
      /^building \d+\.\d s › prepared \d+\.\d s › deploying \d+\.\d s › deploy complete \d+\.\d s › active$/,
    );
    expect(navigations).toBe(1); // all of it without a reload
    expect(await page.$eval('#summary', (e) => e.textContent)).toBe('3 nodes · 1 active · 2 free · 1 in maintenance');
  });

  it("a click on a tile shows the node's timeline, which goes on live", async () => {
    await page.click(`[data-node-id="${ids[0]}"]`);
    await page.waitForSelector('#panel:not([hidden]) #timeline tbody tr[data-event-id]', { timeout: LIVE_MS });
    const rows = () =>
      page.$$eval('#timeline tbody tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      );
    const shown = await rows();
    expect(shown.map((r) => [r[1], r[2], r[3]])).toEqual([
      ['compute', 'state', 'building (associate)'],
      ['compute', 'state', 'prepared (prepared)'],
      ['deploy-helper', 'state', 'deploying (deploy_started)'],
      ['deploy-helper', 'deploy.progress', `write: ${4 * MIB} of ${16 * MIB} bytes`],
      ['deploy-helper', 'deploy.progress', `write: ${12 * MIB} of ${16 * MIB} bytes`],
      ['deploy-helper', 'deploy.step', 'write: image written to partition 1'],
      ['deploy-helper', 'state', 'deploy complete (deploy_done)'],
      ['compute', 'state', 'active (activated)'],
    ]);
    expect(shown[5].slice(4)).toEqual(['812', String(16 * MIB)]);
    expect(await page.$eval('#panel-title', (e) => e.textContent)).toBe(`node ${ids[0]} · ${RACK_HOST}`);
    expect(await page.$eval('#details', (e) => e.textContent)).toContain(`instance vm-one ${INSTANCE_1}`);

    await events.record({ nodeId: ids[0], source: 'netboot', kind: 'tftp.file', detail: HOSTILE_DETAIL });
    await page.waitForFunction(
      (n: number) => (globalThis as unknown as PageWindow).document.querySelectorAll('#timeline tbody tr').length === n,
      { timeout: LIVE_MS },
      shown.length + 1,
    );
    const last = (await rows()).at(-1)!;
    expect(last.slice(1, 4)).toEqual(['netboot', 'tftp.file', HOSTILE_DETAIL]);
    expect(await page.$$eval('#timeline svg, #timeline img, #timeline script', (e) => e.length)).toBe(0);
  });

  it('shows another boot under way, an instance name that looks like markup as text; the screenshot', async () => {
    await nodes.associate(uuids[1], RACK_HOST, INSTANCE_2, HOSTILE_NAME);
    await nodes.transition(ids[1], INSTANCE_2, 'prepared');
    await nodes.transition(ids[1], INSTANCE_2, 'deploy_started');
    await events.record({
      nodeId: ids[1],
      source: 'deploy-helper',
      kind: 'deploy.progress',
      detail: `write: ${10 * MIB} of ${16 * MIB} bytes`,
      bytes: 10 * MIB,
      instanceUuid: INSTANCE_2,
    });
    await shows(ids[1], 'deploying', '(62.5%)');
    const t = await tile(ids[1]);
    expect(t.text).toContain(HOSTILE_NAME);
    expect(t.elements).not.toContain('img');
    expect(await page.evaluate(() => (globalThis as unknown as PageWindow).__pwned)).toBeUndefined();
    expect(problems).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });
});
