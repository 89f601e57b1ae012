import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, requireBuilt } from './bmctl';
import { eventually } from './amqp';

/** A built service (`node dist/apps/<app>/main.js`) run by a test, with its output collected. */
export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the output contains `text` (e.g. 'rpc=' once RPC is served). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts a built service with only PATH from this environment, plus `env`. */
export function startService(app: string, env: Record<string, string>): ServiceProcess {
  requireBuilt(app);
  const child = spawn(process.execPath, [join(ROOT, 'dist/apps', app, 'main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (text, timeoutMs = 20_000) =>
      eventually(() => expect(out).toContain(text), timeoutMs, 100).then(
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
