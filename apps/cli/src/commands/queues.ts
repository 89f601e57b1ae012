import type { Command } from 'commander';
import { ManagementApi, type QueueInfo, managementUrlFor, parseTransportUrl } from '@bm/messaging';
import { table } from '../output';
import type { CliSession } from '../session';

/** `bmctl queues`: our exchanges and queues as RabbitMQ's management API sees them. */
export function queuesCommands(program: Command, session: CliSession): void {
  program
    .command('queues')
    .description('exchanges and queues on the broker: depth, consumers, dead-lettered jobs')
    .option('--all', 'also list reply_* queues')
    .action(async (o: { all?: boolean }, cmd: Command) => {
      const s = session.for(cmd);
      const c = s.getConfig().default;
      const vhost = parseTransportUrl(c.transport_url).vhost;
      const api = new ManagementApi(c.rabbit_management_url || managementUrlFor(c.transport_url), vhost, s.env.fetch);
      const [exchanges, all] = await Promise.all([api.exchanges(), api.queues()]);
      const queues = all.filter((q) => o.all || !q.name.startsWith('reply_'));
      s.print({ exchanges, queues }, () =>
        [
          table(
            ['Exchange', 'Type', 'Durable', 'Auto-delete'],
            exchanges.map((e) => [e.name, e.type, e.durable, e.autoDelete]),
          ),
          table(
            ['Queue', 'Messages', 'Ready', 'Unacked', 'Consumers', 'Dead-lettered', 'Durable', 'Expires'],
            queues.map((q) => [
              q.name,
              q.messages,
              q.messagesReady,
              q.messagesUnacked,
              q.consumers,
              q.dead ?? '',
              q.durable,
              expires(q),
            ]),
          ),
          o.all ? '' : `(${all.length - queues.length} reply_* queues hidden; --all shows them)`,
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });
}

function expires(q: QueueInfo): string {
  const ms = Number(q.arguments['x-expires']);
  return ms ? `${Math.round(ms / 60000)} min unused` : '';
}
