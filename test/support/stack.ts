import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { type LabNodesProcess, startLabNodes } from '../../apps/lab-nodes/test/lab-nodes-process';
import { TEST_AMQP_URL, privateVhost, uniqueName } from './amqp';
import { type BmctlRun, bmctl, requireBuilt } from './bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from './database';
import { type ImagesService, startImages } from './images';
import { Netns, testNamespaces } from './netns';
import { type ServiceProcess, type ServiceSite, serviceEnv, siteEnv, startService } from './service';

// The whole deploy stack of the e2e tests, from the built apps on the real broker and database:
// simulated nodes (apps/lab-nodes: a virtual BMC each, whose machine PXE-boots from netboot, plays
// the seed's deploy ramdisk with its disk file exported by the fleet's tgtd, then PXE-boots the
// instance), the power service, netboot, the deploy helper, compute, the images service, and the
// scheduler if asked. Taken from apps/lab-nodes/test/fleet.e2e.spec.ts's set-up.
//
// Networking: namespace `srv` holds the boot network (bridge br0 <subnet>.1/24) with netboot and
// the deploy helper; namespace `nodes` is the fleet, its eth0 a veth into br0, the node addresses
// added there as DHCP gives them out. The BMCs listen on the fleet's 127.0.0.1, so the power
// service runs in the fleet's namespace. The database, the broker and the images service are
// relayed into the namespaces. Nothing touches the host's interfaces.

const run = promisify(execFile);
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** One simulated node of the stack. */
export interface StackNode {
  name: string;
  mac: string;
  memory: number;
  /** `never`: its deploy ramdisk never calls back. Default `always`. */
  callback?: 'always' | 'never';
}

export interface StackOptions {
  /** A short word for the stack's namespaces, database, vhost, exchange and temporary directory. */
  name: string;
  /** BM_HOST of every service, the compute host the nodes are enrolled on. */
  host: string;
  nodes: StackNode[];
  /** The boot network's first three octets (`10.84.0`): the server is .1, DHCP gives .50 to .99. */
  subnet: string;
  bmcPassword: string;
  /** Seconds compute waits for a ramdisk's callback, and then for the deploy (default 60). */
  deployTimeoutS?: number;
  /** More environment for compute. */
  computeEnv?: Record<string, string>;
  /** Deploy workers of the deploy helper (default 2). */
  deployWorkers?: number;
  /** Start the scheduler too (default false). */
  scheduler?: boolean;
  /**
   * A vhost of the caller's to run on (e.g. one a Nova conductor already serves), which the stack
   * uses and leaves for the caller to drop. Default: a private vhost of the stack's own.
   */
  vhost?: { name: string; transportUrl: string };
  /** The services' control exchange (default: a unique name). */
  exchange?: string;
}

/** A node's row as the tests read it. */
export interface NodeRow {
  id: number;
  task_state: string | null;
  instance_uuid: string | null;
  image_path: string | null;
  deploy_key: string | null;
}

/** One event of a node's timeline (`bmctl node timeline --json`). */
export interface TimelineEntry {
  at: string;
  source: string;
  kind: string;
  detail: string;
  instance_uuid?: string | null;
}

/** The boot files of a stack, uploaded: ids by role, and each file's bytes. */
export interface StackImages {
  deployKernel: string;
  deployRamdisk: string;
  kernel: string;
  ramdisk: string;
  /** Instance images by name, each an ext4 filesystem holding `/marker`. */
  images: Record<string, string>;
  files: Record<string, Buffer>;
}

/** A running stack; `stop()` takes all of it down and checks nothing was left behind. */
export interface Stack {
  readonly options: StackOptions;
  readonly work: string;
  readonly db: NovaBmDatabase;
  readonly ds: DataSource;
  readonly site: ServiceSite;
  /** The stack's own vhost on the test broker (credentials included). */
  readonly transportUrl: string;
  /** That vhost's name. */
  readonly vhost: string;
  readonly images: ImagesService;
  readonly fleet: LabNodesProcess;
  /** bmctl's environment: the site, the images service, the vhost. */
  readonly env: Record<string, string>;
  readonly services: [string, ServiceProcess][];
  /**
   * SIGKILLs `app` (as a crash would) and starts it again with the same environment, resolving
   * once it serves again: for fault tests.
   */
  crashAndRestart(app: string, downMs?: number): Promise<void>;
  /** The processes crashAndRestart killed, with what they said before. */
  readonly crashed: [string, ServiceProcess][];
  /** bm_nodes id of each node, by name. */
  readonly nodeIds: Record<string, number>;
  /** Node uuid of each node, by name. */
  readonly nodeUuids: Record<string, string>;
  readonly serverIp: string;
  readonly tftpRoot: string;
  /** Compute's `[DEFAULT] instances_path` (BM_INSTANCES_PATH), in the stack's directory. */
  readonly instancesPath: string;
  cli(...args: string[]): Promise<BmctlRun>;
  diskFile(n: StackNode): string;
  rowOf(n: StackNode): Promise<NodeRow>;
  timeline(n: StackNode): Promise<TimelineEntry[]>;
  lastPhase(n: StackNode): ReturnType<LabNodesProcess['phases']>[number] | undefined;
  /** What every process said (the last lines), and the nodes' logs: for a failed step's message. */
  logs(...nodes: StackNode[]): string;
  /** The four boot files and instance images (one per `markers` entry: name → marker text), uploaded. */
  uploadImages(markers: Record<string, string>): Promise<StackImages>;
  /** `bmctl flavor create` of a flavor for `n`'s shape, naming the deploy pair; returns it as `flavor list` does. */
  createFlavor(name: string, n: StackNode, images: StackImages): Promise<Record<string, unknown>>;
  /** The marker an instance image left at the root of the node's disk (Icehouse layout: root is partition 3). */
  diskMarker(n: StackNode): Promise<string>;
  /**
   * GET `path` (`/metrics`, `/healthz/ready`) of `app`'s health port, from inside the namespace
   * the service runs in (its 127.0.0.1); the body, or a rejection on a failed request.
   */
  healthGet(app: string, path: string): Promise<string>;
  stop(): Promise<void>;
}

/** Every process below `pid` (children, their children, …). */
async function descendants(pid: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-e', '-o', 'pid=,ppid=']);
  const children = new Map<number, number[]>();
  for (const line of stdout.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const tail = (text: string, lines = 30) => text.split('\n').slice(-lines).join('\n');

/**
 * Starts the stack: its database (nova_bm schema), its vhost, the images service, the two
 * namespaces, the fleet (3 GiB sparse disks), the nodes enrolled with `bmctl node import`
 * (local_gb 2, 1 CPU), pxelinux.0 in tftp_root, then power, netboot, the deploy helper and
 * compute (and the scheduler), each once it serves RPC; resolves when compute has reported
 * every node. On a failure what was started is stopped again.
 */
export async function startStack(o: StackOptions): Promise<Stack> {
  for (const app of ['lab-nodes', 'power', 'netboot', 'deploy-helper', 'compute', 'images', 'cli']) requireBuilt(app);
  if (o.scheduler) requireBuilt('scheduler');
  const serverIp = `${o.subnet}.1`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const services: [string, ServiceProcess][] = [];
  const nodeIds: Record<string, number> = {};
  const nodeUuids: Record<string, string> = {};
  let fleet: LabNodesProcess | undefined;
  let tgtdControlPort: number | undefined;
  const names: string[] = [];

  const stopAll = async () => {
    const code = await fleet?.stop();
    for (const [, s] of services.reverse()) await s.stop();
    for (const c of cleanups.reverse()) await c();
    return code;
  };

  try {
    const work = await mkdtemp(join(tmpdir(), `bm-${o.name}-`));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const db = await createNovaBmDatabase(`bm_${o.name}`);
    cleanups.push(() => db.drop());
    let vhost = o.vhost;
    if (!vhost) {
      const own = await privateVhost(o.name);
      cleanups.push(() => own.drop());
      vhost = own;
    }
    const site: ServiceSite = { databaseUrl: db.url, exchange: o.exchange ?? uniqueName(o.name), host: o.host };
    const images = await startImages(site, join(work, 'images'));
    cleanups.push(() => images.stop());
    const transport = { TRANSPORT_URL: vhost.transportUrl };
    const env = { ...siteEnv(site), ...images.env, ...transport };
    const cli = (...args: string[]) => bmctl(args, env);

    // The boot network and the fleet on it.
    const srv = Netns.create(`${o.name}-srv`);
    cleanups.push(() => srv.destroy());
    const fleetNs = Netns.create(`${o.name}-nodes`);
    cleanups.push(() => fleetNs.destroy());
    names.push(srv.name, fleetNs.name);
    srv.ip('link', 'add', 'br0', 'type', 'bridge');
    srv.addAddress('br0', `${serverIp}/24`, true);
    srv.veth('vnodes', fleetNs, 'eth0');
    srv.ip('link', 'set', 'vnodes', 'master', 'br0');
    srv.ip('link', 'set', 'vnodes', 'up');
    const ports = [Number(new URL(db.url).port || 5432), Number(new URL(TEST_AMQP_URL).port || 5672)];
    for (const port of ports) {
      await srv.forwardHostPort(port);
      await fleetNs.forwardHostPort(port);
    }
    await srv.forwardHostPort(images.port);

    // The fleet: the BMCs on free ports of the fleet's 127.0.0.1, 3 GiB sparse disks.
    await mkdir(join(work, 'disks'));
    await writeFile(join(work, 'bmc-password'), `${o.bmcPassword}\n`, { mode: 0o600 });
    await writeFile(
      join(work, 'nodes.csv'),
      'name,mac,bmc_port,bmc_password_file,disk_file,disk_size,callback\n' +
        o.nodes
          .map((n) => `${n.name},${n.mac},0,bmc-password,disks/${n.name}.img,3G,${n.callback ?? 'always'}`)
          .join('\n') +
        '\n',
    );
    fleet = startLabNodes(fleetNs, [
      '--nodes',
      join(work, 'nodes.csv'),
      '--interface',
      'eth0',
      '--status-file',
      join(work, 'status.json'),
      '--status-interval',
      '200',
    ]);
    const ready = await fleet.ready;
    tgtdControlPort = ready.tgtd.controlPort;
    if (ready.nodes.map((n) => n.mac).join() !== o.nodes.map((n) => n.mac).join())
      throw new Error(`lab-nodes made other nodes than asked: ${JSON.stringify(ready.nodes)}`);

    // Enrolled the operator's way: local_gb 2, 1 CPU, each node its own memory size.
    await writeFile(
      join(work, 'baremetal.csv'),
      'mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port\n' +
        o.nodes
          .map((n, i) => `${n.mac},admin,${o.bmcPassword},${ready.nodes[i].bmc},1,${n.memory},2,x86_64,,`)
          .join('\n') +
        '\n',
    );
    const imported = await cli('node', 'import', join(work, 'baremetal.csv'));
    if (imported.code !== 0) throw new Error(`bmctl node import: ${imported.err}`);
    for (const row of (await db.ds.query(
      `SELECT n.id, n.uuid, i.address FROM bm_nodes n JOIN bm_interfaces i ON i.bm_node_id = n.id
        WHERE n.deleted = false`,
    )) as { id: number; uuid: string; address: string }[]) {
      const n = o.nodes.find((m) => m.mac === row.address)!;
      nodeIds[n.name] = row.id;
      nodeUuids[n.name] = row.uuid;
    }

    // pxelinux.0 as an operator installs it in tftp_root (any bytes do: the node checks its size).
    const tftpRoot = join(work, 'tftpboot');
    await mkdir(tftpRoot, { recursive: true });
    const files: Record<string, Buffer> = { 'pxelinux.0': randomBytes(42_137) };
    await writeFile(join(tftpRoot, 'pxelinux.0'), files['pxelinux.0']);

    const started = new Map<string, { env: Record<string, string>; ns?: Netns; ready: string }>();
    const svc = async (app: string, extra: Record<string, string>, ns?: Netns, ready = 'rpc=') => {
      const env = await serviceEnv(site, { ...images.env, ...transport, ...extra });
      started.set(app, { env, ns, ready });
      const p = startService(app, env, ns);
      services.push([app, p]);
      await p.waitFor(ready, 30_000);
    };
    const crashed: [string, ServiceProcess][] = [];
    const crashAndRestart = async (app: string, downMs = 1000) => {
      const at = services.findIndex(([name]) => name === app);
      const how = started.get(app);
      if (at < 0 || !how) throw new Error(`${app} is not a service of this stack`);
      const old = services[at][1];
      crashed.push([app, old]);
      // As a supervisor kills a service (systemd's control group, a container): with everything it
      // started. A deploy worker's qemu-storage-daemon left alive can hold the killed worker in an
      // unfinished FUSE write (uninterruptible) for ever.
      const tree = await descendants(old.child.pid!);
      old.child.kill('SIGKILL');
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      const gone = await Promise.race([
        old.exited.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 30_000)),
      ]);
      if (!gone) throw new Error(`${app} (pid ${old.child.pid}) did not die within 30 s of SIGKILL`);
      await new Promise((r) => setTimeout(r, downMs));
      const p = startService(app, how.env, how.ns);
      services[at] = [app, p];
      await p.waitFor(how.ready, 60_000);
    };
    await svc('power', {}, fleetNs);
    await svc(
      'netboot',
      {
        BM_MY_IP: serverIp,
        BM_PXE_INTERFACE: 'br0',
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: `${o.subnet}.50,${o.subnet}.99`,
        BM_TFTP_ENABLED: 'true',
        BM_TFTP_ROOT: tftpRoot,
      },
      srv,
    );
    await svc(
      'deploy-helper',
      { BM_ISCSI_ATTACHER: 'userspace', BM_MY_IP: serverIp, BM_DEPLOY_WORKERS: String(o.deployWorkers ?? 2) },
      srv,
      'consuming',
    );
    const instancesPath = join(work, 'instances');
    await svc('compute', {
      BM_PXE_DEPLOY_TIMEOUT: String(o.deployTimeoutS ?? 60),
      BM_INSTANCES_PATH: instancesPath,
      ...o.computeEnv,
    });
    const until = Date.now() + 20_000;
    for (;;) {
      const [{ n }] = (await db.ds.query('SELECT count(*)::int AS n FROM compute_nodes WHERE deleted = false')) as {
        n: number;
      }[];
      if (n === o.nodes.length) break;
      if (Date.now() > until) throw new Error(`compute reported ${n} of ${o.nodes.length} nodes`);
      await new Promise((r) => setTimeout(r, 200));
    }
    if (o.scheduler) await svc('scheduler', {});

    const diskFile = (n: StackNode) => join(work, 'disks', `${n.name}.img`);
    const running = fleet;
    const stack: Stack = {
      options: o,
      work,
      db,
      ds: db.ds,
      site,
      transportUrl: vhost.transportUrl,
      vhost: vhost.name,
      images,
      fleet: running,
      env,
      services,
      crashAndRestart,
      crashed,
      nodeIds,
      nodeUuids,
      serverIp,
      tftpRoot,
      instancesPath,
      cli,
      diskFile,
      rowOf: async (n) =>
        (
          (await db.ds.query(
            'SELECT id, task_state, instance_uuid, image_path, deploy_key FROM bm_nodes WHERE id = $1',
            [nodeIds[n.name]],
          )) as NodeRow[]
        )[0],
      timeline: async (n) =>
        JSON.parse((await cli('node', 'timeline', String(nodeIds[n.name]), '--json')).out) as TimelineEntry[],
      lastPhase: (n) => running.phases(n.name).at(-1),
      logs: (...nodes) =>
        [
          ...services.map(([name, p]) => `--- ${name}\n${tail(p.output())}`),
          `--- lab-nodes\n${tail(running.other())}`,
          ...nodes.map((n) => `--- ${n.name}\n${tail(running.log(n.name))}`),
        ]
          .join('\n')
          .replace(ANSI_COLOUR, ''),
      healthGet: async (app, path) => {
        const how = started.get(app);
        if (!how) throw new Error(`${app} is not a service of this stack`);
        const url = `http://127.0.0.1:${how.env.BM_HEALTH_PORT}${path}`;
        const curl = ['curl', '-sS', '--fail', '--max-time', '10', url];
        const { stdout } = how.ns
          ? await run('ip', ['netns', 'exec', how.ns.name, ...curl])
          : await run(curl[0], curl.slice(1));
        return stdout;
      },
      uploadImages: async (markers) => {
        const dir = join(work, 'files');
        const create = async (name: string, disk: string, container: string, file: string, ...more: string[]) => {
          const made = await cli(
            'image',
            'create',
            name,
            '--disk-format',
            disk,
            '--container-format',
            container,
            '--file',
            file,
            ...more,
            '--json',
          );
          if (made.code !== 0) throw new Error(`bmctl image create ${name}: ${made.err}`);
          return (JSON.parse(made.out) as { id: string }).id;
        };
        await mkdir(dir, { recursive: true });
        // Big enough for many TFTP blocks.
        for (const [f, size] of [
          ['deploy-kernel', 300_011],
          ['deploy-ramdisk', 1_200_007],
          ['kernel', 200_003],
          ['ramdisk', 400_009],
        ] as const) {
          files[f] = randomBytes(size);
          await writeFile(join(dir, f), files[f]);
        }
        const ids = {
          deployKernel: await create(`${o.name}-deploy-kernel`, 'aki', 'aki', join(dir, 'deploy-kernel')),
          deployRamdisk: await create(`${o.name}-deploy-ramdisk`, 'ari', 'ari', join(dir, 'deploy-ramdisk')),
          kernel: await create(`${o.name}-kernel`, 'aki', 'aki', join(dir, 'kernel')),
          ramdisk: await create(`${o.name}-ramdisk`, 'ari', 'ari', join(dir, 'ramdisk')),
        };
        const props = ['--property', `kernel_id=${ids.kernel}`, '--property', `ramdisk_id=${ids.ramdisk}`];
        const made: Record<string, string> = {};
        for (const [name, marker] of Object.entries(markers)) {
          const root = join(dir, `root-${name}`);
          await mkdir(root, { recursive: true });
          await writeFile(join(root, 'marker'), marker);
          const img = join(dir, `${name}.img`);
          await run('mkfs.ext4', ['-q', '-F', '-d', root, '-L', 'root', img, '24M']);
          made[name] = await create(name, 'raw', 'bare', img, ...props);
        }
        return { ...ids, images: made, files };
      },
      createFlavor: async (name, n, images) => {
        const flavor = await cli(
          'flavor',
          'create',
          name,
          '--vcpus',
          '1',
          '--ram',
          String(n.memory),
          '--disk',
          '1',
          '--ephemeral',
          '1',
          '--extra-spec',
          'cpu_arch=x86_64',
          '--extra-spec',
          `baremetal:deploy_kernel_id=${images.deployKernel}`,
          '--extra-spec',
          `baremetal:deploy_ramdisk_id=${images.deployRamdisk}`,
        );
        if (flavor.code !== 0) throw new Error(`bmctl flavor create ${name}: ${flavor.err}`);
        return JSON.parse((await cli('flavor', 'show', name, '--json')).out) as Record<string, unknown>;
      },
      diskMarker: async (n) => {
        const table = JSON.parse((await run('sfdisk', ['-J', diskFile(n)])).stdout) as {
          partitiontable: { partitions: Array<{ start: number; size: number }> };
        };
        const at = table.partitiontable.partitions[2].start * 512;
        return (await run('debugfs', ['-R', 'cat /marker', `${diskFile(n)}?offset=${at}`])).stdout;
      },
      stop: async () => {
        const code = await stopAll();
        const left = testNamespaces().filter((n) => names.includes(n));
        if (left.length) throw new Error(`namespaces left behind: ${left.join(', ')}`);
        if (code !== 0) throw new Error(`lab-nodes exited ${code}`);
        // tgtd's control socket files (shared by every namespace) went with it.
        for (const f of ['', '.lock'])
          if (tgtdControlPort && existsSync(`/var/run/tgtd/socket.${tgtdControlPort}${f}`))
            throw new Error(`tgtd's control socket ${tgtdControlPort}${f} is left behind`);
      },
    };
    return stack;
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
}
