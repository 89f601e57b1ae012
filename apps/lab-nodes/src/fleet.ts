/**
 * A fleet of simulated nodes in one process: one virtual BMC per node, one DHCP client socket
 * (port 68) and one tgtd for all of them, the node addresses added on one interface as DHCP
 * hands them out. Run it in a network namespace of its own whose interface is on the boot network
 * (a veth into the netboot bridge): it adds a 255.255.255.255/32 route on that interface and
 * turns on promote_secondaries there (so that a node dropping its address keeps the others').
 *
 *   const fleet = await Fleet.start(specs, { interface: 'eth0' });
 *   fleet.on('phase', (s: SimNodeStatus) => …);   // also 'progress', 'log'
 *   fleet.status();                               // a snapshot of every node
 *   await fleet.stop();                           // every node off, BMCs, tgtd and sockets closed
 */
import { EventEmitter } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { CommandRunner } from '@bm/exec';
import { ensureDisk } from './disk';
import { DhcpClientPort, type DhcpPortOptions } from './pxe-dhcp';
import { type NodeSettings, SimNode, type SimNodeSpec, type SimNodeStatus } from './sim-node';
import { Tgtd } from '@bm/iscsi';

export interface FleetOptions extends NodeSettings {
  /** The boot network interface (in the fleet's namespace), where node addresses go. */
  interface: string;
  /** Add the broadcast route and promote_secondaries on `interface` (default true). */
  prepareInterface?: boolean;
  /** The DHCP client socket: ports 68/67 and the broadcast address unless told otherwise. */
  dhcp?: DhcpPortOptions;
  /** tgtd's portal (default 0.0.0.0 and `iscsiPort`, 3260). */
  portalAddress?: string;
  runner?: CommandRunner;
  now?: () => number;
}

export class Fleet extends EventEmitter {
  private constructor(
    readonly nodes: readonly SimNode[],
    private readonly dhcp: DhcpClientPort,
    readonly tgtd: Tgtd,
  ) {
    super();
    for (const n of nodes) {
      n.on('phase', (s: SimNodeStatus) => this.emit('phase', s));
      n.on('progress', (s: SimNodeStatus) => this.emit('progress', s));
      n.on('log', (l: { node: string; at: string; line: string }) => this.emit('log', l));
    }
  }

  /** Creates missing disk files, opens the DHCP socket, starts tgtd and every BMC. */
  static async start(specs: SimNodeSpec[], o: FleetOptions): Promise<Fleet> {
    const problems = checkSpecs(specs);
    if (problems.length) throw new Error(`invalid fleet: ${problems.join('; ')}`);
    const runner = o.runner ?? new CommandRunner();
    const prepare = o.prepareInterface ?? true;
    if (prepare) await prepareInterface(runner, o.interface);
    for (const s of specs) await ensureDisk(s.disk.file, s.disk.sizeBytes);
    const dhcp = await DhcpClientPort.open({
      onSendError: prepare ? () => broadcastRoute(runner, o.interface) : undefined,
      ...o.dhcp,
    });
    let tgtd: Tgtd | undefined;
    const started: SimNode[] = [];
    try {
      tgtd = await Tgtd.start({ runner, portalAddress: o.portalAddress, portalPort: o.iscsiPort });
      const env = { dhcp, tgtd, runner, interface: o.interface, settings: o };
      for (const [i, spec] of specs.entries()) {
        const node = new SimNode(spec, i + 1, env, o.now);
        await node.start();
        started.push(node);
      }
      return new Fleet(started, dhcp, tgtd);
    } catch (e) {
      for (const n of started) await n.stop();
      await tgtd?.stop();
      await dhcp.close();
      throw e;
    }
  }

  /** The node with this name or MAC. */
  node(nameOrMac: string): SimNode | undefined {
    const key = nameOrMac.toLowerCase();
    return this.nodes.find((n) => n.name === nameOrMac || n.spec.mac.toLowerCase() === key);
  }

  status(): SimNodeStatus[] {
    return this.nodes.map((n) => n.status());
  }

  /** Every node powered off (what it did aborted, its target and address removed), then tgtd and the DHCP socket. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await this.tgtd.stop();
    await this.dhcp.close();
  }
}

/** Duplicate MACs, names, BMC ports or disk files. */
export function checkSpecs(specs: SimNodeSpec[]): string[] {
  const problems: string[] = [];
  const dup = (what: string, key: (s: SimNodeSpec) => string | undefined) => {
    const seen = new Set<string>();
    for (const s of specs) {
      const k = key(s);
      if (k === undefined) continue;
      if (seen.has(k)) problems.push(`${what} ${k} is given twice`);
      seen.add(k);
    }
  };
  dup('MAC', (s) => s.mac.toLowerCase());
  dup('name', (s) => s.name);
  dup('BMC', (s) => (s.bmc.port ? `${s.bmc.address ?? '127.0.0.1'}:${s.bmc.port}` : undefined));
  dup('disk file', (s) => s.disk.file);
  return problems;
}

/** The limited broadcast routed out of `dev`, and secondary addresses promoted when a primary goes. */
async function prepareInterface(runner: CommandRunner, dev: string): Promise<void> {
  await runner.check('ip', ['link', 'set', dev, 'up'], { timeoutMs: 10_000 });
  await broadcastRoute(runner, dev);
  await promoteSecondaries(dev);
}

/** The limited broadcast out of `dev` (a namespace has no route for it). */
async function broadcastRoute(runner: CommandRunner, dev: string): Promise<void> {
  await runner.check('ip', ['route', 'replace', '255.255.255.255/32', 'dev', dev], { timeoutMs: 10_000 });
}

/** How promoteSecondaries reads and writes /proc/sys (a test gives its own). */
export interface SysctlFiles {
  write(file: string, value: string): Promise<void>;
  read(file: string): Promise<string>;
  warn(line: string): void;
}

const PROC_SYS: SysctlFiles = {
  write: (file, value) => writeFile(file, value),
  read: (file) => readFile(file, 'utf8'),
  warn: (line) => process.stderr.write(`${line}\n`),
};

/**
 * promote_secondaries on `dev`. In a container /proc/sys is read-only: there the setting must come
 * from outside (docker-compose `sysctls:`, for `all` or the interface), and when it did not, the
 * fleet still runs, warned that a node powered off may take other nodes' addresses with it (the
 * first address on the interface is the primary; the kernel drops its secondaries with it unless
 * they are promoted).
 */
export async function promoteSecondaries(dev: string, io: SysctlFiles = PROC_SYS): Promise<'set' | 'already' | 'off'> {
  const conf = '/proc/sys/net/ipv4/conf';
  const file = `${conf}/${dev}/promote_secondaries`;
  try {
    await io.write(file, '1');
    return 'set';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw e;
    // The kernel ORs the interface's setting with `all` (what compose's sysctls sets).
    const on = async (f: string) => (await io.read(f).catch(() => '')).trim() === '1';
    if ((await on(file)) || (await on(`${conf}/all/promote_secondaries`))) return 'already';
    io.warn(
      `lab-nodes: cannot set ${file} (${code}): set net.ipv4.conf.${dev}.promote_secondaries=1 from outside ` +
        '(docker-compose sysctls); until then a node powering off may remove the addresses of nodes that got theirs after it',
    );
    return 'off';
  }
}
