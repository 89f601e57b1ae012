/**
 * bench:deploy: a 1 GiB image, raw and the same as qcow2, written into the root partition of an
 * iSCSI LUN the way the deploy worker writes it, against a plain `qemu-img convert -n` to the same
 * LUN, in the same run.
 *
 *   npm run bench:deploy [-- --mib 1024 --reps 3]
 *
 * Root only; needs tgt, qemu-utils, qemu-system-common (qemu-storage-daemon), qemu-block-extra,
 * fuse3 and fdisk (deploy/apt-packages.txt). 75 s (quiet) to 2 min (loaded) on 2 cores.
 *
 * The target: one real tgtd (test/support/tgt.ts) on 127.0.0.1 with a sparse file-backed LUN of
 * image + 128 MiB, attached with the worker's attacher (chooseAttacher('auto'): here, without
 * kernel iSCSI, the userspace one: qemu-storage-daemon logs in with libiscsi and exports the LUN
 * over FUSE as a regular file) and partitioned by our Partitioner (Havana layout, msdos: root
 * first, at 1 MiB). Every timed write goes to the root partition's byte range of that attached
 * file and ends flushed down to tgtd's backing file:
 *   - raw, ours: ImageWriter.writeRaw from a file stream (4 MiB writes, the sha512 Glance gives as
 *     os_hash_value computed on the fly and checked, one fsync at the end);
 *   - raw, peer: `qemu-img convert -n -t writeback -f raw SRC --target-image-opts driver=raw,
 *     offset=…,size=…,file.driver=file,file.filename=LUN` (the same byte range; `-t writeback`
 *     flushes at the end as our fsync does: qemu-img's own default for convert, `-t unsafe`, never
 *     flushes, and is run once below for comparison);
 *   - qcow2, ours: ImageWriter.writeQcow2 (qemu-img info, then qemu-img convert through the
 *     CommandRunner); qcow2, peer: `qemu-img convert -n -t writeback -f qcow2` to the same range.
 * The sources are made first in a temp dir (a random MiB repeated, each copy stamped with its
 * index: no zeros, nothing sparse, no two MiB alike; the qcow2 by `qemu-img convert -O qcow2`) and
 * stay in the page cache. One untimed write of ours first (it allocates the LUN's blocks in the
 * backing file and warms the JIT), then REPS rounds with the order of ours and the peer alternated
 * per round; the best run of each counts. Then a spot check of the partition against the source,
 * and, once each, the layers underneath: our writer's I/O without the hashing, dd to the FUSE
 * file, qemu-img with its default cache, qemu-img straight to the LUN over libiscsi (no FUSE), dd
 * to tgtd's backing file (the local disk), and sha512 alone.
 * Every run also counts CPU seconds: this process (all threads), its children (qemu-img, dd),
 * qemu-storage-daemon, tgtd, and how busy the machine was (other load included).
 * Peak RSS: this process's RSS sampled every 5 ms during our writes, its RSS before the first one
 * (Node + ts-node + the libs), and getrusage's maxrss over the whole run.
 * MB = 10^6 bytes. Ends with exactly one line
 *   RESULT deploy ours=<raw, ours MB/s> peer=<raw, qemu-img MB/s> ratio=<ours / peer>
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageWriter, Partitioner, partitionLayout } from '@bm/disk';
import { CommandRunner } from '@bm/exec';
import { type AttachedLun, chooseAttacher } from '@bm/iscsi';
import { startTgt, type TgtTarget } from '../../test/support/tgt';
import { ensurePeers } from './peers';

const MIB = 1024 * 1024;
const TIMEOUT_MS = 600_000;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}
const IMAGE_MIB = arg('mib', 1024);
const REPS = arg('reps', 3);
const IMAGE_BYTES = IMAGE_MIB * MIB;
const DISK_MIB = IMAGE_MIB + 128;

const runner = new CommandRunner();
const mbps = (ms: number): number => IMAGE_BYTES / 1e6 / (ms / 1000);
const mb = (bytes: number): string => (bytes / 1e6).toFixed(0);

/** The raw source: a random MiB repeated, each copy stamped with its index. Returns its digests. */
function makeRawSource(path: string): { md5: string; sha512: string } {
  const block = randomBytes(MIB);
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < IMAGE_MIB; i++) {
      block.writeUInt32LE(i, 0);
      block.writeUInt32LE(i, MIB / 2);
      md5.update(block);
      sha512.update(block);
      for (let at = 0; at < MIB;) at += writeSync(fd, block, at, MIB - at);
    }
  } finally {
    closeSync(fd);
  }
  return { md5: md5.digest('hex'), sha512: sha512.digest('hex') };
}

/** This process's peak RSS while `fn` runs (sampled every 5 ms, and before and after). */
async function peakRssDuring(fn: () => Promise<unknown>): Promise<number> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  try {
    await fn();
    return Math.max(peak, process.memoryUsage.rss());
  } finally {
    clearInterval(timer);
  }
}

/** CPU seconds used so far: this process (all threads), its waited-for children, qemu-storage-daemon, tgtd, the machine. */
interface Cpu {
  node: number;
  children: number;
  qsd: number;
  tgtd: number;
  busy: number;
}
interface Run {
  ms: number;
  cpu: Cpu;
}

/** Fields 14-17 of /proc/<pid>/stat (utime, stime, cutime, cstime), in clock ticks. */
function procTimes(pid: number | string): number[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .slice(11, 15)
      .map(Number);
  } catch {
    return [0, 0, 0, 0];
  }
}

/** The pid of the qemu-storage-daemon whose argv names `iqn` (the userspace attacher's), if any. */
function storageDaemonPid(iqn: string): number | undefined {
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (argv.startsWith('qemu-storage-daemon') && argv.includes(iqn)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function cpuNow(tick: number, qsd: number | undefined, tgtd: number | undefined): Cpu {
  const self = process.cpuUsage();
  const [, , cutime, cstime] = procTimes('self');
  const sum = (pid: number | undefined) => (pid ? (procTimes(pid)[0] + procTimes(pid)[1]) / tick : 0);
  // /proc/stat: user nice system idle iowait irq softirq steal
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 9).map(Number);
  return {
    node: (self.user + self.system) / 1e6,
    children: (cutime + cstime) / tick,
    qsd: sum(qsd),
    tgtd: sum(tgtd),
    busy: (all.reduce((a, b) => a + b, 0) - all[3] - all[4]) / tick,
  };
}

/** Sequential 4 MiB writes of `src` into `target` at `offset`, then fsync: our writer's I/O without the hashing. */
async function plainCopy(src: string, target: string, offset: number): Promise<void> {
  const [from, to] = [await open(src, 'r'), await open(target, 'r+')];
  try {
    const buf = Buffer.allocUnsafe(4 * MIB);
    for (let at = 0; ;) {
      const { bytesRead } = await from.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      for (let done = 0; done < bytesRead;) {
        done += (await to.write(buf, done, bytesRead - done, offset + at + done)).bytesWritten;
      }
      at += bytesRead;
    }
    await to.sync();
  } finally {
    await from.close();
    await to.close();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:deploy needs root (tgtd, FUSE)');
  await ensurePeers();
  const dir = await mkdtemp(join(tmpdir(), 'bench-deploy-'));
  let tgt: TgtTarget | undefined;
  let lun: AttachedLun | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await lun?.detach().catch((e: unknown) => console.error(`detach: ${String(e)}`));
      await tgt?.stop().catch((e: unknown) => console.error(`stopping tgtd: ${String(e)}`));
      await rm(dir, { recursive: true, force: true });
    })());
  const onSignal = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // --- the source images ------------------------------------------------------------------------
    const raw = join(dir, 'image.raw');
    const qcow2 = join(dir, 'image.qcow2');
    const digests = makeRawSource(raw);
    await runner.check('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2], { timeoutMs: TIMEOUT_MS });

    // --- the LUN, attached and partitioned as the worker does it ----------------------------------
    tgt = await startTgt({ sizeBytes: DISK_MIB * MIB });
    const attacher = await chooseAttacher('auto', runner);
    lun = await attacher.attach(tgt);
    const target = lun.path;
    const layout = partitionLayout({
      diskMb: DISK_MIB,
      rootMb: IMAGE_MIB + 64,
      swapMb: 1,
      ephemeralMb: 0,
      imageMb: IMAGE_MIB,
      scheme: 'havana',
      table: 'msdos',
    });
    await new Partitioner(runner).apply(layout, target);
    const root = layout.partitions.find((p) => p.role === 'root')!;
    const offset = root.startMb * MIB;
    const size = root.sizeMb * MIB;
    const range = (file: Record<string, string | number>): string =>
      Object.entries({ driver: 'raw', offset, size, ...file })
        .map(([k, v]) => `${k}=${String(v).replace(/,/g, ',,')}`)
        .join(',');
    const toLun = range({ 'file.driver': 'file', 'file.filename': target });
    const toIscsi = range({
      'file.driver': 'iscsi',
      'file.transport': 'tcp',
      'file.portal': `${tgt.address}:${tgt.port}`,
      'file.target': tgt.iqn,
      'file.lun': tgt.lun,
    });

    // --- the writes ---------------------------------------------------------------------------------
    const writer = new ImageWriter(runner);
    const rssBefore = process.memoryUsage.rss();
    const rss = { raw: 0, qcow2: 0 };
    const oursRaw = async (): Promise<void> => {
      const peak = await peakRssDuring(() =>
        writer.writeRaw({
          source: createReadStream(raw),
          target,
          offsetBytes: offset,
          maxBytes: size,
          expected: { size: IMAGE_BYTES, ...digests },
        }),
      );
      rss.raw = Math.max(rss.raw, peak);
    };
    const oursQcow2 = async (): Promise<void> => {
      const peak = await peakRssDuring(() =>
        writer.writeQcow2({ sourcePath: qcow2, target, offsetBytes: offset, sizeBytes: size }),
      );
      rss.qcow2 = Math.max(rss.qcow2, peak);
    };
    const qemuImg = (format: string, src: string, cache: string, to: string) => () =>
      runner.check('qemu-img', ['convert', '-n', '-t', cache, '-f', format, src, '--target-image-opts', to], {
        timeoutMs: TIMEOUT_MS,
      });
    const dd = (of: string) => () =>
      runner.check(
        'dd',
        [`if=${raw}`, `of=${of}`, 'bs=4M', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc,fsync', 'status=none'],
        { timeoutMs: TIMEOUT_MS },
      );

    const tick = Number((await runner.check('getconf', ['CLK_TCK'])).stdout.trim());
    const qsd = storageDaemonPid(tgt.iqn);
    const tgtd = tgt.pid;
    /** Runs `fn`, timing it and counting the CPU seconds each party used meanwhile. */
    const measure = async (fn: () => Promise<unknown>): Promise<Run> => {
      const before = cpuNow(tick, qsd, tgtd);
      const t = process.hrtime.bigint();
      await fn();
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      const after = cpuNow(tick, qsd, tgtd);
      const cpu = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, v - before[k as keyof Cpu]]),
      ) as unknown as Cpu;
      return { ms, cpu };
    };

    console.log(
      `${IMAGE_MIB} MiB image (random, not sparse; qcow2 file ${mb((await stat(qcow2)).size)} MB) -> root partition ` +
        `(at ${root.startMb} MiB, ${root.sizeMb} MiB) of a ${DISK_MIB} MiB tgtd LUN at ${tgt.address}:${tgt.port}`,
    );
    console.log(
      `LUN attached by the ${attacher.kind} attacher` +
        `${attacher.kind === 'userspace' ? ' (qemu-storage-daemon, libiscsi, FUSE export)' : ''} at ${target}: ` +
        `ours and the peer write that same file, every write flushed at its end`,
    );
    console.log(
      `${cpus().length} CPUs, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} at the start; node ${process.version}; ${
        (await runner.check('qemu-img', ['--version'])).stdout.split('\n')[0]
      }`,
    );
    const warm = await measure(oursRaw);
    process.stderr.write(`  warm-up, ours raw (untimed): ${mbps(warm.ms).toFixed(0)} MB/s\n`);

    type Key = 'raw ours' | 'raw peer' | 'qcow2 ours' | 'qcow2 peer';
    const pairs: [Key, () => Promise<unknown>][][] = [
      [
        ['raw ours', oursRaw],
        ['raw peer', qemuImg('raw', raw, 'writeback', toLun)],
      ],
      [
        ['qcow2 ours', oursQcow2],
        ['qcow2 peer', qemuImg('qcow2', qcow2, 'writeback', toLun)],
      ],
    ];
    const runs = new Map<Key, Run[]>();
    for (let r = 0; r < REPS; r++) {
      for (const pair of pairs) {
        for (const [key, fn] of r % 2 === 0 ? pair : [...pair].reverse()) {
          const run = await measure(fn);
          runs.set(key, [...(runs.get(key) ?? []), run]);
          process.stderr.write(
            `  round ${r + 1}: ${key.padEnd(10)} ${(run.ms / 1000).toFixed(2)} s ${mbps(run.ms).toFixed(0)} MB/s\n`,
          );
        }
      }
    }

    // The last write landed where it should: three MiB of the partition against the image.
    const [disk, image] = [await open(target, 'r'), await open(raw, 'r')];
    try {
      for (const at of [0, IMAGE_MIB >> 1, IMAGE_MIB - 1].map((m) => m * MIB)) {
        const [a, b] = [Buffer.alloc(MIB), Buffer.alloc(MIB)];
        await disk.read(a, 0, MIB, offset + at);
        await image.read(b, 0, MIB, at);
        if (!a.equals(b)) throw new Error(`the partition differs from the image at byte ${at}`);
      }
    } finally {
      await disk.close();
      await image.close();
    }

    // --- the layers underneath, once each ---------------------------------------------------------
    const layers: [string, () => Promise<unknown>][] = [
      ['our 4 MiB writes + fsync, no hashing -> FUSE', () => plainCopy(raw, target, offset)],
      ['dd bs=4M conv=fsync -> FUSE', dd(target)],
      ['qemu-img -t unsafe (its default: no flush) -> FUSE', qemuImg('raw', raw, 'unsafe', toLun)],
      ['qemu-img -t writeback -> libiscsi, no FUSE', qemuImg('raw', raw, 'writeback', toIscsi)],
      ["dd bs=4M conv=fsync -> tgtd's backing file", dd(tgt.backingFile)],
      [
        'sha512 of the image file (what writeRaw checks), no write',
        async () => {
          const sha512 = createHash('sha512');
          for await (const c of createReadStream(raw) as AsyncIterable<Buffer>) sha512.update(c);
          if (sha512.digest('hex') !== digests.sha512) throw new Error('digests');
        },
      ],
    ];
    const below: [string, Run][] = [];
    for (const [name, fn] of layers) below.push([name, await measure(fn)]);

    // --- report -------------------------------------------------------------------------------------
    const bestOf = (xs: Run[]): Run => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const best = (k: Key): Run => bestOf(runs.get(k)!);
    const cols = (xs: (string | number)[], widths: number[]): string =>
      xs.map((x, i) => (i === 0 ? String(x).padEnd(widths[i]) : String(x).padStart(widths[i]))).join(' ');
    const W = [53, 17, 6, 5, 5, 5, 5, 5, 5, 8];
    const row = (name: string, xs: Run[]): string => {
      const b = bestOf(xs);
      const c = b.cpu;
      return cols(
        [
          name,
          xs.map((x) => (x.ms / 1000).toFixed(2)).join(' '),
          (b.ms / 1000).toFixed(2),
          mbps(b.ms).toFixed(0),
          c.node.toFixed(1),
          c.children.toFixed(1),
          qsd ? c.qsd.toFixed(1) : '-',
          c.tgtd.toFixed(1),
          (c.node + c.children + c.qsd + c.tgtd).toFixed(1),
          `${((100 * c.busy) / ((cpus().length * b.ms) / 1000)).toFixed(0)}%`,
        ],
        W,
      );
    };
    console.log(
      cols(
        [
          `${IMAGE_MIB} MiB written (best of ${REPS}, order alternated)`,
          'runs s',
          'best s',
          'MB/s',
          'node',
          'child',
          'qsd',
          'tgtd',
          'sum',
          'machine',
        ],
        W,
      ),
    );
    console.log(row('raw    ours  ImageWriter.writeRaw (sha512, fsync)', runs.get('raw ours')!));
    console.log(row('raw    peer  qemu-img convert -n -t writeback -f raw', runs.get('raw peer')!));
    console.log(row('qcow2  ours  ImageWriter.writeQcow2', runs.get('qcow2 ours')!));
    console.log(row('qcow2  peer  qemu-img convert -n -t writeback -f qcow2', runs.get('qcow2 peer')!));
    console.log('the layers underneath (the raw image, same partition range, once each):');
    for (const [name, run] of below) console.log(row(`  ${name}`, [run]));
    console.log(
      'CPU seconds of the best run: node = this process (all threads), child = qemu-img/dd, qsd = qemu-storage-daemon;' +
        ` machine = busy share of all ${cpus().length} CPUs meanwhile (other load included)`,
    );

    const r = { ours: mbps(best('raw ours').ms), peer: mbps(best('raw peer').ms) };
    const q = { ours: mbps(best('qcow2 ours').ms), peer: mbps(best('qcow2 peer').ms) };
    const hashMs = below[below.length - 1][1].ms;
    const noHashMs = below[0][1].ms;
    // The CPU bound: this machine plays the deploy host, the initiator (qsd) and the node's target
    // (tgtd) at once; all their CPU seconds share its CPUs. On a deploy host, tgtd runs on the node.
    const c = best('raw ours').cpu;
    const cpuBoundMs = ((c.node + c.children + c.qsd + c.tgtd) * 1000) / cpus().length;
    const cpuBoundNoTgtdMs = ((c.node + c.children + c.qsd) * 1000) / cpus().length;
    console.log(
      `ceilings: sha512 alone takes ${(hashMs / 1000).toFixed(2)} s, the peer's whole copy ${(best('raw peer').ms / 1000).toFixed(2)} s; ` +
        `our writes without the hashing: ${(best('raw peer').ms / noHashMs).toFixed(2)}x; ` +
        `the CPU seconds of our best run spread perfectly over ${cpus().length} CPUs: ${(best('raw peer').ms / cpuBoundMs).toFixed(2)}x ` +
        `(${(best('raw peer').ms / cpuBoundNoTgtdMs).toFixed(2)}x without tgtd's, which a real node runs itself)`,
    );
    const maxRss = process.resourceUsage().maxRSS * 1024;
    const verdict = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');
    console.log(
      `qcow2: ours=${q.ours.toFixed(0)} peer=${q.peer.toFixed(0)} ratio=${(q.ours / q.peer).toFixed(2)} (MB/s of the virtual size)`,
    );
    console.log(
      `peak RSS of this process: ${mb(rss.raw)} MB during our raw writes, ${mb(rss.qcow2)} MB during our qcow2 writes ` +
        `(the conversion runs in the qemu-img child); ${mb(rssBefore)} MB before the first write; ` +
        `getrusage maxrss of the whole run ${mb(maxRss)} MB`,
    );
    console.log(
      `goals: raw >= 0.9x the plain copy: ${verdict(r.ours / r.peer >= 0.9)} (${(r.ours / r.peer).toFixed(2)}x); ` +
        `qcow2: ${verdict(q.ours / q.peer >= 0.9)} (${(q.ours / q.peer).toFixed(2)}x); ` +
        `RSS < 256 MB: ${verdict(maxRss < 256e6)} (${mb(maxRss)} MB)`,
    );
    console.log(
      `RESULT deploy ours=${r.ours.toFixed(0)} peer=${r.peer.toFixed(0)} ratio=${(r.ours / r.peer).toFixed(2)}`,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
