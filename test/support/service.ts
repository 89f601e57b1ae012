import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, requireBuilt } from './bmctl';
import { TEST_AMQP_URL, eventually } from './amqp';
import { completeLines } from './lines';
import type { Netns } from './netns';
import { TEST_PASSWORD_KEY_FILE } from './passwords';
import { freeTcpPort } from './ports';

/** A built service (`node dist/apps/<app>/main.js`) run by a test, with its output collected. */
export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once a whole line of its output contains `text` (e.g. 'rpc=' once RPC is served). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts a built service with only PATH from this environment, plus `env`; inside `netns` when
 * given (where Netns.destroy() stops it too).
 */
export function startService(app: string, env: Record<string, string>, netns?: Netns): ServiceProcess {
  requireBuilt(app);
  const args = [join(ROOT, 'dist/apps', app, 'main.js')];
  const opts = { cwd: ROOT, env: { PATH: process.env.PATH!, ...env } };
  const child = netns ? netns.spawn(process.execPath, args, opts) : spawn(process.execPath, args, opts);
  let out = '';
  // Each stream apart too: waitFor matches whole lines of one stream, never a line still being
  // written nor one that a chunk of the other stream cut in two.
  const streams = { stdout: '', stderr: '' };
  for (const name of ['stdout', 'stderr'] as const) {
    child[name]!.setEncoding('utf8');
    child[name]!.on('data', (d: string) => {
      out += d;
      streams[name] += d;
    });
  }
  const printed = (text: string) =>
    completeLines(streams.stdout).some((l) => l.includes(text)) ||
    completeLines(streams.stderr).some((l) => l.includes(text));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (text, timeoutMs = 20_000) =>
      eventually(() => expect(printed(text)).toBe(true), timeoutMs, 100).then(
        () => undefined,
        () => {
          throw new Error(`${app} did not print ${JSON.stringify(text)} within ${timeoutMs} ms; its output:\n${out}`);
        },
      ),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Where a test's services (and bmctl) find their peers: its database, the broker, its exchange. */
export interface ServiceSite {
  databaseUrl: string;
  exchange: string;
  /** BM_HOST: the compute host the services (and the enrolled nodes) belong to. */
  host: string;
}

/** The deploy job queue (`[deploy_helper] job_queue`) of `site`'s deploy helpers. */
export function siteJobQueue(site: ServiceSite): string {
  return `${site.exchange}.deploy`;
}

/** The environment that points a service or bmctl at `site`. */
export function siteEnv(site: ServiceSite): Record<string, string> {
  return {
    DATABASE_URL: site.databaseUrl,
    TRANSPORT_URL: TEST_AMQP_URL,
    BM_CONTROL_EXCHANGE: site.exchange,
    BM_HOST: site.host,
    // Each site its own deploy job queue too: test runs side by side never take each other's jobs.
    BM_JOB_QUEUE: siteJobQueue(site),
    // The BMC passwords the tests enroll are sealed with the test key, and opened with it.
    BM_PM_PASSWORD_KEY_FILE: TEST_PASSWORD_KEY_FILE,
  };
}

/** siteEnv, a free health port (BM_HEALTH_PORT) and `extra` over them: one service's environment. */
export async function serviceEnv(
  site: ServiceSite,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  // A short grace on SIGTERM ([DEFAULT] graceful_shutdown_timeout, 60 s in production): a test
  // stops its services one after another, and an abandoned deploy must not hold each for a minute.
  return {
    ...siteEnv(site),
    BM_HEALTH_PORT: String(await freeTcpPort()),
    BM_GRACEFUL_SHUTDOWN_TIMEOUT: '10',
    ...extra,
  };
}
