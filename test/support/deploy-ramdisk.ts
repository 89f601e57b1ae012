import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner } from '@bm/exec';
import { freeTcpPort } from './ports';

/**
 * The seed's deploy ramdisk, played by real programs: a busybox `sh` script that does what
 * diskimage-builder's `deploy` element does after the node has its address (reference
 * nova-baremetal.md §3.3, steps 4–7; elements/deploy/init and scripts/d/init-func):
 *
 *   start_iscsi_target  tgtd; tgtadm target new --tid 1 --targetname iqn-<instance uuid>;
 *                       logicalunit new --tid 1 --lun 1 --backing-store <disk>;
 *                       target bind --tid 1 --initiator-address ALL            (no auth)
 *   callback            wget --post-data "i=<id>&k=<key>&a=<own address>&n=<iqn>&e=<first error>"
 *                       <callbackUrl>                        (the seed: http://<BOOT_SERVER>:10000)
 *   wait                nc -l -p 10000                       (anything a connection delivers)
 *   stop_iscsi_target   logicalunit delete, target delete, killall tgtd; then `reboot -f`
 *                       (here `tgtadm --mode system --op delete`: this tgtd (tgt 1.0.85) ignores
 *                       SIGTERM even with no targets, so `killall tgtd` would not stop it)
 *
 * Differences, all forced by running on a test machine rather than a node:
 * - The node's disk is a (sparse) file; "reboot" is `exit`, after the script reports what nc got.
 * - tgtd gets its own control port (`-C`, random): its control socket is the *file*
 *   /var/run/tgtd/socket.<port> (+ `.lock`), shared by every network namespace, so a fixed one
 *   would collide with a system tgtd or another test. `-f` keeps tgtd in the foreground (in the
 *   script's process group, so stop() can kill it); the script waits until tgtd holds the port's
 *   lock (/proc/locks) and tgtadm gets an answer, where the seed's daemonizing tgtd returns once
 *   ready. (tgtadm alone is not enough: a tgtd that finds the port taken answers nothing and
 *   exits, but meanwhile tgtadm reaches the tgtd that has it.) Both files are left behind by a
 *   stopped tgtd: cleanup removes ours.
 * - tgtd listens on `<address>:<port>` only, not on every address.
 * - The seed ignores failures of tgtadm and wget and carries on (the helper learns of a failed
 *   export from `e=` or from its login failing): so does the script. tgtd failing to start at all
 *   is the harness's problem (the control port was taken): startScriptedRamdisk retries.
 * - `e` is the first error through the seed's "URL-safe" filter: the characters of the bracket
 *   `[a-zA-Z0-9.-_]` kept (`.-_` is a range: `/ : ; = ? @ [ ] ^` too), spaces to `+`, the rest
 *   (`&`, `%`, `+`, …) dropped.
 * - Outside a network namespace the iSCSI port and nc's port are free ports (the seed's 3260 and
 *   10000 are likely taken); the helper must then be told both: the callback gains `p=<port>`
 *   (an optional field the helper reads, default 3260), and `donePort` is for the helper's
 *   DeployNodeSettings.donePort. busybox nc cannot bind one address: it listens on all of them.
 *
 * Root only (tgtd; `ip netns exec`).
 */
export interface ScriptedRamdiskOptions {
  /** Run inside this network namespace (`ip netns exec <netns>`). */
  netns?: string;
  /** The ramdisk's address: what it sends as `a=`, where tgtd listens (nc listens on every address). */
  address: string;
  /** Where the callback goes (the seed: `http://<BOOT_SERVER>:10000`). */
  callbackUrl: string;
  nodeId: number;
  deployKey: string;
  instanceUuid: string;
  /** The node's disk: a (sparse) file the caller made, exported as LUN 1. Not removed. */
  diskFile: string;
  /** The first error the ramdisk met (the seed's err_msg), sent as `e=` after the URL-safe filter. */
  firstError?: string;
  /** iSCSI port (default: 3260 inside a namespace, else a free port). */
  port?: number;
  /** Where nc waits for `done` (default: 10000 inside a namespace, else a free port). */
  donePort?: number;
}

export interface ScriptedRamdiskResult {
  /** Everything nc printed: what the connection delivered (`done` from the helper). */
  received: string;
  /** The script's exit status: 0 = the target was deleted and tgtd stopped; -1 = killed (see signal). */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** The script's output, then tgtd's. */
  log: string;
}

export interface ScriptedRamdisk {
  /** `iqn-<instance uuid>`, LUN 1. */
  iqn: string;
  address: string;
  /** The iSCSI portal's port. */
  port: number;
  /** Where nc listens for `done`. */
  donePort: number;
  /** tgtd's control port (`tgtadm -C <it>`; works from any namespace). */
  controlPort: number;
  /** The script's pid, which is also its process group (tgtd, wget and nc are in it). */
  pid: number;
  /** Its temp dir (the script, tgtd's log, nc's output); removed once the script has exited. */
  workDir: string;
  /** Resolves (never rejects) once the script has exited; stop() makes it exit. */
  done: Promise<ScriptedRamdiskResult>;
  /** The script's output so far. */
  log(): string;
  /** `tgtadm --mode target --op show` against this tgtd, or undefined when tgtd does not answer. */
  showTargets(): Promise<string | undefined>;
  /** Kills the script and everything it started (SIGKILL), removes its temp files. Idempotent. */
  stop(): Promise<void>;
}

/** Printed by the script just before the callback: the target is exported (or its export failed). */
const CALLING_BACK = 'request boot server to deploy image';
/** Printed once our tgtd owns its control port: its socket files are ours to remove afterwards. */
const TGTD_READY = 'tgtd ready on control port';
/** The script's exit status when tgtd did not start (control port or portal taken): try others. */
const TGTD_FAILED = 3;

/** The script; everything it needs comes in its environment (the seed's kernel command line). */
const SCRIPT = String.raw`# The seed's deploy ramdisk (diskimage-builder "deploy" element), played: see deploy-ramdisk.ts.
say() { echo "ramdisk: $*"; }
tgt() { tgtadm -C "$TGT_CONTROL_PORT" --lld iscsi "$@" 2>&1; }
err_msg() {
  say "$1"
  [ -n "$FIRST_ERR_MSG" ] || FIRST_ERR_MSG="$1"
}

# start_iscsi_target "$ISCSI_TARGET_IQN" "$target_disk" ALL
say "start iSCSI target on $TARGET_DISK"
tgtd -f -C "$TGT_CONTROL_PORT" --iscsi "portal=$BOOT_IP_ADDRESS:$ISCSI_PORT" >>"$WORK/tgtd.log" 2>&1 &
TGTD_PID=$!
# Ready once it answers and holds its control port's lock: until then tgtadm may be answered by
# another tgtd that has the port (this one then exits with "another tgtd is using …").
lock="/var/run/tgtd/socket.$TGT_CONTROL_PORT.lock"
holds_lock() {
  ino=$(busybox stat -c %i "$lock" 2>/dev/null) || return 1
  busybox awk -v pid="$TGTD_PID" -v ino=":$ino" '$5 == pid && substr($6, length($6) - length(ino) + 1) == ino { found = 1 } END { exit !found }' /proc/locks
}
t=0
until holds_lock && tgtadm -C "$TGT_CONTROL_PORT" --mode sys --op show >/dev/null 2>&1; do
  if ! kill -0 "$TGTD_PID" 2>/dev/null; then say "tgtd exited"; exit ${TGTD_FAILED}; fi
  t=$((t + 1))
  if [ "$t" -gt 200 ]; then say "tgtd did not answer in 10 s"; kill -9 "$TGTD_PID"; exit ${TGTD_FAILED}; fi
  busybox sleep 0.05
done
if busybox grep -q "Address already in use" "$WORK/tgtd.log"; then
  say "tgtd cannot listen on $BOOT_IP_ADDRESS:$ISCSI_PORT"; kill -9 "$TGTD_PID"; exit ${TGTD_FAILED}
fi
say "${TGTD_READY} $TGT_CONTROL_PORT"
tgt --mode target --op new --tid 1 --targetname "$ISCSI_TARGET_IQN" &&
  tgt --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TARGET_DISK" &&
  tgt --mode target --op bind --tid 1 --initiator-address ALL
if [ $? -ne 0 ]; then err_msg "Failed to start iscsi target."; else say "target $ISCSI_TARGET_IQN lun 1 exported"; fi

echo "ramdisk: ${CALLING_BACK}"
e=$(printf '%s' "$FIRST_ERR_MSG" | busybox tr -dc 'a-zA-Z0-9.-_ ' | busybox tr ' ' '+')
d="i=$DEPLOYMENT_ID&k=$DEPLOYMENT_KEY&a=$BOOT_IP_ADDRESS&n=$ISCSI_TARGET_IQN&e=$e"
if [ "$ISCSI_PORT" != 3260 ]; then d="$d&p=$ISCSI_PORT"; fi
# -O /dev/null: busybox wget saves the (empty) answer as ./index.html otherwise.
busybox wget -O /dev/null --post-data "$d" "$CALLBACK_URL" 2>&1 || say "the callback failed (the seed carries on)"

say "waiting for notice of complete"
busybox nc -l -p "$DONE_PORT" </dev/null >"$WORK/received" 2>&1
say "received: $(busybox cat "$WORK/received")"

# stop_iscsi_target, then "reboot -f"
say "stop iSCSI target on $TARGET_DISK"
stopped=0
tgt --mode logicalunit --op delete --tid 1 --lun 1 || stopped=1
tgt --mode target --op delete --tid 1 || stopped=1
# The seed's "killall tgtd": this tgtd ignores SIGTERM; tgt's own way to stop it is a system delete.
tgtadm -C "$TGT_CONTROL_PORT" --mode system --op delete 2>&1 || stopped=1
t=0
while kill -0 "$TGTD_PID" 2>/dev/null; do
  t=$((t + 1))
  if [ "$t" -gt 100 ]; then say "tgtd did not stop: killing it"; kill -9 "$TGTD_PID"; stopped=1; break; fi
  busybox sleep 0.05
done
wait "$TGTD_PID" 2>/dev/null
say "reboot (exit $stopped)"
exit $stopped
`;

const runner = new CommandRunner();

/** The live (not zombie) processes of process group `pgid`. */
export function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      // status, not stat: reading the stat of a process stuck in the kernel (a writer whose
      // block device went away) blocks the reader too, and this runs in the test process.
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const state = /^State:\s+(\S)/m.exec(status)?.[1];
      const pgrp = /^NSpgid:\s+(\d+)/m.exec(status)?.[1];
      if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** SIGKILLs what is left of group `pgid` and waits (up to 5 s) until it is gone. */
async function killGroup(pgid: number): Promise<void> {
  for (let i = 0; i < 250 && processGroup(pgid).length > 0; i++) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the script once with these ports; resolves once it is calling back, or with its exit. */
async function attempt(
  o: ScriptedRamdiskOptions,
  ports: { port: number; donePort: number; controlPort: number },
): Promise<{ ramdisk?: ScriptedRamdisk; exit?: ScriptedRamdiskResult }> {
  const work = await mkdtemp(join(tmpdir(), 'bm-ramdisk-'));
  const script = join(work, 'init.sh');
  await writeFile(script, SCRIPT, { mode: 0o600 });
  const iqn = `iqn-${o.instanceUuid}`;
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    WORK: work,
    TARGET_DISK: o.diskFile,
    ISCSI_TARGET_IQN: iqn,
    DEPLOYMENT_ID: String(o.nodeId),
    DEPLOYMENT_KEY: o.deployKey,
    BOOT_IP_ADDRESS: o.address,
    CALLBACK_URL: o.callbackUrl,
    FIRST_ERR_MSG: o.firstError ?? '',
    ISCSI_PORT: String(ports.port),
    DONE_PORT: String(ports.donePort),
    TGT_CONTROL_PORT: String(ports.controlPort),
  };
  const [cmd, args] = o.netns
    ? ['ip', ['netns', 'exec', o.netns, 'busybox', 'sh', script]]
    : ['busybox', ['sh', script]];
  // Its own process group (`ip netns exec` execs busybox in place: the pid is the group's).
  const child: ChildProcess = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));

  let removed: Promise<void> | undefined;
  /** After the script: whatever of its group outlived it (tgtd, nc), then the files. */
  const cleanUp = () =>
    (removed ??= (async () => {
      if (child.pid !== undefined) await killGroup(child.pid);
      if (output.includes(TGTD_READY)) {
        // tgtd leaves its control socket and lock file behind when killed (and after a system delete).
        const socket = `/var/run/tgtd/socket.${ports.controlPort}`;
        await Promise.all([rm(socket, { force: true }), rm(`${socket}.lock`, { force: true })]);
      }
      await rm(work, { recursive: true, force: true });
    })());

  const done = new Promise<ScriptedRamdiskResult>((resolve) => {
    child.once('error', (e) => (output += `cannot run ${cmd}: ${e.message}\n`));
    child.once('close', (code, signal) => {
      void (async () => {
        const received = await readFile(join(work, 'received'), 'utf8').catch(() => '');
        const tgtdLog = await readFile(join(work, 'tgtd.log'), 'utf8').catch(() => '');
        await cleanUp().catch((e: Error) => (output += `cleanup failed: ${e.message}\n`));
        const log = tgtdLog ? `${output}--- tgtd ---\n${tgtdLog}` : output;
        resolve({ received, exitCode: code ?? -1, signal, log });
      })();
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL'); // tgtd ignores SIGTERM anyway
        } catch {
          // already gone
        }
      }
      await done;
    })());

  const calling = new Promise<boolean>((resolve) => {
    const check = () => {
      if (output.includes(CALLING_BACK)) resolve(true);
    };
    child.stdout!.on('data', check);
    void done.then(() => resolve(false));
  });
  if (!(await calling)) return { exit: await done };
  return {
    ramdisk: {
      iqn,
      address: o.address,
      ...ports,
      pid: child.pid!,
      workDir: work,
      done,
      log: () => output,
      showTargets: async () => {
        const r = await runner.run(
          'tgtadm',
          ['-C', String(ports.controlPort), '--lld', 'iscsi', '--mode', 'target', '--op', 'show'],
          { timeoutMs: 5_000 },
        );
        return r.code === 0 ? r.stdout : undefined;
      },
      stop,
    },
  };
}

/**
 * Starts the played ramdisk and resolves once it has exported its disk and is about to call
 * back (so the callback may arrive before this resolves: answer it without waiting for this).
 * Rejects, with the script's output, if it exits before that.
 */
export async function startScriptedRamdisk(o: ScriptedRamdiskOptions): Promise<ScriptedRamdisk> {
  if (process.getuid?.() !== 0) throw new Error('the scripted deploy ramdisk needs root (tgtd)');
  let last: ScriptedRamdiskResult | undefined;
  for (let i = 0; i < 5; i++) {
    const ports = {
      port: o.port ?? (o.netns ? 3260 : await freeTcpPort()),
      donePort: o.donePort ?? (o.netns ? 10000 : await freeTcpPort()),
      controlPort: randomInt(1_000, 32_767), // tgtd takes -C up to 32767
    };
    const r = await attempt(o, ports);
    if (r.ramdisk) return r.ramdisk;
    last = r.exit!;
    if (last.exitCode !== TGTD_FAILED) break;
  }
  throw new Error(`the scripted deploy ramdisk did not get to its callback (exit ${last?.exitCode}):\n${last?.log}`);
}
