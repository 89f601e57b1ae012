import { join } from 'node:path';

/**
 * get_console_output's source: a node's console log where one is kept, in Nova's own layout
 * (the libvirt driver's `<instances_path>/<instance uuid>/console.log`), so whatever captures a
 * node's serial console (an IPMI SOL logger, a VM's serial file) can put it where Nova would look.
 * nova-bm itself keeps none: without the file the answer is ConsoleNotAvailable, as Nova's.
 */
export function consoleLogPath(instancesPath: string, instanceUuid: string): string {
  return join(instancesPath, instanceUuid, 'console.log');
}

/** At most this much of the end of the log is read (Nova's libvirt driver: MAX_CONSOLE_BYTES, 100 KiB). */
export const CONSOLE_LOG_MAX_BYTES = 100 * 1024;

/**
 * Python's int() of the tail length Nova's API passes on (an int, a string of digits, null);
 * what int() refuses is 0, as Nova's manager makes of a ValueError.
 */
function pythonInt(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v)) return Number.parseInt(v.trim(), 10);
  return 0;
}

/**
 * What Nova's compute manager answers from the driver's bytes: with a tail length, the last that
 * many lines (0 or nonsense: nothing; Python's slice `[-n:]`, so a negative n drops the first -n
 * lines), then decoded as ASCII with every other byte replaced by U+FFFD.
 */
export function consoleTail(log: Buffer, tailLength: unknown): string {
  let bytes = log;
  if (tailLength !== undefined && tailLength !== null) {
    const n = pythonInt(tailLength);
    if (n === 0) bytes = Buffer.alloc(0);
    else {
      const lines: Buffer[] = [];
      let start = 0;
      for (let i = log.indexOf(10); i !== -1; i = log.indexOf(10, start)) {
        lines.push(log.subarray(start, i));
        start = i + 1;
      }
      lines.push(log.subarray(start));
      bytes = Buffer.concat(lines.slice(-n).flatMap((l, i) => (i === 0 ? [l] : [Buffer.from('\n'), l])));
    }
  }
  let out = '';
  for (const b of bytes) out += b < 0x80 ? String.fromCharCode(b) : '\ufffd';
  return out;
}
