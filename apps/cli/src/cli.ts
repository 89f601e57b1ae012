import { Command, CommanderError } from 'commander';
import { inRequest } from '@bm/core';
import { LATEST_VERSION } from '@bm/db';
import { version } from '../package.json';
import { dbCommands } from './commands/db';
import { flavorCommands } from './commands/flavor';
import { interfaceCommands } from './commands/interface';
import { hypervisorCommands } from './commands/hypervisor';
import { imageCommands } from './commands/image';
import { instanceCommands } from './commands/instance';
import { ipmiCommands } from './commands/ipmi';
import { nodeCommands } from './commands/node';
import { queuesCommands } from './commands/queues';
import { rpcCommands } from './commands/rpc';
import { Exit, describeError } from './errors';
import { CliSession, type CliEnv, addGlobalOptions } from './session';

export type { CliEnv };

/**
 * bmctl: mirrors `nova-baremetal-manage db …` and the `nova baremetal-node-* /
 * baremetal-interface-*` commands, and gives the operator the message bus (`queues`, `rpc`).
 * Returns the exit status.
 */
export async function runCli(argv: string[], env: CliEnv): Promise<number> {
  const { io } = env;
  const session = new CliSession(env);
  const program = new Command('bmctl')
    .description('Operate nova-bm: the nova_bm database, enrolled nodes, their interfaces, the message bus, BMCs.')
    .version(`bmctl ${version} (nova_bm schema version ${LATEST_VERSION})`, '-V, --version', 'print the version')
    // An option belongs to the command it follows: bmctl's (--version, the global ones) come
    // before a command's name; after it, the global ones are the command's copies (addGlobalOptions),
    // and a command's own --version or --format is its own. Subcommands inherit this.
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  dbCommands(program, session);
  nodeCommands(program, session);
  interfaceCommands(program, session);
  hypervisorCommands(program, session);
  flavorCommands(program, session);
  instanceCommands(program, session);
  queuesCommands(program, session);
  rpcCommands(program, session);
  ipmiCommands(program, session);
  imageCommands(program, session);
  addGlobalOptions(program);
  // Every subcommand reports usage errors the same way.
  const override = (c: Command) => {
    c.exitOverride().showHelpAfterError();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);

  try {
    // One command, one request: every RPC it makes carries the same request_id (oslo's).
    await inRequest(() => program.parseAsync(argv, { from: 'user' }));
    return Exit.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version are "errors" to commander; everything else is a usage error.
      return e.exitCode === 0 ? Exit.OK : Exit.USAGE;
    }
    const d = describeError(e, session.databaseUrl);
    io.err(`bmctl: ${d.message}`);
    return d.code;
  } finally {
    await session.close();
  }
}
