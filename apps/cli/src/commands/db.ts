import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { redactUrl } from '@bm/config';
import { LATEST_VERSION, PasswordVault, ensureDatabase, newPasswordKey } from '@bm/db';
import { type CliSession, integer } from '../session';

/** `bmctl db …`: nova-baremetal-manage's db category. */
export function dbCommands(program: Command, session: CliSession): void {
  const db = program.command('db').description('the nova_bm schema (nova-baremetal-manage db)');
  db.command('sync')
    .description(`upgrade the schema to the latest version (${LATEST_VERSION}), or up/down to --version`)
    .option('--version <n>', 'target schema version', integer)
    .option('--create-database', 'create the database first if it does not exist')
    .action(async (o: { version?: number; createDatabase?: boolean }, cmd: Command) => {
      const s = session.for(cmd);
      const url = s.getConfig().baremetal.sql_connection;
      if (o.createDatabase && (await ensureDatabase(url))) s.env.io.err(`created database ${redactUrl(url)}`);
      const r = await (await s.database()).sync(o.version);
      s.print(r, () =>
        r.from === r.to ? `nova_bm schema is at version ${r.to}` : `nova_bm schema: version ${r.from} -> ${r.to}`,
      );
    });
  db.command('version')
    .description('print the schema version of the database')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const v = await (await s.database()).version();
      s.print({ version: v, latest: LATEST_VERSION }, () => String(v));
    });
  db.command('gen-key')
    .description('write a new key for [baremetal] pm_password_key_file (mode 0600; never overwrites)')
    .argument('<file>', 'where to write it')
    .option('--if-missing', 'do nothing when the file exists (for provisioning scripts)')
    .action((file: string, o: { ifMissing?: boolean }, cmd: Command) => {
      const s = session.for(cmd);
      try {
        writeFileSync(file, newPasswordKey(), { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if (!(o.ifMissing && (e as NodeJS.ErrnoException).code === 'EEXIST')) throw e;
        s.print({ file, created: false }, () => `${file} exists: kept`);
        return;
      }
      s.print({ file, created: true }, () => `wrote a new key to ${file}`);
    });
  db.command('re-encrypt')
    .description(
      'encrypt the BMC passwords stored in clear with the key of [baremetal] pm_password_key_file, ' +
        're-encrypt those of --old-key-file (a key rotation), and remove those of deleted nodes',
    )
    .option('--old-key-file <file>', 'the key the passwords are encrypted with now, when rotating')
    .action(async (o: { oldKeyFile?: string }, cmd: Command) => {
      const s = session.for(cmd);
      const old = o.oldKeyFile ? PasswordVault.fromKeyFile(o.oldKeyFile, '--old-key-file') : undefined;
      const r = await (await s.database()).nodes.reencryptPasswords(old);
      s.print(
        r,
        () =>
          `BMC passwords: ${r.sealed} encrypted, ${r.rekeyed} re-encrypted with the new key, ` +
          `${r.unchanged} already encrypted with it; ${r.scrubbed} removed from deleted nodes`,
      );
    });
}
