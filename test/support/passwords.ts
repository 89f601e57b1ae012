import { join } from 'node:path';
import { PasswordVault } from '@bm/db';

/**
 * The key every test's services and bmctl seal BMC passwords with (`[baremetal]
 * pm_password_key_file`, BM_PM_PASSWORD_KEY_FILE in siteEnv): a fixed key for tests only.
 */
export const TEST_PASSWORD_KEY_FILE = join(__dirname, 'pm-password.key');

/** The vault of TEST_PASSWORD_KEY_FILE, for tests that enroll or read nodes themselves. */
export function testPasswordVault(): PasswordVault {
  return PasswordVault.fromKeyFile(TEST_PASSWORD_KEY_FILE);
}
