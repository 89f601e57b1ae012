/**
 * Test harness for IPMI peer tests: starts and stops two real IPMI BMCs on loopback UDP,
 *  - ipmi_sim (OpenIPMI's LAN BMC simulator) whose chassis is chassis-control.sh, so the
 *    power / boot state it is asked to set is visible in files;
 *  - fake_bmc.py, a pyghmi `Bmc` subclass (the VirtualBMC design) that prints one JSON line
 *    per action;
 * and runs ipmitool against them (`-I lanplus -C 3`, password only in the environment).
 *
 * Background: /work/shared/reference/ipmi.md §3–5.
 *
 * Every process started here is stopped by stop() (idempotent), killed when the test process
 * exits, and, because each child holds a stdin pipe from this process and exits on its EOF,
 * also dies when this process is killed outright.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PYTHON = '/usr/bin/python3'; // Debian's, with python3-pyghmi (not the pyenv one on PATH)
const IPMI_SIM = 'ipmi_sim';
const IPMITOOL = 'ipmitool';
const HOST = '127.0.0.1';
const CHASSIS_CONTROL = join(__dirname, 'chassis-control.sh');
const FAKE_BMC = join(__dirname, 'fake_bmc.py');
const GUID = 'a123456789abcdefa123456789abcdef';
const DEFAULT_USER = 'admin';
const DEFAULT_PASSWORD = 'password';
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const OUTPUT_CAP = 64 * 1024;

export type PowerState = 'on' | 'off';

export interface IpmiPeerOptions {
  port: number;
  /** Default `admin`. */
  user?: string;
  /** Default `password`. */
  password?: string;
}

export interface IpmitoolOptions extends IpmiPeerOptions {
  /** Kill ipmitool after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** `-C <suite>` (default '3'); null = no -C, so ipmitool asks Get Channel Cipher Suites and picks. */
  cipherSuite?: string | null;
}

export interface IpmitoolResult {
  /** Exit code; 124 when the harness killed it on timeout (as timeout(1) does). */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface IpmiSimOptions extends IpmiPeerOptions {
  /** Initial chassis power (default off). */
  power?: PowerState;
}

export interface IpmiSim {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly pid: number;
  /** Temp dir with lan.conf, sim.emu, persist/ and state/; removed by stop(). */
  readonly runDir: string;
  /** chassis-control.sh's state dir: power, boot, identify, chassis.log. */
  readonly stateDir: string;
  /** Power as last set through chassis_control (state/power). */
  power(): Promise<PowerState>;
  /** Boot device as last set (state/boot): none | pxe | default | cdrom | bios. */
  bootDevice(): Promise<string>;
  /** chassis.log lines: `<uptime s> set power 1`, `- get power`, … */
  log(): Promise<string[]>;
  /** ipmitool against this BMC with its user/password. */
  ipmitool(args: string[], opts?: { timeoutMs?: number }): Promise<IpmitoolResult>;
  /** What ipmi_sim printed (its console echo and errors), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface FakeBmcOptions extends IpmiPeerOptions {
  /** Initial power (default off). */
  power?: PowerState;
}

/** One JSON line of fake_bmc.py: `{t, op, …}` (power_*: before/after; set_boot_device: bootdev/persistent). */
export interface FakeBmcEvent {
  t: number;
  op: string;
  [key: string]: unknown;
}

export interface FakeBmc {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly pid: number;
  /** Every event so far, in order. */
  readonly events: FakeBmcEvent[];
  /**
   * Resolves with the first event at index ≥ `from` (default 0, i.e. already received ones
   * count) that satisfies `pred`; rejects after `timeoutMs` (default 5 000) or if the BMC exits.
   */
  waitFor(pred: (event: FakeBmcEvent) => boolean, timeoutMs?: number, from?: number): Promise<FakeBmcEvent>;
  /** ipmitool against this BMC with its user/password. */
  ipmitool(args: string[], opts?: { timeoutMs?: number }): Promise<IpmitoolResult>;
  /** Non-event stdout and all stderr of fake_bmc.py, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

// --- process bookkeeping ----------------------------------------------------------------------

/** Children still running and temp dirs still present, for the exit hook. */
interface Registry {
  children: Set<ChildProcess>;
  dirs: Set<string>;
}

const REGISTRY = Symbol.for('test/peers/ipmi/harness');

/**
 * The real `process`. Jest hands each test file a *copy* of `process` whose 'exit' event never
 * fires; a function made by the host realm's Function constructor (that of a core-module
 * function) sees the real one. Outside Jest this is just `process`.
 */
function hostProcess(): NodeJS.Process {
  try {
    const HostFunction = rmSync.constructor as FunctionConstructor;
    const host: unknown = HostFunction('return process')();
    if (typeof host === 'object' && host !== null && typeof (host as NodeJS.Process).once === 'function')
      return host as NodeJS.Process;
  } catch {
    // fall back to the (possibly sandboxed) global
  }
  return process;
}

/**
 * One registry and one 'exit' listener per real process, shared by every test file's copy of
 * this module: on exit, SIGKILL the children still running and remove the temp dirs.
 */
function registry(): Registry {
  const host = hostProcess() as NodeJS.Process & { [REGISTRY]?: Registry };
  let reg = host[REGISTRY];
  if (!reg) {
    const r: Registry = { children: new Set(), dirs: new Set() };
    host[REGISTRY] = reg = r;
    host.once('exit', () => {
      for (const child of r.children) {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
      for (const dir of r.dirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  return reg;
}

/**
 * Registers a long-running child for the exit hook, and unrefs it and its pipes: a test that
 * forgets stop() then does not keep Jest from exiting (the exit hook kills the child).
 */
function track(child: ChildProcess): void {
  const { children } = registry();
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as { unref?: () => void } | null)?.unref?.();
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM (and close stdin), SIGKILL after a grace period; resolves once the child is gone. */
async function terminate(child: ChildProcess): Promise<void> {
  if (!exited(child)) {
    child.stdin?.end();
    child.kill('SIGTERM');
    if (!(await waitExit(child, STOP_GRACE_MS))) {
      child.kill('SIGKILL');
      await waitExit(child, STOP_GRACE_MS);
    }
  }
  registry().children.delete(child);
}

/** Keeps the last OUTPUT_CAP characters written to a stream. */
function capture(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
    if (text.length > OUTPUT_CAP) text = text.slice(-OUTPUT_CAP);
  });
  return () => text;
}

function describeExit(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

// --- ipmitool / ports -------------------------------------------------------------------------

/**
 * `ipmitool -I lanplus -C 3 -H 127.0.0.1 -p <port> -U <user> -E <args…>`, password in the env
 * (IPMI_PASSWORD), never on the command line. Killed (SIGKILL) after timeoutMs; never rejects
 * except when ipmitool cannot be started.
 */
export function ipmitool(args: string[], opts: IpmitoolOptions): Promise<IpmitoolResult> {
  const user = opts.user ?? DEFAULT_USER;
  const password = opts.password ?? DEFAULT_PASSWORD;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const suite = opts.cipherSuite === undefined ? '3' : opts.cipherSuite;
  const argv = [
    '-I',
    'lanplus',
    ...(suite === null ? [] : ['-C', suite]),
    '-H',
    HOST,
    '-p',
    String(opts.port),
    '-U',
    user,
    '-E',
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(IPMITOOL, argv, {
      env: { ...process.env, IPMI_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { children } = registry(); // SIGKILLed by the exit hook if still running
    children.add(child);
    const stdout = capture(child.stdout);
    const stderr = capture(child.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`cannot run ${IPMITOOL}: ${err.message}`));
    });
    // 'close' (not 'exit'): all output has been read.
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      const err = stderr();
      resolve({
        code: timedOut ? 124 : (code ?? 128),
        stdout: stdout(),
        stderr: timedOut ? `${err}[harness] ipmitool ${args.join(' ')} killed after ${timeoutMs} ms\n` : err,
        timedOut,
      });
    });
  });
}

const handedOut = new Set<number>();

/**
 * A UDP port on 127.0.0.1 that was free a moment ago (bind :0, read, close). Never returns the
 * same port twice in one process, so parallel peers do not collide with each other.
 */
export async function freeUdpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, HOST, () => {
        const { port: p } = socket.address();
        socket.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freeUdpPort: no new port after 20 attempts');
}

/**
 * RMCP/IPMI 1.5 pre-session Get Channel Authentication Capabilities (channel E, admin): any UDP
 * answer within timeoutMs means a BMC is serving on the port.
 */
const GET_CHANNEL_AUTH_CAP = Buffer.from('0600ff07000000000000000000092018c88100388e04b5', 'hex');

function rmcpPing(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let done = false;
    const finish = (answered: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('message', () => finish(true));
    socket.once('error', () => finish(false));
    socket.send(GET_CHANNEL_AUTH_CAP, port, HOST, (err) => {
      if (err) finish(false);
    });
  });
}

// --- ipmi_sim ---------------------------------------------------------------------------------

function lanConf(port: number, user: string, password: string, stateDir: string): string {
  for (const [what, v] of [
    ['user', user],
    ['password', password],
  ] as const) {
    if (/["\\\s]/.test(v) || v.length === 0)
      throw new Error(`ipmi_sim ${what} must be non-empty without quotes, backslashes or spaces`);
  }
  return [
    'name "labsim"',
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr ${HOST} ${port}`,
    '    priv_limit admin',
    '    allowed_auths_callback none md2 md5 straight',
    '    allowed_auths_user none md2 md5 straight',
    '    allowed_auths_operator none md2 md5 straight',
    '    allowed_auths_admin none md2 md5 straight',
    `    guid ${GUID}`,
    '  endlan',
    // ipmi_sim runs this with popen(): `<this> get power`, `<this> set power "1"`, …
    `  chassis_control "${CHASSIS_CONTROL} ${stateDir}"`,
    '  # usernum enabled name password max-priv max-sessions auths',
    `  user 2 true "${user}" "${password}" admin 10 none md2 md5 straight`,
    '',
  ].join('\n');
}

const SIM_EMU = [
  'mc_setbmc 0x20',
  'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02',
  'sel_enable 0x20 1000 0x0a',
  'mc_enable 0x20',
  '',
].join('\n');

async function readState(file: string): Promise<string> {
  // chassis-control.sh rewrites the file in place (truncate + write): an empty read is a
  // write in progress, so look again.
  for (let i = 0; ; i++) {
    let text = '';
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== '' || i >= 5) return text;
    await sleep(5);
  }
}

/**
 * Starts ipmi_sim on 127.0.0.1:<port> (UDP) with one admin user, chassis state in files, and
 * resolves once `ipmitool mc info` succeeds against it (at most ~10 s).
 *
 * ipmi_sim is run *without* `-n`: its console reads our stdin pipe, and it exits on EOF, so
 * it cannot outlive this process. stdout/stderr are drained into output().
 */
export async function startIpmiSim(opts: IpmiSimOptions): Promise<IpmiSim> {
  const user = opts.user ?? DEFAULT_USER;
  const password = opts.password ?? DEFAULT_PASSWORD;
  const runDir = await mkdtemp(join(tmpdir(), 'ipmi-sim-'));
  registry().dirs.add(runDir);
  const stateDir = join(runDir, 'state');
  const persistDir = join(runDir, 'persist');
  const confFile = join(runDir, 'lan.conf');
  const emuFile = join(runDir, 'sim.emu');
  try {
    // G2: users persisted by an earlier run would override lan.conf.
    await rm(persistDir, { recursive: true, force: true });
    await mkdir(persistDir);
    await mkdir(stateDir);
    await writeFile(join(stateDir, 'power'), opts.power === 'on' ? '1\n' : '0\n');
    await writeFile(join(stateDir, 'boot'), 'none\n');
    await writeFile(join(stateDir, 'chassis.log'), '');
    await writeFile(confFile, lanConf(opts.port, user, password, stateDir));
    await writeFile(emuFile, SIM_EMU);
  } catch (err) {
    await rm(runDir, { recursive: true, force: true });
    registry().dirs.delete(runDir);
    throw err;
  }

  const child = spawn(IPMI_SIM, ['-c', confFile, '-f', emuFile, '-s', persistDir], {
    cwd: runDir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  const stdout = capture(child.stdout);
  const stderr = capture(child.stderr);
  const output = () => stdout() + stderr();
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  child.stdin?.on('error', () => undefined); // EPIPE if it died

  const stop = once(async () => {
    await terminate(child);
    await rm(runDir, { recursive: true, force: true });
    registry().dirs.delete(runDir);
  });

  const run = (args: string[], o?: { timeoutMs?: number }) => ipmitool(args, { port: opts.port, user, password, ...o });

  // Wait until it answers: first a cheap pre-session RMCP ping every 100 ms (ipmitool sent to a
  // port nobody listens on yet would wait ~1 s per retransmit, 20 s in all), then one real
  // session with `ipmitool mc info`.
  const deadline = Date.now() + START_TIMEOUT_MS;
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(`ipmi_sim on port ${opts.port} ${why}:\n${output()}`);
  };
  for (;;) {
    if (spawnError || exited(child))
      await fail(`exited before answering (${spawnError ? spawnError.message : describeExit(child)})`);
    if (await rmcpPing(opts.port, 100)) break;
    if (Date.now() >= deadline)
      await fail(`did not answer a Get Channel Auth Capabilities within ${START_TIMEOUT_MS} ms`);
    await sleep(20);
  }
  for (;;) {
    const r = await run(['mc', 'info'], { timeoutMs: Math.max(500, deadline - Date.now()) });
    if (r.code === 0) break;
    if (exited(child) || Date.now() >= deadline)
      await fail(`did not answer \`ipmitool mc info\` (code ${r.code}): ${r.stderr}`);
    await sleep(50);
  }

  return {
    port: opts.port,
    user,
    password,
    pid: child.pid ?? -1,
    runDir,
    stateDir,
    power: async () => ((await readState(join(stateDir, 'power'))) === '1' ? 'on' : 'off'),
    bootDevice: async () => (await readState(join(stateDir, 'boot'))) || 'none',
    log: async () => (await readFile(join(stateDir, 'chassis.log'), 'utf8')).split('\n').filter((l) => l !== ''),
    ipmitool: run,
    output,
    stop,
  };
}

// --- fake_bmc.py ------------------------------------------------------------------------------

function asEvent(line: string): FakeBmcEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.op !== 'string') return undefined;
  return { ...record, op: record.op, t: typeof record.t === 'number' ? record.t : Date.now() / 1000 };
}

interface Waiter {
  pred: (event: FakeBmcEvent) => boolean;
  from: number;
  resolve: (event: FakeBmcEvent) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Starts fake_bmc.py (/usr/bin/python3) on 127.0.0.1:<port> (UDP) and resolves once it printed
 * READY (its socket is bound then). Its JSON lines are collected in `events`.
 */
export async function startFakeBmc(opts: FakeBmcOptions): Promise<FakeBmc> {
  const user = opts.user ?? DEFAULT_USER;
  const password = opts.password ?? DEFAULT_PASSWORD;
  const args = [FAKE_BMC, '--port', String(opts.port), '--user', user, '--password', password, '--address', HOST];
  args.push('--power', opts.power ?? 'off', '--exit-on-stdin-eof');
  const child = spawn(PYTHON, args, {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  child.stdin?.on('error', () => undefined);
  const stderr = capture(child.stderr);
  let otherOutput = '';
  const output = () => otherOutput + stderr();

  const events: FakeBmcEvent[] = [];
  const waiters = new Set<Waiter>();
  let ready!: () => void;
  let failed!: (err: Error) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });

  const check = (w: Waiter): boolean => {
    for (let i = w.from; i < events.length; i++) {
      if (w.pred(events[i])) {
        clearTimeout(w.timer);
        waiters.delete(w);
        w.resolve(events[i]);
        return true;
      }
    }
    return false;
  };

  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (line === 'READY') return ready();
    const event = asEvent(line);
    if (!event) {
      otherOutput = (otherOutput + line + '\n').slice(-OUTPUT_CAP);
      return;
    }
    events.push(event);
    for (const w of [...waiters]) check(w);
  });

  const onGone = (why: string) => {
    const err = new Error(`fake_bmc.py on port ${opts.port} ${why}:\n${output()}`);
    failed(err);
    for (const w of [...waiters]) {
      clearTimeout(w.timer);
      waiters.delete(w);
      w.reject(err);
    }
  };
  child.once('error', (err) => onGone(`could not start (${err.message})`));
  // 'close': stdout fully read, so a READY or last event is not lost.
  child.once('close', () => onGone(`exited (${describeExit(child)})`));

  const stop = once(async () => {
    await terminate(child);
    for (const w of [...waiters]) {
      clearTimeout(w.timer);
      waiters.delete(w);
      w.reject(new Error('fake BMC stopped'));
    }
  });

  const startTimer = setTimeout(
    () =>
      failed(
        new Error(`fake_bmc.py on port ${opts.port} printed no READY within ${START_TIMEOUT_MS} ms:\n${output()}`),
      ),
    START_TIMEOUT_MS,
  );
  try {
    await readyPromise;
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(startTimer);
  }

  return {
    port: opts.port,
    user,
    password,
    pid: child.pid ?? -1,
    events,
    waitFor: (pred, timeoutMs = 5_000, from = 0) =>
      new Promise<FakeBmcEvent>((resolve, reject) => {
        const w: Waiter = {
          pred,
          from,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(w);
            reject(
              new Error(
                `fake BMC: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(from))}`,
              ),
            );
          }, timeoutMs),
        };
        if (check(w)) return;
        if (exited(child)) {
          clearTimeout(w.timer);
          return reject(new Error(`fake_bmc.py on port ${opts.port} is not running:\n${output()}`));
        }
        waiters.add(w);
      }),
    ipmitool: (a, o) => ipmitool(a, { port: opts.port, user, password, ...o }),
    output,
    stop,
  };
}
