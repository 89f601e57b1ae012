import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import type { DataSource } from 'typeorm';
import { DEPLOY_JOBS, deployKeySha256 } from '@bm/contracts';
import { DhcpReservationRepository } from '@bm/db';
import { AmqpConnection, JobQueue } from '@bm/messaging';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { enrollNode } from '../../../test/support/nodes';
import { freeTcpPort } from '../../../test/support/ports';
import { type ServiceProcess, serviceEnv, siteJobQueue, startService } from '../../../test/support/service';

// The built deploy helper (dist/apps/deploy-helper/main.js) on PostgreSQL and RabbitMQ, called as
// the deploy ramdisk calls it: curl from the node's reserved loopback address (the ramdisk's
// `wget --post-data`), and once busybox wget itself. The callback listens on its real port:
// `[deploy_helper] callback_port` is not resolved by libs/config yet.
const run = promisify(execFile);
const HOST = 'cn-deploy';
/** The callback's URL: a free port ([deploy_helper] callback_port) instead of 10000, so tests never clash. */
let URL = '';
const KEY = 'K3YK3YK3YK3YK3YK3YK3YK3YK3YK3Y01';
const WGET_KEY = 'WGETWGETWGETWGETWGETWGETWGETWG02';
const FROM = '127.0.0.61';
const ELSEWHERE = '127.0.0.62';

interface Node {
  id: number;
  instance: string;
  key: string;
}

/** curl as the ramdisk's wget: the body, the status (last line). */
async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args, URL]);
  const lines = stdout.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

const form = (n: Node, key = n.key) => `i=${n.id}&k=${key}&a=10.77.0.61&n=iqn-${n.instance}&e=`;

describe('deploy-helper callback', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let service: ServiceProcess;
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;
  const nodes: Node[] = [];

  /** A node enrolled with one MAC reserved at `ip`, then prepared for an instance with `key`. */
  const preparedNode = async (mac: string, ip: string, key: string): Promise<Node> => {
    const id = await enrollNode(ds, HOST, { macs: [mac], pm_address: `10.0.0.${nodes.length + 61}` });
    await new DhcpReservationRepository(ds).save({ mac, ip, active: true });
    const instance = (await ds.query(`SELECT gen_random_uuid()::text AS u`))[0].u as string;
    await ds.query(
      `UPDATE bm_nodes SET instance_uuid = $2, instance_name = 'vm', task_state = 'prepared', deploy_key = $3,
              pxe_config_path = $4, image_path = '/img/disk', root_mb = 1024, swap_mb = 64 WHERE id = $1`,
      [id, instance, key, `/tftpboot/${instance}/config`],
    );
    return { id, instance, key };
  };
  const state = async (n: Node) =>
    (await ds.query(`SELECT task_state, instance_uuid FROM bm_nodes WHERE id = $1`, [n.id]))[0];
  let queue: string;
  const queued = async () => (await ch.checkQueue(queue)).messageCount;

  beforeAll(async () => {
    const port = await freeTcpPort();
    URL = `http://127.0.0.1:${port}/`;
    db = await createNovaBmDatabase('bm_deploy');
    ds = db.ds;
    nodes.push(await preparedNode('52:54:00:d1:00:01', FROM, KEY));
    // busybox wget cannot choose its source address: this node's reservation is 127.0.0.1.
    nodes.push(await preparedNode('52:54:00:d1:00:02', '127.0.0.1', WGET_KEY));
    const site = { databaseUrl: db.url, exchange: uniqueName('deploy'), host: HOST };
    queue = siteJobQueue(site); // [deploy_helper] job_queue of this site's deploy helper
    const bus = await AmqpConnection.open({ url: TEST_AMQP_URL });
    await new JobQueue(bus, { queue, exchange: DEPLOY_JOBS.exchange }).declare();
    await bus.close();
    conn = await amqp.connect(TEST_AMQP_URL.replace(/^rabbit:/, 'amqp:'));
    ch = await conn.createChannel();
    const env = await serviceEnv(site);
    // deploy_workers = 0: this process answers callbacks only, so the jobs stay on the queue to be read.
    service = startService('deploy-helper', { ...env, BM_CALLBACK_PORT: String(port), BM_DEPLOY_WORKERS: '0' });
    await service.waitFor('deploy callback on');
  });

  afterAll(async () => {
    if (service) expect(await service.stop()).toBe(0);
    await ch?.deleteQueue(queue).catch(() => undefined);
    await ch?.deleteQueue(`${queue}.dead`).catch(() => undefined);
    await conn?.close();
    await db?.drop();
  });

  /** Each refusal leaves the node prepared and the queue as it was. */
  const refused = async (args: string[], status: number, body: string) => {
    const before = await queued();
    expect(await curl(args)).toEqual({ status, body });
    expect(await state(nodes[0])).toEqual({ task_state: 'prepared', instance_uuid: nodes[0].instance });
    expect(await queued()).toBe(before);
  };

  it('refuses a wrong key, an unknown node, another address, a GET and an oversized body', async () => {
    const n = nodes[0];
    await refused(['--interface', FROM, '--data', form(n, KEY.replace('K', 'Q'))], 400, 'key is not match');
    await refused(['--interface', FROM, '--data', form({ ...n, id: 999999 })], 400, 'key is not match');
    await refused(
      ['--interface', ELSEWHERE, '--data', form(n)],
      403,
      `request from ${ELSEWHERE} is not from an address reserved for node ${n.id}`,
    );
    await refused(['--interface', FROM], 501, 'Not Implemented');
    await refused(
      ['--interface', FROM, '--data', `${form(n)}&x=${'y'.repeat(5000)}`],
      413,
      'request body is larger than 4096 bytes',
    );
  });

  it("accepts the ramdisk's post from its reserved address: 200, deploying, one durable job", async () => {
    const n = nodes[0];
    expect(await queued()).toBe(0);
    expect(await curl(['--interface', FROM, '--data', form(n)])).toEqual({ status: 200, body: '' });
    expect(await state(n)).toEqual({ task_state: 'deploying', instance_uuid: n.instance });
    await eventually(async () => expect(await queued()).toBe(1));
    const m = await ch.get(queue, { noAck: false });
    if (!m) throw new Error('no job');
    ch.nack(m, false, true); // back on the queue: the count below still sees it
    expect(m.properties.deliveryMode).toBe(2);
    expect(m.properties.messageId).toBe(`${n.id}:${deployKeySha256(KEY)}`);
    const job = JSON.parse(m.content.toString('utf8'));
    expect(job).toEqual({
      node_id: n.id,
      instance_uuid: n.instance,
      key_sha256: deployKeySha256(KEY),
      address: '10.77.0.61',
      port: 3260,
      iqn: `iqn-${n.instance}`,
      lun: 1,
    });
    expect(m.content.toString('utf8')).not.toContain(KEY);
    expect(service.output()).toContain(`node ${n.id} instance ${n.instance}: deploying`);
    expect(service.output()).not.toContain(KEY);
  });

  it('a second callback for the same deploy gets 409 and changes nothing', async () => {
    const n = nodes[0];
    const before = await queued();
    expect(await curl(['--interface', FROM, '--data', form(n)])).toEqual({
      status: 409,
      body: `node ${n.id} is not waiting for a deploy (task_state deploying)`,
    });
    expect(await state(n)).toEqual({ task_state: 'deploying', instance_uuid: n.instance });
    expect(await queued()).toBe(before);
  });

  it('accepts busybox wget --post-data, as the ramdisk sends it', async () => {
    const n = nodes[1];
    const before = await queued();
    const { stdout } = await run('busybox', ['wget', '-q', '-O', '-', '--post-data', form(n), URL], {
      timeout: 10_000,
    });
    expect(stdout).toBe('');
    expect(await state(n)).toEqual({ task_state: 'deploying', instance_uuid: n.instance });
    await eventually(async () => expect(await queued()).toBe(before + 1));
  });

  it('survives every refusal: still serving, no crash', async () => {
    expect(service.child.exitCode).toBeNull();
    expect((await curl(['-X', 'PUT'])).status).toBe(501);
  });
});
