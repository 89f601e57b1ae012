import { spawn } from 'node:child_process';

/**
 * Runs Debian's `/usr/bin/python3` (where python3-nova and python3-oslo.messaging live) with
 * `args` (a script, or `-c CODE`), `input` as JSON on its stdin (so no secret is ever on a
 * command line), and resolves with its last stdout line parsed as JSON. Killed after `timeoutMs`;
 * a non-zero exit or no JSON rejects with everything it printed. The environment is PATH and
 * `env` only (no OS_* or proxy variables of the caller).
 */
export function runPythonJson<T>(
  args: string[],
  input: unknown,
  o: { timeoutMs: number; label: string; env?: Record<string, string> },
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', args, {
      env: { PATH: process.env.PATH!, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${o.label} exited ${code ?? signal}:\n${out}\n${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
      } catch {
        reject(new Error(`${o.label} printed no JSON:\n${out}\n${err}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}
