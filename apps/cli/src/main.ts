import 'reflect-metadata';
import { readFile } from 'node:fs/promises';
import { runCli } from './cli';

async function readText(path: string): Promise<string> {
  if (path !== '-') return readFile(path, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

runCli(process.argv.slice(2), {
  io: {
    out: (s) => process.stdout.write(s + '\n'),
    err: (s) => process.stderr.write(s + '\n'),
    errIsTty: process.stderr.isTTY === true,
  },
  env: process.env,
  readText,
}).then((code) => {
  process.exitCode = code;
});
