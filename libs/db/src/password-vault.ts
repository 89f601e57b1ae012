import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { namedError } from '@bm/core';

/** The option that names the key file, as errors spell it. */
export const PASSWORD_KEY_OPTION = '[baremetal] pm_password_key_file';

/** The key is absent, unreadable or malformed, or does not open a stored password. */
export class PasswordKeyError extends namedError('PasswordKeyError', 'config') {}

/**
 * A sealed value: `bmpw1:<key id>:<base64 of IV (12 bytes), ciphertext, GCM tag (16 bytes)>`.
 * Anything without the prefix is a clear value written before passwords were sealed.
 */
const PREFIX = 'bmpw1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A short public name of a key (never the key): which key sealed a value. */
function keyId(key: Buffer): string {
  return createHash('sha256').update('nova-bm pm_password key id\0').update(key).digest('hex').slice(0, 8);
}

/** The key in a key file: base64 of exactly 32 bytes (`bmctl db gen-key`, or `openssl rand -base64 32`). */
export function parsePasswordKey(text: string, source: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : Buffer.alloc(0);
  if (key.length !== 32)
    throw new PasswordKeyError(
      `${source}: the key must be 32 bytes in base64 (44 characters; \`bmctl db gen-key\` writes one)`,
    );
  return key;
}

/** A new key file's content. */
export function newPasswordKey(): string {
  return `${randomBytes(32).toString('base64')}\n`;
}

/**
 * How BMC passwords are kept at rest (bm_nodes.pm_password): AES-256-GCM under the key of
 * `[baremetal] pm_password_key_file`. Every write of a password seals it here and every read
 * opens it here (NodeRepository.powerTarget(s), EnrollmentService), so no other code sees the
 * stored form. A clear value from before is still read, and `bmctl db re-encrypt` seals it.
 */
export class PasswordVault {
  /** The key's id (never the key), or undefined without a key. */
  readonly keyId: string | undefined;

  private constructor(
    private readonly key: Buffer | undefined,
    /** Where the key came from, for error messages. */
    readonly source: string,
  ) {
    this.keyId = key && keyId(key);
  }

  /** No key: clear legacy values are read, nothing can be sealed or opened. */
  static none(): PasswordVault {
    return new PasswordVault(undefined, PASSWORD_KEY_OPTION);
  }

  static ofKey(key: Buffer, source = PASSWORD_KEY_OPTION): PasswordVault {
    if (key.length !== 32) throw new PasswordKeyError(`${source}: the key must be 32 bytes`);
    return new PasswordVault(Buffer.from(key), source);
  }

  /** The vault of a key file; `''` (the option unset) is the vault without a key. */
  static fromKeyFile(path: string, option = PASSWORD_KEY_OPTION): PasswordVault {
    if (path === '') return PasswordVault.none();
    const source = `${option} (${path})`;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new PasswordKeyError(`${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return new PasswordVault(parsePasswordKey(text, source), source);
  }

  static isSealed(stored: string): boolean {
    return stored.startsWith(PREFIX);
  }

  /** The id of the key that sealed `stored`; undefined for a clear value. */
  static sealedWith(stored: string): string | undefined {
    return PasswordVault.isSealed(stored) ? stored.slice(PREFIX.length).split(':')[0] : undefined;
  }

  /** The stored form of a password; throws PasswordKeyError without a key. */
  seal(password: string): string {
    if (!this.key) throw new PasswordKeyError(`BMC passwords are stored encrypted: set ${this.source} to a key file`);
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([iv, c.update(password, 'utf8'), c.final(), c.getAuthTag()]);
    return `${PREFIX}${this.keyId}:${body.toString('base64')}`;
  }

  /**
   * The password of node `node` from its stored form: a clear legacy value as it is, a sealed one
   * decrypted. PasswordKeyError, naming the node and the option, when it cannot be.
   */
  open(stored: string, node: number | string): string {
    if (!PasswordVault.isSealed(stored)) return stored;
    const [id, b64] = stored.slice(PREFIX.length).split(':');
    const what = `node ${node}'s BMC password`;
    if (!this.key) throw new PasswordKeyError(`${what} is encrypted and no key is configured: set ${this.source}`);
    if (id !== this.keyId)
      throw new PasswordKeyError(
        `${what} was encrypted with key ${id}, not with the key of ${this.source} (key ${this.keyId}): ` +
          'configure that key, or re-encrypt with `bmctl db re-encrypt --old-key-file <its file>`',
      );
    const body = Buffer.from(b64 ?? '', 'base64');
    try {
      if (body.length < IV_BYTES + TAG_BYTES) throw new Error('too short');
      const d = createDecipheriv('aes-256-gcm', this.key, body.subarray(0, IV_BYTES));
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([d.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      throw new PasswordKeyError(
        `${what} cannot be decrypted with the key of ${this.source}: the stored value is damaged`,
      );
    }
  }
}
