/**
 * Option negotiation for a read request: RFC 2348 blksize, RFC 2349 timeout and tsize, RFC 7440
 * windowsize. Only options the client asked for and that we accept are echoed (in the client's
 * order); unknown or invalid options are ignored, as RFC 2347 asks.
 */
import type { TftpMode } from './packet';

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const MAX_WINDOWSIZE = 65535;
export const DEFAULT_MAX_WINDOWSIZE = 64;

export interface NegotiationLimits {
  /** Largest blksize granted (8..65464); larger requests are lowered to it. Default 65464. */
  maxBlksize?: number;
  /** Largest windowsize granted (1..65535); larger requests are lowered to it. Default 64. */
  maxWindowsize?: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** The client's timeout option in ms, when it sent a valid one. */
  timeoutMs?: number;
  /** The size announced with tsize, when it was asked for and is known. */
  tsize?: number;
  /** What the OACK carries; empty = no OACK, DATA 1 straight away. */
  oack: Map<string, string>;
}

function decimal(v: string): number | undefined {
  return /^[0-9]{1,10}$/.test(v) ? Number(v) : undefined;
}

function clampLimit(v: number | undefined, lo: number, hi: number, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`${what} must be an integer in ${lo}..${hi}, got ${v}`);
  return v;
}

export function resolveLimits(l: NegotiationLimits = {}): Required<NegotiationLimits> {
  return {
    maxBlksize: clampLimit(l.maxBlksize, MIN_BLKSIZE, MAX_BLKSIZE, MAX_BLKSIZE, 'maxBlksize'),
    maxWindowsize: clampLimit(l.maxWindowsize, 1, MAX_WINDOWSIZE, DEFAULT_MAX_WINDOWSIZE, 'maxWindowsize'),
  };
}

/**
 * `fileSize` is the size to announce with tsize (only in octet mode: netascii changes the
 * length, so tsize is not answered there; nor for an empty file, which curl cannot take).
 */
export function negotiateOptions(
  requested: ReadonlyMap<string, string>,
  ctx: { mode: TftpMode; fileSize?: number } & NegotiationLimits,
): Negotiated {
  const limits = resolveLimits(ctx);
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, oack: new Map() };
  for (const [rawName, value] of requested) {
    const name = rawName.toLowerCase();
    const n = decimal(value);
    switch (name) {
      case 'blksize':
        // Below 8 is invalid (ignored); above 65464 is lowered like anything above our cap.
        if (n !== undefined && n >= MIN_BLKSIZE) {
          out.blksize = Math.min(n, limits.maxBlksize);
          out.oack.set(name, String(out.blksize));
        }
        break;
      case 'timeout':
        if (n !== undefined && n >= 1 && n <= 255) {
          out.timeoutMs = n * 1000;
          out.oack.set(name, String(n));
        }
        break;
      case 'tsize':
        // Not for an empty file: curl refuses "tsize 0" in an OACK and silently gives up.
        if (n !== undefined && ctx.mode === 'octet' && ctx.fileSize !== undefined && ctx.fileSize > 0) {
          out.tsize = ctx.fileSize;
          out.oack.set(name, String(ctx.fileSize));
        }
        break;
      case 'windowsize':
        if (n !== undefined && n >= 1 && n <= MAX_WINDOWSIZE) {
          out.windowsize = Math.min(n, limits.maxWindowsize);
          out.oack.set(name, String(out.windowsize));
        }
        break;
      default:
        break; // unknown: ignored
    }
  }
  return out;
}
