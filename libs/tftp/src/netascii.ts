/** RFC 764 netascii as TFTP uses it: LF → CR LF, CR → CR NUL. */
const CR = 0x0d;
const LF = 0x0a;

export function toNetascii(b: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === CR || b[i] === LF) extra++;
  if (extra === 0) return b;
  const out = Buffer.allocUnsafe(b.length + extra);
  let j = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === LF) {
      out[j++] = CR;
      out[j++] = LF;
    } else if (c === CR) {
      out[j++] = CR;
      out[j++] = 0;
    } else out[j++] = c;
  }
  return out;
}

/** The inverse (for clients and tests): CR LF → LF, CR NUL → CR; a lone CR is kept. */
export function fromNetascii(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  let j = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === CR && i + 1 < b.length && (b[i + 1] === LF || b[i + 1] === 0)) {
      out[j++] = b[i + 1] === LF ? LF : CR;
      i++;
    } else out[j++] = c;
  }
  return out.subarray(0, j);
}
