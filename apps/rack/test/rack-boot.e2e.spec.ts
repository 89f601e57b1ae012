import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { ROOT } from '../../../test/support/bmctl';
import { freeTcpPort } from '../../../test/support/ports';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';
import { type Stack, type StackNode, startStack } from '../../../test/support/stack';
import type { PageWindow } from './page-types';

/** What the page drew for the node, each time it changed. */
interface Seen {
  state: string;
  phase: string;
}

// A real boot watched on the rack view: the e2e deploy stack (test/support/stack.ts: a simulated
// node that PXE-boots from netboot and plays the seed's deploy ramdisk, power, netboot, the deploy
// helper, compute, the scheduler, the images service), the rack service beside it, and Debian's
// chromium on the page while `bmctl boot` runs in the background. The page must show the node
// leave `free`, go through the deploy's states in order and end `active`, without a reload.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, '.jest/artifacts');
const NODE: StackNode = { name: 'rack1', mac: '52:54:00:87:00:01', memory: 512 };
const ORDER = ['free', 'building', 'prepared', 'deploying', 'deploy complete', 'active'];

describe('rack view: a real boot, seen live in headless Chromium', () => {
  let stack: Stack;
  let rack: ServiceProcess;
  let url: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} missing: apt-get install chromium (deploy/apt-packages.txt)`);
    stack = await startStack({
      name: 'rack',
      host: 'rack-host',
      nodes: [NODE],
      subnet: '10.87.0',
      bmcPassword: 'rack-bmc-pw',
      scheduler: true,
      deployTimeoutS: 90,
    });
    const port = await freeTcpPort();
    rack = startService('rack', {
      ...(await serviceEnv(stack.site, { TRANSPORT_URL: stack.transportUrl })),
      BM_RACK_PORT: String(port),
    });
    await rack.waitFor('rack view on http://127.0.0.1:');
    url = `http://127.0.0.1:${port}/`;
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless=new'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1024, height: 600 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    const code = await rack?.stop();
    await stack?.stop();
    if (code !== undefined && code !== 0) throw new Error(`rack exited ${code}:\n${rack.output()}`);
  }, 120_000);

  it('shows the node going from free through the deploy to active', async () => {
    const id = stack.nodeIds[NODE.name];
    await page.goto(url);
    await page.waitForSelector(`body[data-ready="true"] [data-node-id="${id}"][data-state="free"]`, {
      timeout: 10_000,
    });
    // Every state and phase the page draws for the node, as it draws them.
    await page.evaluate((nodeId: number) => {
      const w = globalThis as unknown as PageWindow & { __seen: Seen[] };
      w.__seen = [];
      const note = () => {
        const e = w.document.querySelector(`[data-node-id="${nodeId}"]`);
        const seen = {
          state: e?.getAttribute('data-state') ?? '',
          phase: e?.querySelector('.phase')?.textContent ?? '',
        };
        const last = w.__seen[w.__seen.length - 1];
        if (!last || last.state !== seen.state || last.phase !== seen.phase) w.__seen.push(seen);
      };
      note();
      new w.MutationObserver(note).observe(w.document.getElementById('rack')!, { childList: true });
    }, id);

    const images = await stack.uploadImages({ 'rack-image': 'rack view e2e\n' });
    await stack.createFlavor('rack-512', NODE, images);
    const boot = stack.cli(
      'boot',
      'vm-rack',
      '--flavor',
      'rack-512',
      '--image',
      'rack-image',
      '--timeout',
      '150',
      '--json',
    );
    const seenNow = () => page.evaluate(() => (globalThis as unknown as PageWindow).__seen as Seen[]);
    await page.waitForSelector(`[data-node-id="${id}"][data-state="active"]`, { timeout: 150_000 }).catch(async (e) => {
      const b = await Promise.race([boot, new Promise((r) => setTimeout(() => r('still running'), 1000))]);
      throw new Error(
        `${(e as Error).message}\npage saw: ${JSON.stringify(await seenNow())}\nrow: ${JSON.stringify(await stack.rowOf(NODE))}` +
          `\nbmctl boot: ${JSON.stringify(b)}\nrack log:\n${rack.output().slice(-3000)}\n${stack.logs(NODE)}`,
      );
    });
    const booted = await boot;
    // (Its progress lines are on stderr; shown only if it failed.)
    expect([booted.code, booted.code === 0 ? '' : booted.err]).toEqual([0, '']);

    const seen = await seenNow();
    const states = seen.map((s) => s.state).filter((s, i, all) => s !== all[i - 1]);
    // Seen live in the deploy's order, from free to active (a state shorter than a poll may pass
    // between two of them: the trail below has it).
    expect(states[0]).toBe('free');
    expect(states[states.length - 1]).toBe('active');
    expect(states.map((s) => ORDER.indexOf(s))).toEqual([...states.map((s) => ORDER.indexOf(s))].sort((a, b) => a - b));
    // Every state of the deploy is on the tile's trail, even one shorter than a poll.
    expect(await page.$eval(`[data-node-id="${id}"] .trail`, (e) => e.textContent)).toMatch(
      /^building [\d.]+ s › prepared [\d.]+ s › deploying [\d.]+ s › deploy complete [\d.]+ s › active$/,
    );
    // Powered on for the deploy: the power call's outcome, newer than the power sync's record.
    expect(await page.$eval(`[data-node-id="${id}"] .power`, (e) => e.textContent)).toBe('power on');
    // The phases came from the services' own events (DHCP, TFTP, the callback, the deploy steps).
    const phases = new Set(seen.map((s) => s.phase.split(' ')[0]));
    expect(phases.size).toBeGreaterThan(3);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.click(`[data-node-id="${id}"]`);
    await page.waitForSelector('#timeline tbody tr[data-event-id]', { timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'rack-boot.png'), fullPage: true });
  }, 200_000);
});
