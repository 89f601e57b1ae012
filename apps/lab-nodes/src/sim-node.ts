/**
 * One simulated node: a virtual BMC (libs/ipmi) in front of a machine whose "firmware" and
 * "deploy ramdisk" speak the real protocols to the real services.
 *
 * Power on (the BMC's chassis control), with the IPMI boot device (PXE unless the BMC was told
 * `disk`; a next-boot-only device is used once):
 *   PXE     DHCP from its MAC (pxe-dhcp), its address added on the fleet's interface; TFTP of the
 *           boot file, pxelinux.cfg/01-<mac> (else pxelinux.cfg/default) and every file of the
 *           default label (kernel, initrds), each checked against the tsize the server announced;
 *           the kernel command line built as pxelinux does (ipappend: ip=, BOOTIF=).
 *   deploy  the label carries deployment_id: the seed's deploy ramdisk. Its disk file exported as
 *           LUN 1 of a target of the fleet's tgtd under the deploy's IQN; `<its address>:10000`
 *           listened on; the form POST `i=…&k=…&a=<its address>&n=<iqn>&e=` to
 *           http://<boot server>:10000 from its own address; `done` awaited; the target removed;
 *           then a reboot: PXE again.
 *   boot    any other label: the instance. Its root=UUID= must be the filesystem UUID of the
 *           disk's root partition (sfdisk -J, blkid -p -O), else the node fails (no root).
 *   disk    a boot from the local disk: the disk's root filesystem, found the same way.
 * Power off (or a reset, a power cycle) aborts whatever the node is doing: sockets closed, the
 * target taken down (forced), its address removed. The seed's quirks kept: a failed export is
 * reported in `e=` and the callback still made; a failed or refused callback is recorded and the
 * node waits for `done` anyway (the seed's ramdisk carried on).
 */
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { type Server, createServer } from 'node:net';
import type { CommandRunner } from '@bm/exec';
import { type PowerAction, SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import { tftpGet } from '@bm/tftp';
import { allocatedBytes, probeDisk, rootPartition } from './disk';
import { type Phase, PhaseTracker } from './phases';
import {
  type DeployParameters,
  bootif,
  defaultLabel,
  deployParameters,
  kernelCommandLine,
  kernelParameter,
  labelFiles,
  parsePxelinuxConfig,
  rootUuidOf,
} from './pxe-config';
import { type DhcpClientPort, type DhcpLease, type PxeIdentity, guidForMac, prefixLength } from './pxe-dhcp';
import type { Tgtd } from '@bm/iscsi';

export interface SimNodeSpec {
  /** Shown in the status (default `node-<mac>`). */
  name: string;
  mac: string;
  bmc: {
    /** Default 127.0.0.1. */
    address?: string;
    /** 0: any free port (status() and the fleet's `ready` tell which). */
    port: number;
    user: string;
    password: string;
  };
  disk: { file: string; sizeBytes: number };
  /** `never`: the deploy ramdisk comes up and never calls back (a deploy that times out). Default `always`. */
  callback?: 'always' | 'never';
}

/** What the fleet shares with its nodes. */
export interface NodeEnvironment {
  dhcp: DhcpClientPort;
  tgtd: Tgtd;
  runner: CommandRunner;
  /** The fleet's interface, where each node's address is added. */
  interface: string;
  settings: NodeSettings;
}

export interface NodeSettings {
  /** Per DHCP try (default 1, 2, 4, 8, 16 s). */
  dhcpTimeoutsMs?: number[];
  /** TFTP server port (69). */
  tftpPort?: number;
  /** TFTP blksize asked for (1468, pxelinux's). */
  tftpBlksize?: number;
  /** TFTP retransmission interval (1000 ms) and retries (5). */
  tftpTimeoutMs?: number;
  tftpRetries?: number;
  /** Where the deploy helper listens (10000, the seed's). */
  callbackPort?: number;
  /** Where `done` is awaited (10000, the seed's nc -l -p 10000). */
  donePort?: number;
  /** The iSCSI portal port the helper is told (3260; another is sent as `p=`). */
  iscsiPort?: number;
  /** The boot device when the BMC names none (default pxe: network first, as the seed's nodes). */
  bootOrder?: 'pxe' | 'disk';
}

export interface TftpFileStatus {
  name: string;
  bytes: number;
  /** The size the server announced (tsize). */
  tsize?: number;
  ms: number;
  /** Which PXE boot of this power-on (1, 2…). */
  boot: number;
}

/** A snapshot of one node (JSON-ready: times are ISO strings). */
export interface SimNodeStatus {
  name: string;
  mac: string;
  /** `address:port` of its BMC. */
  bmc: string;
  power: 'on' | 'off';
  phase: Phase;
  /** When the phase began. */
  since: string;
  /** The latest phase's detail (a file, an address, why it failed). */
  detail?: string;
  /** PXE boots since the last power on. */
  boots: number;
  /** Its address, while it has one. */
  address?: string;
  bytes: {
    /** TFTP bytes received since the last power on. */
    tftp: number;
    /** Bytes allocated in its disk file (what the deploy wrote). */
    disk: number;
  };
  /** The files fetched over TFTP since the last power on. */
  files: TftpFileStatus[];
  /** The deploy ramdisk's parameters (its key left out). */
  deploy?: { nodeId: number; iqn: string; bootServer: string; bootif?: string };
  /** The callback's answer, or why there is none. */
  callback?: { status?: number; body?: string; error?: string };
  /** What came on the done port. */
  done?: string;
  /** The instance booted: root=UUID= as checked on the disk. */
  instance?: { rootUuid: string; partition: number; from: 'pxe' | 'disk' };
  error?: string;
  history: { phase: Phase; at: string; detail?: string }[];
}

/** Why a node's work stopped: it was powered off or reset. */
class PowerChanged extends Error {
  constructor(
    action: PowerAction,
    /** The machine went off (else it was reset or power-cycled). */
    readonly off: boolean,
  ) {
    super(`power ${action}`);
  }
}

/** A SimulatedMachine that tells the node when its power changes. */
class FleetMachine extends SimulatedMachine {
  onPower?: (action: PowerAction, before: boolean, after: boolean) => void;

  override power(action: PowerAction): void {
    const before = this.isPoweredOn();
    super.power(action);
    this.onPower?.(action, before, this.isPoweredOn());
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `p`, or the signal's reason once it aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

/** The seed's `nc -l -p 10000` on one address: the first connection's bytes, once it ends. */
async function listenForDone(address: string, port: number): Promise<{ received: Promise<string>; close(): void }> {
  let server: Server | undefined;
  const received = new Promise<string>((resolve) => {
    server = createServer((c) => {
      server?.close(); // one connection, as nc -l
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      c.on('error', () => undefined);
      c.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen({ host: address, port, exclusive: true }, () => {
      server!.off('error', reject);
      resolve();
    });
  });
  return { received, close: () => void server?.close() };
}

const HTTP_POST = 'POST';

/** busybox wget --post-data from `localAddress`: the answer's status and body. */
function postForm(
  url: { host: string; port: number },
  body: string,
  localAddress: string,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.host,
        port: url.port,
        path: '/',
        method: HTTP_POST,
        localAddress,
        signal,
        timeout: 30_000,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The seed's "URL-safe" filter of `e`: the bracket [a-zA-Z0-9.-_ ] kept (`.-_` is a range), spaces to `+`. */
export function seedErrorParameter(text: string): string {
  return [...text]
    .filter((c) => /[a-zA-Z0-9 ]/.test(c) || (c >= '.' && c <= '_'))
    .join('')
    .replace(/ /g, '+');
}

/**
 * A simulated node. Events: `phase` (SimNodeStatus) on every phase change, `progress`
 * (SimNodeStatus) at most every 250 ms while TFTP bytes come in, `log` ({ node, at, line }).
 */
export class SimNode extends EventEmitter {
  readonly machine = new FleetMachine();
  readonly bmc: VirtualBmc;
  private readonly phases: PhaseTracker;
  private run?: { controller: AbortController; done: Promise<void> };
  private address?: string;
  /** `address/prefix` as added on the fleet's interface. */
  private addressCidr?: string;
  private boots = 0;
  private tftpBytes = 0;
  private files: TftpFileStatus[] = [];
  private deploy?: SimNodeStatus['deploy'];
  private callback?: SimNodeStatus['callback'];
  private done?: string;
  private instance?: SimNodeStatus['instance'];
  private error?: string;
  private lastProgress = 0;

  constructor(
    readonly spec: SimNodeSpec,
    /** tgtd's target id for this node (unique in the fleet). */
    private readonly tid: number,
    private readonly env: NodeEnvironment,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.phases = new PhaseTracker(now);
    this.bmc = new VirtualBmc({
      address: spec.bmc.address ?? '127.0.0.1',
      port: spec.bmc.port,
      users: { [spec.bmc.user]: spec.bmc.password },
      machine: this.machine,
    });
    this.machine.onPower = (action, before, after) => this.powerChanged(action, before, after);
  }

  get name(): string {
    return this.spec.name;
  }

  get phase(): Phase {
    return this.phases.current.phase;
  }

  async start(): Promise<void> {
    await this.bmc.start();
  }

  /** Powers the machine off (aborting what it does, as a pulled plug), then stops the BMC. */
  async stop(): Promise<void> {
    if (this.machine.isPoweredOn()) this.machine.power('off');
    await this.run?.done;
    await this.bmc.stop();
  }

  /** Resolves once whatever the node is doing after a power change has settled (for tests). */
  async settled(): Promise<void> {
    await this.run?.done;
  }

  status(): SimNodeStatus {
    const cur = this.phases.current;
    return {
      name: this.spec.name,
      mac: this.spec.mac,
      bmc: `${this.spec.bmc.address ?? '127.0.0.1'}:${this.bmc.port}`,
      power: this.machine.isPoweredOn() ? 'on' : 'off',
      phase: cur.phase,
      since: new Date(cur.at).toISOString(),
      ...(cur.detail !== undefined ? { detail: cur.detail } : {}),
      boots: this.boots,
      ...(this.address ? { address: this.address } : {}),
      bytes: { tftp: this.tftpBytes, disk: allocatedBytes(this.spec.disk.file) },
      files: this.files.map((f) => ({ ...f })),
      ...(this.deploy ? { deploy: { ...this.deploy } } : {}),
      ...(this.callback ? { callback: { ...this.callback } } : {}),
      ...(this.done !== undefined ? { done: this.done } : {}),
      ...(this.instance ? { instance: { ...this.instance } } : {}),
      ...(this.error ? { error: this.error } : {}),
      history: this.phases.history.map((h) => ({
        phase: h.phase,
        at: new Date(h.at).toISOString(),
        ...(h.detail !== undefined ? { detail: h.detail } : {}),
      })),
    };
  }

  private enter(phase: Phase, detail?: string): void {
    this.phases.enter(phase, detail);
    this.log(`${phase}${detail ? `: ${detail}` : ''}`);
    this.emit('phase', this.status());
  }

  private log(line: string): void {
    this.emit('log', { node: this.spec.name, at: new Date(this.now()).toISOString(), line });
  }

  private powerChanged(action: PowerAction, before: boolean, after: boolean): void {
    if (!after) {
      if (!before) return;
      // Whatever the node is doing stops; once it has cleaned up (or at once, when it sits in a
      // finished boot) it is off.
      const off = new AbortController();
      off.abort(new PowerChanged(action, true));
      this.run?.controller.abort(off.signal.reason);
      const previous = this.run?.done ?? Promise.resolve();
      this.run = { controller: off, done: previous.then(() => this.settle(off.signal)) };
      return;
    }
    if (before && action === 'on') return; // already on
    // On from off; or a reset / power cycle of a running machine.
    this.run?.controller.abort(new PowerChanged(action, false));
    const previous = this.run?.done ?? Promise.resolve();
    const controller = new AbortController();
    // One run at a time: the next starts once the last one has cleaned up.
    const done = previous
      .then(() => this.powerOnRun(controller.signal, before ? action : undefined))
      .catch((e: unknown) => this.log(`bug: ${message(e)}`));
    this.run = { controller, done };
  }

  /** After a run: `off` if the machine is off or the run was stopped by a power off. */
  private settle(signal: AbortSignal): void {
    const cut = signal.aborted && signal.reason instanceof PowerChanged && signal.reason.off;
    if ((cut || !this.machine.isPoweredOn()) && this.phase !== 'off') this.enter('off');
  }

  /** Everything from power on (or a reset) until off or the next reset; never rejects. */
  private async powerOnRun(signal: AbortSignal, resetBy?: PowerAction): Promise<void> {
    if (signal.aborted) return this.settle(signal);
    if (resetBy && this.phase !== 'off' && this.phase !== 'rebooting') this.enter('rebooting', `power ${resetBy}`);
    this.boots = 0;
    this.tftpBytes = 0;
    this.files = [];
    this.deploy = this.callback = this.done = this.instance = this.error = undefined;
    let exported = false;
    let doneListener: { close(): void } | undefined;
    try {
      for (;;) {
        // Each boot asks the BMC's boot device first (a next-boot-only one is used once).
        if (this.bootDevice() === 'disk') {
          await this.bootFromDisk(undefined, 'disk', signal);
          return;
        }
        const round = await this.pxeBoot(signal);
        if (round.kind === 'instance') return;
        // The deploy ramdisk.
        const p = round.params;
        this.deploy = {
          nodeId: p.deploymentId,
          iqn: p.iscsiTargetIqn,
          bootServer: p.bootServer,
          ...(p.mac ? { bootif: bootif(p.mac) } : {}),
        };
        this.enter('deploy-wait', `deployment ${p.deploymentId}, ${p.iscsiTargetIqn}`);
        if (this.spec.callback === 'never') await abortable(new Promise<never>(() => undefined), signal);
        this.enter('exporting', `${this.spec.disk.file} as ${p.iscsiTargetIqn} lun 1`);
        let firstError = '';
        try {
          exported = true;
          await this.env.tgtd.export(this.tid, p.iscsiTargetIqn, this.spec.disk.file);
        } catch (e) {
          exported = false;
          this.log(`export failed: ${message(e)}`);
          firstError = 'Failed to start iscsi target.';
        }
        const listener = await listenForDone(p.bootAddress, this.settings.donePort);
        doneListener = listener;
        await this.callBack(p, firstError, signal);
        this.enter('waiting-done', `on ${p.bootAddress}:${this.settings.donePort}`);
        this.done = await abortable(listener.received, signal);
        doneListener = undefined;
        this.enter('rebooting', `received ${JSON.stringify(this.done.slice(0, 40))}`);
        if (exported) {
          exported = false;
          await this.env.tgtd.unexport(this.tid).catch(async (e: unknown) => {
            this.log(`target delete failed (${message(e)}): forcing it`);
            await this.env.tgtd.unexport(this.tid, true);
          });
        }
        await this.dropAddress();
      }
    } catch (e) {
      if (!signal.aborted) {
        this.error = message(e);
        this.enter('failed', this.error);
      }
    } finally {
      doneListener?.close();
      if (exported) await this.env.tgtd.unexport(this.tid, true).catch((e: unknown) => this.log(message(e)));
      await this.dropAddress().catch((e: unknown) => this.log(message(e)));
      this.settle(signal);
    }
  }

  private get settings(): Required<Omit<NodeSettings, 'dhcpTimeoutsMs'>> & Pick<NodeSettings, 'dhcpTimeoutsMs'> {
    const s = this.env.settings;
    return {
      dhcpTimeoutsMs: s.dhcpTimeoutsMs,
      tftpPort: s.tftpPort ?? 69,
      tftpBlksize: s.tftpBlksize ?? 1468,
      tftpTimeoutMs: s.tftpTimeoutMs ?? 1000,
      tftpRetries: s.tftpRetries ?? 5,
      callbackPort: s.callbackPort ?? 10000,
      donePort: s.donePort ?? 10000,
      iscsiPort: s.iscsiPort ?? 3260,
      bootOrder: s.bootOrder ?? 'pxe',
    };
  }

  /** The IPMI boot device if one is set (a next-boot-only one is used up), else the boot order. */
  private bootDevice(): 'pxe' | 'disk' {
    const flags = this.machine.getBootFlags();
    if (!flags.valid || flags.device === 'none') return this.settings.bootOrder;
    if (!flags.persistent) this.machine.setBootFlags({ ...flags, valid: false });
    return flags.device === 'disk' ? 'disk' : 'pxe';
  }

  /** One PXE boot: DHCP, TFTP, the default label; the deploy ramdisk's parameters or the instance booted. */
  private async pxeBoot(
    signal: AbortSignal,
  ): Promise<{ kind: 'deploy'; params: DeployParameters } | { kind: 'instance' }> {
    this.boots++;
    this.enter('dhcp', this.boots > 1 ? `boot ${this.boots}` : undefined);
    const identity: PxeIdentity = { mac: this.spec.mac, guid: guidForMac(this.spec.mac) };
    const lease = await this.env.dhcp.exchange(identity, {
      signal,
      ...(this.settings.dhcpTimeoutsMs ? { timeoutsMs: this.settings.dhcpTimeoutsMs } : {}),
      onMessage: (line) => this.log(`dhcp ${line}`),
    });
    await this.takeAddress(lease);
    this.enter('tftp', `${lease.bootFile} from ${lease.nextServer}`);
    await this.fetch(lease, lease.bootFile, signal);
    const config = await this.fetchConfig(lease, signal);
    const label = defaultLabel(parsePxelinuxConfig(config.text));
    this.log(`${config.name}: label ${label.name}`);
    for (const file of labelFiles(label)) await this.fetch(lease, file, signal);
    const cmdline = kernelCommandLine(label, {
      address: lease.address,
      server: lease.nextServer,
      netmask: lease.netmask,
      mac: this.spec.mac,
      ...(lease.gateway ? { gateway: lease.gateway } : {}),
    });
    if (kernelParameter(cmdline, 'deployment_id') !== undefined)
      return { kind: 'deploy', params: deployParameters(cmdline) };
    const wanted = rootUuidOf(cmdline);
    if (!wanted) throw new Error(`label ${label.name} has no root=UUID= (command line: ${cmdline})`);
    await this.bootFromDisk(wanted, 'pxe', signal);
    return { kind: 'instance' };
  }

  /** The instance's kernel mounts root: the disk's root partition, which must carry `wanted` when given. */
  private async bootFromDisk(wanted: string | undefined, from: 'pxe' | 'disk', signal: AbortSignal): Promise<void> {
    const parts = await abortable(probeDisk(this.env.runner, this.spec.disk.file), signal);
    const root = rootPartition(parts);
    const seen = parts.map((p) => `${p.number}:${p.type ?? '?'}${p.label ? `/${p.label}` : ''}`).join(' ') || 'none';
    if (!root) throw new Error(`no root filesystem on ${this.spec.disk.file} (partitions ${seen})`);
    if (wanted && root.uuid !== wanted)
      throw new Error(`root=UUID=${wanted}, but partition ${root.number}'s filesystem is ${root.uuid}`);
    this.instance = { rootUuid: root.uuid!, partition: root.number, from };
    this.enter('booted-instance', `root=UUID=${root.uuid} on partition ${root.number} (${from})`);
  }

  private async takeAddress(lease: DhcpLease): Promise<void> {
    if (this.address && this.address !== lease.address) await this.dropAddress();
    if (this.address === lease.address) return;
    const cidr = `${lease.address}/${prefixLength(lease.netmask)}`;
    const r = await this.env.runner.run('ip', ['addr', 'add', cidr, 'dev', this.env.interface], { timeoutMs: 10_000 });
    if (r.code !== 0 && !/File exists/.test(r.stderr))
      throw new Error(`ip addr add ${cidr} dev ${this.env.interface}: ${r.stderr.trim()}`);
    this.address = lease.address;
    this.addressCidr = cidr;
  }

  private async dropAddress(): Promise<void> {
    const cidr = this.addressCidr;
    if (!cidr) return;
    this.address = this.addressCidr = undefined;
    const r = await this.env.runner.run('ip', ['addr', 'del', cidr, 'dev', this.env.interface], { timeoutMs: 10_000 });
    if (r.code !== 0 && !/Cannot assign/.test(r.stderr))
      throw new Error(`ip addr del ${cidr} dev ${this.env.interface}: ${r.stderr.trim()}`);
  }

  /**
   * One file over TFTP from the node's address; its size checked against tsize (by the client).
   * Only a config is kept (`keep`): a kernel or ramdisk is counted and dropped, as 50 nodes
   * holding theirs would hold gigabytes.
   */
  private async fetch(lease: DhcpLease, name: string, signal: AbortSignal, keep = false): Promise<Buffer> {
    const s = this.settings;
    const before = this.tftpBytes;
    const r = await tftpGet(lease.nextServer, name, {
      discard: !keep,
      port: s.tftpPort,
      localAddress: lease.address,
      blksize: s.tftpBlksize,
      timeoutMs: s.tftpTimeoutMs,
      retries: s.tftpRetries,
      signal,
      onProgress: (bytes) => {
        this.tftpBytes = before + bytes;
        if (this.now() - this.lastProgress >= 250) {
          this.lastProgress = this.now();
          this.emit('progress', this.status());
        }
      },
    });
    this.tftpBytes = before + r.bytes;
    this.files.push({
      name,
      bytes: r.bytes,
      ...(r.tsize !== undefined ? { tsize: r.tsize } : {}),
      ms: r.durationMs,
      boot: this.boots,
    });
    this.log(`tftp ${name}: ${r.bytes} bytes in ${r.durationMs} ms`);
    return r.data;
  }

  /** pxelinux.cfg/01-<mac>, else pxelinux.cfg/default (pxelinux's first and last names). */
  private async fetchConfig(lease: DhcpLease, signal: AbortSignal): Promise<{ name: string; text: string }> {
    const names = [`pxelinux.cfg/${bootif(this.spec.mac)}`, 'pxelinux.cfg/default'];
    const problems: string[] = [];
    for (const name of names) {
      try {
        return { name, text: (await this.fetch(lease, name, signal, true)).toString('utf8') };
      } catch (e) {
        if (signal.aborted) throw e;
        problems.push(message(e));
      }
    }
    throw new Error(`no PXE config: ${problems.join('; ')}`);
  }

  /** The seed's wget --post-data to http://<boot server>:10000, from the node's address. */
  private async callBack(p: DeployParameters, firstError: string, signal: AbortSignal): Promise<void> {
    const port = this.settings.iscsiPort;
    const body =
      `i=${p.deploymentId}&k=${p.deploymentKey}&a=${p.bootAddress}&n=${p.iscsiTargetIqn}` +
      `&e=${seedErrorParameter(firstError)}${port !== 3260 ? `&p=${port}` : ''}`;
    const url = { host: p.bootServer, port: this.settings.callbackPort };
    this.enter('callback', `http://${url.host}:${url.port} from ${p.bootAddress}`);
    try {
      const answer = await postForm(url, body, p.bootAddress, signal);
      this.callback = { status: answer.status, body: answer.body };
      this.log(`callback answered ${answer.status}${answer.body ? `: ${answer.body}` : ''}`);
    } catch (e) {
      if (signal.aborted) throw e;
      this.callback = { error: message(e) };
      this.log(`the callback failed (the seed carries on): ${message(e)}`);
    }
  }
}
