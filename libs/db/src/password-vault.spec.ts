import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswordKeyError, PasswordVault, newPasswordKey } from './password-vault';

const vault = (fill: number) => PasswordVault.ofKey(Buffer.alloc(32, fill));

describe('PasswordVault', () => {
  it('seals to a versioned value that is not the password, and opens it', () => {
    const v = vault(1);
    for (const pw of ['', 'S3cret-pw', 'x'.repeat(20), 'ü€']) {
      const stored = v.seal(pw);
      expect(stored).toMatch(/^bmpw1:[0-9a-f]{8}:[A-Za-z0-9+/]+=*$/);
      expect(stored).not.toContain(pw || 'never');
      expect(v.open(stored, 7)).toBe(pw);
    }
    expect(v.seal('same')).not.toBe(v.seal('same')); // a fresh IV each time
  });

  it('reads a clear legacy value as it is', () => {
    expect(vault(1).open('legacy-pw', 7)).toBe('legacy-pw');
    expect(PasswordVault.none().open('legacy-pw', 7)).toBe('legacy-pw');
  });

  it('names the node and the option when the key is missing, another or the value damaged', () => {
    const stored = vault(1).seal('pw');
    expect(() => PasswordVault.none().open(stored, 7)).toThrow(
      new PasswordKeyError(
        "node 7's BMC password is encrypted and no key is configured: set [baremetal] pm_password_key_file",
      ),
    );
    expect(() => PasswordVault.none().seal('pw')).toThrow(/set \[baremetal\] pm_password_key_file/);
    expect(() => vault(2).open(stored, 7)).toThrow(
      /^node 7's BMC password was encrypted with key [0-9a-f]{8}, not with the key of \[baremetal\] pm_password_key_file/,
    );
    const damaged = stored.slice(0, -6) + (stored.endsWith('AAAA==') ? 'BBBB==' : 'AAAA==');
    expect(() => vault(1).open(damaged, 7)).toThrow(/node 7's BMC password cannot be decrypted .*damaged/);
  });

  it('reads a key file; a bad one is an error naming the option and the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vault-'));
    const good = join(dir, 'good.key');
    writeFileSync(good, newPasswordKey());
    const v = PasswordVault.fromKeyFile(good);
    expect(v.open(v.seal('pw'), 1)).toBe('pw');
    expect(PasswordVault.fromKeyFile('').keyId).toBeUndefined();
    const short = join(dir, 'short.key');
    writeFileSync(short, 'c2hvcnQ=\n');
    expect(() => PasswordVault.fromKeyFile(short)).toThrow(
      `[baremetal] pm_password_key_file (${short}): the key must be 32 bytes in base64`,
    );
    expect(() => PasswordVault.fromKeyFile(join(dir, 'nope'))).toThrow(/pm_password_key_file \(.*nope\): ENOENT/);
  });
});
