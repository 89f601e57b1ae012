import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeRepository } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { type TestBus, openBus, uniqueName, until } from './support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from './support/database';
import { SMALL_NODE } from './support/nodes';
import { type ServiceProcess, serviceEnv, startService } from './support/service';

// Logs an operator can ship: power and compute, built, with oslo.log's use_json and log_dir.
// One request (compute's start_instance, which asks power to power the node on) crosses both;
// each file is parsed line by line.
const HOST = uniqueName('cn-logs');
const INSTANCE = randomUUID();
const REQUEST_ID = `req-${randomUUID()}`;
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

type Line = Record<string, unknown>;

/** Every line of a log file, each required to be one JSON object with oslo's fields. */
function jsonLines(file: string, service: string): Line[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  expect(text).not.toContain('\u001b');
  return text
    .slice(0, -1)
    .split('\n')
    .map((raw, i) => {
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        throw new Error(`${file}:${i + 1} is not JSON: ${raw}`);
      }
      expect(line).toMatchObject({ service, host: HOST, message: expect.any(String) });
      expect(LEVELS).toContain(line.level);
      expect(new Date(line.timestamp as string).toISOString()).toBe(line.timestamp);
      expect(line.request_id === null || typeof line.request_id === 'string').toBe(true);
      return line;
    });
}

describe('JSON logs (use_json, log_dir) of a request crossing compute and power', () => {
  let db: NovaBmDatabase;
  let bus: TestBus;
  let dir: string;
  let node: { id: number; uuid: string };
  const services: ServiceProcess[] = [];
  const exchange = uniqueName('logs');
  const powerRecord = async (): Promise<string | null> => {
    const rows = (await db.ds.query('SELECT power_state FROM bm_node_power WHERE node_id = $1', [node.id])) as {
      power_state: string | null;
    }[];
    return rows[0]?.power_state ?? null;
  };

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_logs');
    bus = await openBus(exchange);
    dir = mkdtempSync(join(tmpdir(), 'bm-logs-'));
    const n = await new EnrollmentService(db.ds, HOST).createNode({ ...SMALL_NODE, macs: ['52:54:00:16:03:01'] });
    node = { id: n.id, uuid: n.uuid! };
    // An instance active on the node, as a finished spawn leaves it.
    const nodes = new NodeRepository(db.ds);
    await nodes.associate(node.uuid, HOST, INSTANCE, 'logs-1');
    for (const event of ['prepared', 'deploy_started', 'deploy_done', 'activated'] as const)
      await nodes.transition(node.id, INSTANCE, event);
  });
  afterAll(async () => {
    for (const s of services) await s.stop();
    await bus?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every line is JSON with service, host, level and message; the request has one id in both; node lines carry the node', async () => {
    const logging = {
      BM_USE_JSON: 'true',
      BM_LOG_DIR: dir,
      // The file, and stderr too (oslo's use_stderr): what waitFor reads.
      BM_USE_STDERR: 'true',
      BM_DEBUG: 'true',
      BM_POWER_MANAGER: 'fake',
      BM_POWER_SYNC_INTERVAL: '1',
    };
    const site = { databaseUrl: db.url, exchange, host: HOST };
    const power = startService('power', await serviceEnv(site, logging));
    services.push(power);
    const compute = startService('compute', await serviceEnv(site, logging));
    services.push(compute);
    await Promise.all([power.waitFor('rpc=', 30_000), compute.waitFor('rpc=', 30_000)]);

    const answer = await bus.rpc.call(
      { topic: 'compute', server: HOST },
      'start_instance',
      { instance: { uuid: INSTANCE } },
      { version: '6.0', timeout: 20, context: { request_id: REQUEST_ID, roles: ['admin'], is_admin: true } },
    );
    expect(answer).toEqual({ node: node.uuid, power_state: 'on' });
    // The call itself brings the power record up to date (the node list need not wait for a sync)...
    await until(powerRecord, 'on', 10_000);
    // ...so the sync sees a change only when one is made behind the service's back: here the record
    // is put back to off (as if the node had been powered on at its front panel since).
    await db.ds.query(`UPDATE bm_node_power SET power_state = 'off' WHERE node_id = $1`, [node.id]);
    await power.waitFor('power state changed from off to on (power sync)', 10_000);
    expect(await compute.stop()).toBe(0);
    expect(await power.stop()).toBe(0);

    const computeLines = jsonLines(join(dir, 'compute.log'), 'compute');
    const powerLines = jsonLines(join(dir, 'power.log'), 'power');
    // The start-up line, as on the console.
    expect(computeLines.some((l) => String(l.message).startsWith(`host=${HOST} `))).toBe(true);

    // One request id, created by the caller, in both services.
    const mine = (lines: Line[]) => lines.filter((l) => l.request_id === REQUEST_ID);
    const nodeIds = { node_id: node.id, node_uuid: node.uuid };
    expect(mine(computeLines)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          level: 'INFO',
          context: 'power',
          message: `instance ${INSTANCE}: powering on node ${node.id}`,
          ...nodeIds,
          instance_uuid: INSTANCE,
        }),
        expect.objectContaining({ level: 'DEBUG', message: expect.stringMatching(/^RPC start_instance \(call/) }),
      ]),
    );
    expect(mine(powerLines)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          level: 'INFO',
          context: 'power-timeline',
          message: expect.stringMatching(new RegExp(`^node ${node.id}: power on: node is on \\(\\d+ ms\\)$`)),
          ...nodeIds,
        }),
        expect.objectContaining({ level: 'DEBUG', message: expect.stringMatching(/^RPC power_on \(call/) }),
      ]),
    );

    // The power sync: each run a request of its own (oslo's req-<uuid4>), each node's lines its ids.
    const synced = powerLines.filter((l) => /power sync\)$/.test(String(l.message)));
    expect(synced.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        `node ${node.id}: power state changed from off to on (power sync)`,
        `node ${node.id}: power state off (first power sync)`,
      ]),
    );
    for (const l of synced) {
      expect(l).toMatchObject(nodeIds);
      expect(l.request_id).toMatch(/^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(l.request_id).not.toBe(REQUEST_ID);
    }
    process.stdout.write(
      `logs: compute.log ${computeLines.length} lines (${mine(computeLines).length} of the request), ` +
        `power.log ${powerLines.length} lines (${mine(powerLines).length} of the request)\n`,
    );
  }, 90_000);

  it('a log file it cannot open stops the service at start (exit 3), naming the file', async () => {
    const missing = join(dir, 'no-such-dir');
    const p = startService(
      'power',
      await serviceEnv({ databaseUrl: db.url, exchange, host: HOST }, { BM_LOG_DIR: missing }),
    );
    services.push(p);
    expect(await p.exited).toBe(3);
    expect(p.output()).toContain(`power: cannot open the log file ${join(missing, 'power.log')}: ENOENT`);
  });
});
