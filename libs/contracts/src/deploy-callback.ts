import { timingSafeEqual } from 'node:crypto';
import { DEPLOY_KEY_PATTERN } from '@bm/pxe';

/**
 * The deploy ramdisk's HTTP callback (port DEPLOY_CALLBACK_PORT) as a contract: what the request
 * is, and every answer the deploy helper gives to it. Pure: the app reads the request, calls
 * parseDeployCallback, looks the node up, compares keys with keysMatch and writes the answer.
 *
 * The ramdisk (diskimage-builder `deploy`) posts, with busybox wget:
 *   i=$DEPLOYMENT_ID&k=$DEPLOYMENT_KEY&a=$BOOT_IP_ADDRESS&n=$ISCSI_TARGET_IQN&e=$FIRST_ERR_MSG
 * (G: no `&e=`), `Content-Type: application/x-www-form-urlencoded`, to any path.
 *
 * Nova's helper (`cgi.parse_qsl` into a dict, then `q['i']`, `q['k']`, `q['a']`, `q['n']`):
 * - any method but POST: 501 `Not Implemented`;
 * - a required parameter missing: 400 `parameter ''i'' is not defined` (the KeyError's repr inside
 *   `parameter '%s' is not defined`), for the first one missing in the order i, k, a, n. A blank
 *   value (`i=`) is missing: parse_qsl drops blank values. A blank `p`, `l` or `e` is its default;
 * - the key not the node's: 400 `key is not match`;
 * - otherwise 200 with an empty body, and the deploy is queued.
 *
 * Ours, on top (each a 400 unless said, text/plain, ASCII):
 * - a body over `maxBytes` (default 4 KiB; the ramdisk's is ~150 bytes): 413;
 * - a Content-Type that is given and is not application/x-www-form-urlencoded: 415 (none given is
 *   accepted, as Nova did);
 * - a parameter of ours (i k a n p l e) given twice, blank or not: `parameter 'i' is defined more
 *   than once` (Nova's dict kept the last one silently). Other parameters are ignored, as in Nova;
 * - `i` not a positive integer (canonical decimal, at most 2147483647: bm_nodes.id is an integer);
 * - `a` not a unicast IPv4 address (dotted quad, no leading zeros; not 0/8, 127/8, 224/4, 240/4):
 *   the helper is going to log in to an iSCSI portal there;
 * - `p` not a port 1–65535, `l` not a LUN 0–255 (canonical decimal);
 * - `n` not an iSCSI name: RFC 3720 `iqn.yyyy-mm.reversed.domain[:name]` (lower case, the RFC 3722
 *   characters, at most 223 bytes) or the seed's own `iqn-<lower-case uuid>`; the IQN ends up on
 *   iscsiadm's command line and in a /dev/disk/by-path name, so nothing else gets through;
 * - `k` not DEPLOY_KEY_PATTERN: `key is not match`, the seed's answer to a wrong key. A malformed
 *   key is a wrong key to the caller; a distinct message would only tell a prober the key's format.
 *   For the same reason the app answers `key is not match` for a node that does not exist or has
 *   no deploy key (keysMatch(null, k) is false), where Nova crashed with a 500 and so told which
 *   ids exist.
 * Checks run in this order: method, size, content type, duplicates, missing (i k a n), then the
 * values in the order i k a n p l.
 *
 * Decoding is parse_qsl's: pairs split on `&` (not on `;`, which Python 2 also split on: the
 * ramdisk's filter of `e` keeps `;` and `=`), name and value split at the first `=`, `+` is a
 * space, `%XX` a byte, a stray `%` stays itself; bytes are read as UTF-8.
 */

/** A well-formed callback: the node, its key (not yet compared), the iSCSI target to deploy to. */
export interface DeployCallback {
  nodeId: number;
  key: string;
  address: string;
  port: number;
  iqn: string;
  lun: number;
  /** `e`, the ramdisk's first error message, decoded; control characters become spaces (it is logged), trimmed. */
  error?: string;
}

export interface DeployCallbackRequest {
  /** As the HTTP server gives it; only `POST` (exactly) is served. */
  method: string;
  /** The Content-Type header, if any. */
  contentType?: string;
  body: Buffer;
  /** Default DEPLOY_CALLBACK_MAX_BYTES. */
  maxBytes?: number;
}

export interface DeployCallbackAnswer {
  status: number;
  body: string;
}

export type DeployCallbackParse = { ok: true; callback: DeployCallback } | ({ ok: false } & DeployCallbackAnswer);

export const DEPLOY_CALLBACK_MAX_BYTES = 4096;
/** Every answer's Content-Type (Nova's, without a charset: the bodies are ASCII). */
export const DEPLOY_CALLBACK_CONTENT_TYPE = 'text/plain';
export const DEPLOY_CALLBACK_DEFAULT_PORT = 3260;
export const DEPLOY_CALLBACK_DEFAULT_LUN = 1;
/** The required parameters, in the order Nova looked them up (the first missing one is named). */
export const DEPLOY_CALLBACK_REQUIRED = ['i', 'k', 'a', 'n'] as const;
/** Every parameter the callback reads. */
export const DEPLOY_CALLBACK_PARAMETERS = ['i', 'k', 'a', 'n', 'p', 'l', 'e'] as const;
export type DeployCallbackParameter = (typeof DEPLOY_CALLBACK_PARAMETERS)[number];

const FORM = 'application/x-www-form-urlencoded';
const MAX_NODE_ID = 2147483647;

/** Nova's fixed answers, byte for byte. */
export const DEPLOY_CALLBACK_ANSWERS = {
  accepted: { status: 200, body: '' },
  notImplemented: { status: 501, body: 'Not Implemented' },
  keyMismatch: { status: 400, body: 'key is not match' },
} as const satisfies Record<string, DeployCallbackAnswer>;

/** The reason phrase of each status the callback answers with (Nova's for 200, 400, 501). */
export const DEPLOY_CALLBACK_REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  501: 'Not Implemented',
};

export type DeployCallbackAnswerKind =
  | 'accepted'
  | 'not_implemented'
  | 'key_mismatch'
  /** detail: the parameter's name. Nova's message. */
  | 'missing_parameter'
  /** detail: the parameter's name. */
  | 'duplicate_parameter'
  /** detail: the parameter's name. */
  | 'invalid_parameter'
  /** detail: the limit in bytes (default DEPLOY_CALLBACK_MAX_BYTES). */
  | 'too_large'
  | 'unsupported_media_type';

const INVALID: Record<Exclude<DeployCallbackParameter, 'k' | 'e'>, string> = {
  i: `must be a positive integer up to ${MAX_NODE_ID}`,
  a: 'must be a unicast IPv4 address',
  n: 'must be an iSCSI qualified name (iqn.yyyy-mm.domain[:name] or iqn-<uuid>)',
  p: 'must be a port number from 1 to 65535',
  l: 'must be a LUN from 0 to 255',
};

/** The answer of each kind; the only place an answer's text is written. */
export function callbackAnswer(kind: DeployCallbackAnswerKind, detail?: string | number): DeployCallbackAnswer {
  switch (kind) {
    case 'accepted':
      return { ...DEPLOY_CALLBACK_ANSWERS.accepted };
    case 'not_implemented':
      return { ...DEPLOY_CALLBACK_ANSWERS.notImplemented };
    case 'key_mismatch':
      return { ...DEPLOY_CALLBACK_ANSWERS.keyMismatch };
    case 'missing_parameter':
      // Python: "parameter '%s' is not defined" % KeyError('i') -> the repr 'i' inside quotes.
      return { status: 400, body: `parameter ''${String(detail)}'' is not defined` };
    case 'duplicate_parameter':
      return { status: 400, body: `parameter '${String(detail)}' is defined more than once` };
    case 'invalid_parameter': {
      const name = String(detail);
      if (name === 'k') return { ...DEPLOY_CALLBACK_ANSWERS.keyMismatch };
      const why = (INVALID as Record<string, string | undefined>)[name] ?? 'is invalid';
      return { status: 400, body: `parameter '${name}' ${why}` };
    }
    case 'too_large':
      return { status: 413, body: `request body is larger than ${detail ?? DEPLOY_CALLBACK_MAX_BYTES} bytes` };
    case 'unsupported_media_type':
      return { status: 415, body: `content type must be ${FORM}` };
  }
}

const fail = (a: DeployCallbackAnswer): DeployCallbackParse => ({ ok: false, status: a.status, body: a.body });

/** Reads the ramdisk's request; every refusal carries its exact answer. */
export function parseDeployCallback(req: DeployCallbackRequest): DeployCallbackParse {
  if (req.method !== 'POST') return fail(callbackAnswer('not_implemented'));
  const max = req.maxBytes ?? DEPLOY_CALLBACK_MAX_BYTES;
  if (req.body.length > max) return fail(callbackAnswer('too_large', max));
  if (!isForm(req.contentType)) return fail(callbackAnswer('unsupported_media_type'));

  const pairs = parseForm(req.body);
  const seen = new Map<string, number>();
  for (const [name] of pairs) seen.set(name, (seen.get(name) ?? 0) + 1);
  const twice = DEPLOY_CALLBACK_PARAMETERS.find((n) => (seen.get(n) ?? 0) > 1);
  if (twice) return fail(callbackAnswer('duplicate_parameter', twice));

  // Blank values are absent, as with parse_qsl's keep_blank_values=False.
  const q = new Map(pairs.filter(([, v]) => v !== ''));
  const missing = DEPLOY_CALLBACK_REQUIRED.find((n) => !q.has(n));
  if (missing) return fail(callbackAnswer('missing_parameter', missing));

  const i = q.get('i') as string;
  const k = q.get('k') as string;
  const a = q.get('a') as string;
  const n = q.get('n') as string;
  const p = q.get('p');
  const l = q.get('l');

  const nodeId = decimal(i);
  if (nodeId === undefined || nodeId < 1 || nodeId > MAX_NODE_ID) return fail(callbackAnswer('invalid_parameter', 'i'));
  if (!DEPLOY_KEY_PATTERN.test(k)) return fail(callbackAnswer('key_mismatch'));
  if (!isUnicastIPv4(a)) return fail(callbackAnswer('invalid_parameter', 'a'));
  if (!isIqn(n)) return fail(callbackAnswer('invalid_parameter', 'n'));
  const port = p === undefined ? DEPLOY_CALLBACK_DEFAULT_PORT : decimal(p);
  if (port === undefined || port < 1 || port > 65535) return fail(callbackAnswer('invalid_parameter', 'p'));
  const lun = l === undefined ? DEPLOY_CALLBACK_DEFAULT_LUN : decimal(l);
  if (lun === undefined || lun > 255) return fail(callbackAnswer('invalid_parameter', 'l'));

  const callback: DeployCallback = { nodeId, key: k, address: a, port, iqn: n, lun };
  const error = q.get('e')?.replace(CONTROL, ' ').trim();
  if (error) callback.error = error;
  return { ok: true, callback };
}

/**
 * Whether the deploy key given matches the node's, in time that does not depend on where they
 * differ. No key (null: unknown node, or none issued) or an empty one never matches.
 */
export function keysMatch(expected: string | null, given: string): boolean {
  const want = Buffer.from(expected ?? '', 'utf8');
  const got = Buffer.from(typeof given === 'string' ? given : '', 'utf8');
  const sameLength = want.length === got.length;
  // timingSafeEqual throws on different lengths: then compare the given key with itself, so the
  // work is the same and nothing is learnt from the content of the expected key.
  const equal = timingSafeEqual(sameLength ? want : got, got);
  return expected !== null && want.length > 0 && sameLength && equal;
}

// C0 and C1 controls and DEL.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function isForm(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === '') return true;
  return contentType.split(';')[0].trim().toLowerCase() === FORM;
}

/** `application/x-www-form-urlencoded` pairs in order, names and values decoded. */
function parseForm(body: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(0x26 /* & */, start);
    if (end < 0) end = body.length;
    const piece = body.subarray(start, end);
    start = end + 1;
    if (piece.length === 0) continue;
    const eq = piece.indexOf(0x3d /* = */);
    // A piece without `=` is a name with a blank value (dropped later, as parse_qsl does).
    const name = eq < 0 ? piece : piece.subarray(0, eq);
    const value = eq < 0 ? Buffer.alloc(0) : piece.subarray(eq + 1);
    out.push([unquotePlus(name), unquotePlus(value)]);
  }
  return out;
}

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** Python's unquote_plus on bytes: `+` is a space, `%XX` a byte, anything else itself. */
function unquotePlus(bytes: Buffer): string {
  const out = Buffer.alloc(bytes.length);
  let n = 0;
  for (let j = 0; j < bytes.length; j++) {
    const b = bytes[j];
    if (b === 0x2b /* + */) {
      out[n++] = 0x20;
    } else if (b === 0x25 /* % */ && isHex(bytes[j + 1]) && isHex(bytes[j + 2])) {
      out[n++] = parseInt(String.fromCharCode(bytes[j + 1], bytes[j + 2]), 16);
      j += 2;
    } else {
      out[n++] = b;
    }
  }
  return UTF8.decode(out.subarray(0, n));
}

function isHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}

/** A canonical decimal (no sign, blanks or leading zeros), or undefined. */
function decimal(s: string): number | undefined {
  return /^(0|[1-9][0-9]{0,14})$/.test(s) ? Number(s) : undefined;
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

function isUnicastIPv4(s: string): boolean {
  const m = IPV4.exec(s);
  if (!m) return false;
  const first = Number(m[1]);
  return first !== 0 && first !== 127 && first < 224;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const IQN_RFC3720 = new RegExp(`^iqn\\.[0-9]{4}-(?:0[1-9]|1[0-2])\\.${LABEL}(?:\\.${LABEL})*(?::[a-z0-9.:-]+)?$`);
const IQN_SEED = /^iqn-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isIqn(s: string): boolean {
  return s.length <= 223 && (IQN_RFC3720.test(s) || IQN_SEED.test(s));
}
