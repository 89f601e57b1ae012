import type { Command } from 'commander';
import { redactUrl } from '@bm/config';
import { LATEST_VERSION, ensureDatabase } from '@bm/db';
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
}
