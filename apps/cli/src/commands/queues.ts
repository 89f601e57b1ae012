import type { Command } from 'commander';
import { DEPLOY_JOBS } from '@bm/contracts';
import {
  type DeadLetter,
  DeadLetters,
  ManagementApi,
  type QueueInfo,
  managementUrlFor,
  parseTransportUrl,
} from '@bm/messaging';
import { CliError } from '../errors';
import { type Column, table } from '../output';
import { type CliSession, collect, positiveInteger } from '../session';

/** The columns of `queues dead-letters list` (and of what replay moved). */
const DEAD_LETTER_COLUMNS: Column<DeadLetter>[] = [
  { header: '#', value: (l) => l.position },
  { header: 'Message ID', value: (l) => l.messageId },
  { header: 'Attempts', value: (l) => l.attempts },
  { header: 'Reason', value: (l) => l.reason },
  { header: 'Payload', value: (l) => l.payload },
  { header: 'Request ID', value: (l) => l.requestId, long: true },
  { header: 'Bytes', value: (l) => l.bytes, long: true },
  { header: 'Headers', value: (l) => l.headers, long: true },
];

/** `bmctl queues`: our exchanges and queues as RabbitMQ's management API sees them; dead-lettered jobs. */
export function queuesCommands(program: Command, session: CliSession): void {
  const queues = program
    .command('queues')
    .description('exchanges and queues on the broker: depth, consumers, dead-lettered jobs')
    .option('--all', 'also list reply_* queues')
    .action(async (o: { all?: boolean }, cmd: Command) => {
      const s = session.for(cmd);
      const c = s.getConfig().default;
      const vhost = parseTransportUrl(c.transport_url).vhost;
      const api = new ManagementApi(c.rabbit_management_url || managementUrlFor(c.transport_url), vhost, s.env.fetch);
      const [exchanges, all] = await Promise.all([api.exchanges(), api.queues()]);
      const shown = all.filter((q) => o.all || !q.name.startsWith('reply_'));
      // Two lists in one: as data for -f json|yaml, as two tables otherwise.
      s.print({ exchanges, queues: shown }, () =>
        [
          table(
            ['Exchange', 'Type', 'Durable', 'Auto-delete'],
            exchanges.map((e) => [e.name, e.type, e.durable, e.autoDelete]),
          ),
          table(
            ['Queue', 'Messages', 'Ready', 'Unacked', 'Consumers', 'Dead-lettered', 'Durable', 'Expires'],
            shown.map((q) => [
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
          o.all ? '' : `(${all.length - shown.length} reply_* queues hidden; --all shows them)`,
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });

  const dead = queues
    .command('dead-letters')
    .description('jobs that failed every attempt, in <queue>.dead: list, replay to the job queue, purge');
  const deadLetters = async (s: CliSession, queue?: string) => {
    const name = queue ?? s.getConfig().deploy_helper.job_queue;
    return new DeadLetters(await s.broker(), { queue: name, exchange: DEPLOY_JOBS.exchange });
  };
  const queueOption = '--queue <queue>';
  const queueHelp = 'the job queue (default: [deploy_helper] job_queue); its dead letters are in <queue>.dead';

  dead
    .command('list')
    .description('the dead letters, oldest first, with why and how often they failed; they stay where they are')
    .option(queueOption, queueHelp)
    .option('--limit <n>', 'the oldest n only', positiveInteger)
    .action(async (o: { queue?: string; limit?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const d = await deadLetters(s, o.queue);
      const { total, letters } = await d.list({ limit: o.limit });
      s.printList(letters, DEAD_LETTER_COLUMNS);
      if (letters.length < total) s.env.io.err(`(the oldest ${letters.length} of ${total} in ${d.deadQueue})`);
    });

  dead
    .command('replay')
    .description(
      'move dead letters back to the job queue, oldest first, with fresh attempts (each confirmed there before it leaves)',
    )
    .option(queueOption, queueHelp)
    .option('--id <message-id>', 'only this job (its Message ID; repeatable)', collect)
    .option('--count <n>', 'at most n', positiveInteger)
    .action(async (o: { queue?: string; id?: string[]; count?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const d = await deadLetters(s, o.queue);
      const replayed = await d.replay({ limit: o.count, messageIds: o.id });
      s.printList(replayed, DEAD_LETTER_COLUMNS);
      s.env.io.err(`replayed ${replayed.length} dead letter(s) from ${d.deadQueue} to ${d.queue}`);
      const missing = (o.id ?? []).filter((id) => !replayed.some((l) => l.messageId === id));
      if (missing.length) throw new CliError(`no dead letter ${missing.join(', ')} in ${d.deadQueue}`, 'not_found');
    });

  dead
    .command('purge')
    .description('delete dead letters for good: all of them, or the oldest --count')
    .option(queueOption, queueHelp)
    .option('--count <n>', 'the oldest n only', positiveInteger)
    .action(async (o: { queue?: string; count?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const d = await deadLetters(s, o.queue);
      const purged = await d.purge({ limit: o.count });
      s.print({ queue: d.deadQueue, purged }, () => `purged ${purged} dead letter(s) from ${d.deadQueue}`);
    });
}

function expires(q: QueueInfo): string {
  const ms = Number(q.arguments['x-expires']);
  return ms ? `${Math.round(ms / 60000)} min unused` : '';
}
