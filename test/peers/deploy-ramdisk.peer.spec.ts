import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDeployCallback } from '@bm/contracts';
import { CommandRunner } from '@bm/exec';
import { UserspaceAttacher } from '@bm/iscsi';
import { generateDeployKey } from '@bm/pxe';
import { sendDone } from '../../apps/deploy-helper/src/deploy-node';
import { type ScriptedRamdisk, processGroup, startScriptedRamdisk } from '../support/deploy-ramdisk';
import { Netns, testNamespaces } from '../support/netns';

// The scripted deploy ramdisk (test/support/deploy-ramdisk.ts: busybox sh, wget and nc, a tgtd of
// its own) in a network namespace at 10.81.33.2, on a veth whose other end, made by this test in
// the root namespace (and deleted after it), is 10.81.33.1: there this test plays the deploy helper: it takes the callback, logs in to the exported disk with
// the real userspace initiator (qemu-storage-daemon + FUSE, libs/iscsi), writes a marker, detaches
// and sends `done` with the helper's own sendDone. 10.81.33.0/30 is used by no other test.
const NET = '10.81.33';
const HOST = `${NET}.1`;
const RAMDISK = `${NET}.2`;
const MIB = 1024 * 1024;

interface Callback {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server on `host`:<free port> answering every request 200, empty, as the helper does. */
async function callbackServer(host: string, onCallback: (c: Callback) => void) {
  const calls: Callback[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0, Connection: 'close' });
      res.end();
      const c = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      calls.push(c);
      onCallback(c); // after the answer: the ramdisk goes on to nc only once wget has it
    });
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** The helper's `done` (§3.5 step 12), retried while nc is not listening yet (DeployNode retries too). */
async function notify(address: string, port: number): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await sendDone(address, port);
    } catch (e) {
      if (i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Plays the deploy helper (§3.4–3.5) for one ramdisk: answers its callback first, then shows its
 * targets (to see the export came before the callback), logs in to `a`:`p` (default 3260) `n`
 * LUN 1 with the userspace initiator, writes `marker` at `at`, detaches and sends `done` to
 * `a`:<the ramdisk's donePort>. `deployed` settles once all that is over.
 */
async function playHelper(host: string, marker: string, at: number) {
  let started!: (r: Promise<ScriptedRamdisk>) => void;
  const starting = new Promise<ScriptedRamdisk>((ok) => (started = (r) => ok(r)));
  let exported: string | undefined;
  let settle!: (e?: unknown) => void;
  const deployed = new Promise<void>((ok, fail) => (settle = (e) => (e ? fail(e) : ok())));
  deployed.catch(() => undefined); // awaited by the test; not unhandled if the test failed before
  const attacher = new UserspaceAttacher(new CommandRunner(), { readyTimeoutMs: 10_000 });
  const server = await callbackServer(host, (c) => {
    void (async () => {
      const ramdisk = await starting;
      exported = await ramdisk.showTargets();
      const q = new URLSearchParams(c.body);
      const address = q.get('a')!;
      const lun = await attacher.attach({ address, port: Number(q.get('p') ?? 3260), iqn: q.get('n')!, lun: 1 });
      try {
        const f = await open(lun.path, 'r+');
        await f.write(Buffer.from(marker), 0, marker.length, at);
        await f.sync();
        await f.close();
      } finally {
        await lun.detach();
      }
      await notify(address, ramdisk.donePort);
    })().then(
      () => settle(),
      (e: unknown) => settle(e ?? new Error('failed')),
    );
  });
  return {
    server,
    deployed,
    exportedAtCallback: () => exported,
    /** Hands the starting ramdisk over (its callback may come first) and waits for it. */
    ramdisk: (r: Promise<ScriptedRamdisk>) => {
      started(r);
      return r;
    },
  };
}

/** Pids of the tgtds started with control port `port`. */
function tgtds(port: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv[0].endsWith('tgtd') && argv.includes('-C') && argv[argv.indexOf('-C') + 1] === String(port);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the scripted deploy ramdisk in a network namespace', () => {
  const before = testNamespaces();
  const hostDev = `bmrd${randomBytes(3).toString('hex')}`;
  let ns: Netns | undefined;
  let work: string;

  beforeAll(async () => {
    const taken = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
    if (taken.includes(` ${NET}.`)) throw new Error(`${NET}.0/30 is already on an interface here:\n${taken}`);
    ns = Netns.create('ramdisk');
    // A veth from this namespace into the ramdisk's: the only link of the ramdisk's namespace.
    execFileSync('ip', ['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    execFileSync('ip', ['addr', 'add', `${HOST}/30`, 'dev', hostDev]);
    execFileSync('ip', ['link', 'set', hostDev, 'up']);
    ns.addAddress('eth0', `${RAMDISK}/30`);
    work = await mkdtemp(join(tmpdir(), 'bm-ramdisk-test-'));
  });

  afterAll(async () => {
    if (existsSync(`/sys/class/net/${hostDev}`)) execFileSync('ip', ['link', 'del', hostDev]);
    await ns?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function disk(name: string): Promise<string> {
    const file = join(work, name);
    await writeFile(file, '');
    await truncate(file, 32 * MIB);
    return file;
  }

  it('exports its disk, calls back, takes `done`, then deletes the target and exits 0', async () => {
    const diskFile = await disk('node-disk.img');
    const instanceUuid = randomUUID();
    const deployKey = generateDeployKey();
    const marker = `deployed-by-the-test-${instanceUuid}`;
    const at = 5 * MIB + 17;
    const helper = await playHelper(HOST, marker, at);
    let ramdisk: ScriptedRamdisk | undefined;
    try {
      ramdisk = await helper.ramdisk(
        startScriptedRamdisk({
          netns: ns!.name,
          address: RAMDISK,
          callbackUrl: helper.server.url,
          nodeId: 7,
          deployKey,
          instanceUuid,
          diskFile,
        }),
      );
      expect(ramdisk).toMatchObject({ iqn: `iqn-${instanceUuid}`, address: RAMDISK, port: 3260, donePort: 10000 });

      const [result] = await Promise.all([ramdisk.done, helper.deployed]);

      // The callback: busybox wget's form POST, the seed's fields in the seed's order.
      expect(helper.server.calls).toHaveLength(1);
      const [c] = helper.server.calls;
      expect(c.method).toBe('POST');
      expect(c.url).toBe('/');
      expect(c.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(c.body).toBe(`i=7&k=${deployKey}&a=${RAMDISK}&n=iqn-${instanceUuid}&e=`);
      const parsed = parseDeployCallback({
        method: c.method,
        contentType: c.headers['content-type'],
        body: Buffer.from(c.body),
      });
      expect(parsed).toEqual({
        ok: true,
        callback: { nodeId: 7, key: deployKey, address: RAMDISK, port: 3260, iqn: `iqn-${instanceUuid}`, lun: 1 },
      });

      // Exported before the callback: LUN 1 on the disk, open to every initiator.
      expect(helper.exportedAtCallback()).toContain(`Target 1: iqn-${instanceUuid}`);
      expect(helper.exportedAtCallback()).toContain(`Backing store path: ${diskFile}`);
      expect(helper.exportedAtCallback()).toMatch(/ACL information:\s+ALL/);

      // Got `done`, then deleted the target and stopped tgtd.
      expect(result).toEqual({
        received: 'done',
        exitCode: 0,
        signal: null,
        log: expect.stringContaining('reboot (exit 0)'), // a failure prints the whole log
      });
      const steps = [
        'target iqn-',
        'request boot server to deploy image',
        'waiting for notice of complete',
        'received: done',
        'stop iSCSI target',
        'reboot (exit 0)',
      ];
      const where = steps.map((s) => result.log.indexOf(s));
      expect(where.every((w) => w >= 0)).toBe(true);
      expect([...where].sort((a, b) => a - b)).toEqual(where);
      expect(await ramdisk.showTargets()).toBeUndefined();
      expect(tgtds(ramdisk.controlPort)).toEqual([]);
      expect(processGroup(ramdisk.pid)).toEqual([]);
      expect(existsSync(ramdisk.workDir)).toBe(false);
      expect(existsSync(`/var/run/tgtd/socket.${ramdisk.controlPort}`)).toBe(false);

      // What the initiator wrote is on the node's disk.
      const back = await readFile(diskFile);
      expect(back.subarray(at, at + marker.length).toString()).toBe(marker);
    } finally {
      await ramdisk?.stop();
      await helper.server.close();
    }
  });

  it('no `done` ever comes: stop() kills busybox and tgtd and removes its files', async () => {
    const diskFile = await disk('lonely-disk.img');
    const instanceUuid = randomUUID();
    const server = await callbackServer(HOST, () => undefined);
    try {
      const ramdisk = await startScriptedRamdisk({
        netns: ns!.name,
        address: RAMDISK,
        callbackUrl: server.url,
        nodeId: 8,
        deployKey: generateDeployKey(),
        instanceUuid,
        diskFile,
        firstError: 'Could not find disk: /dev/sda & more',
      });
      await until('nc', () => ramdisk.log().includes('waiting for notice of complete'));
      // The seed's filter of `e`: spaces to `+`, `&` dropped, `:` and `/` kept (in the range `.-_`).
      expect(server.calls.map((c) => c.body)).toEqual([
        expect.stringMatching(/&e=Could\+not\+find\+disk:\+\/dev\/sda\+\+more$/),
      ]);
      expect(await ramdisk.showTargets()).toContain(`iqn-${instanceUuid}`);
      expect(tgtds(ramdisk.controlPort)).toHaveLength(1);
      expect(processGroup(ramdisk.pid).length).toBeGreaterThanOrEqual(3); // sh, tgtd, nc

      await ramdisk.stop();
      await ramdisk.stop(); // idempotent
      const result = await ramdisk.done;
      expect(result).toMatchObject({ received: '', exitCode: -1, signal: 'SIGKILL' });
      expect(processGroup(ramdisk.pid)).toEqual([]);
      expect(tgtds(ramdisk.controlPort)).toEqual([]);
      expect(await ramdisk.showTargets()).toBeUndefined();
      expect(existsSync(ramdisk.workDir)).toBe(false);
      expect(existsSync(`/var/run/tgtd/socket.${ramdisk.controlPort}`)).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('outside a namespace: free ports for iSCSI and nc, and the callback names the iSCSI one (p=)', async () => {
    const diskFile = await disk('loopback-disk.img');
    const instanceUuid = randomUUID();
    const marker = `loopback-${instanceUuid}`;
    const helper = await playHelper('127.0.0.1', marker, 4096);
    let ramdisk: ScriptedRamdisk | undefined;
    try {
      ramdisk = await helper.ramdisk(
        startScriptedRamdisk({
          address: '127.0.0.1',
          callbackUrl: helper.server.url,
          nodeId: 9,
          deployKey: generateDeployKey(),
          instanceUuid,
          diskFile,
        }),
      );
      expect(ramdisk.port).not.toBe(3260);
      expect(ramdisk.donePort).not.toBe(10000);
      const [result] = await Promise.all([ramdisk.done, helper.deployed]);
      expect(result).toMatchObject({ received: 'done', exitCode: 0 });
      expect(helper.server.calls.map((c) => c.body)).toEqual([expect.stringMatching(`&e=&p=${ramdisk.port}$`)]);
      expect((await readFile(diskFile)).subarray(4096, 4096 + marker.length).toString()).toBe(marker);
    } finally {
      await ramdisk?.stop();
      await helper.server.close();
    }
  });

  it('leaves no namespace or veth behind', async () => {
    await ns!.destroy();
    ns = undefined;
    expect(testNamespaces()).toEqual(before);
    expect(existsSync(`/sys/class/net/${hostDev}`)).toBe(false);
  });
});
