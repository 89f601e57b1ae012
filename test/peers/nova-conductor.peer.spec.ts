import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  ConductorClient,
  NOVA_COMPUTE_SERVICE_VERSION,
  NovaInstances,
  type NovaObjectPrimitive,
  NovaServiceReporter,
} from '@bm/contracts';
import { InstanceDeployFailure } from '@bm/domain';
import { AmqpConnection, MessagingTimeout, RemoteError, RpcClient } from '@bm/messaging';
import { privateVhost, uniqueName } from '../support/amqp';
import { type NovaConductor, startNovaConductor } from '../support/nova';
import { runPythonJson } from '../support/python';

// Our side of Nova's conductor (libs/contracts conductor.ts) against Debian's real nova-conductor
// (Nova Zed) on a Nova database in the test PostgreSQL, as nova-compute uses it, and Nova's own
// tables show it: a compute host's `services` record found or created and kept alive
// (object_class_action_versions / object_action); an instance created by Nova's own code as its
// API does, then moved through a build by Instance.save with expected_task_state; a fault.
jest.setTimeout(240_000);

describe("Nova's conductor: the compute service record (nova-conductor, Zed)", () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let nova: NovaConductor;
  let conn: AmqpConnection;
  let conductor: ConductorClient;
  const host = uniqueName('bm-host');

  beforeAll(async () => {
    vhost = await privateVhost('nova');
    nova = await startNovaConductor({ transportUrl: vhost.transportUrl, vhost: vhost.name });
    conn = await AmqpConnection.open({ url: vhost.transportUrl });
    conductor = new ConductorClient(new RpcClient(conn, { exchange: 'nova' }), 20);
  }, 240_000);

  afterAll(async () => {
    await conn?.close();
    await nova?.stop();
    await vhost?.drop();
  });

  const row = async () =>
    (
      await nova.query<{
        id: number;
        host: string;
        binary: string;
        topic: string;
        report_count: number;
        version: number;
        deleted: number;
      }>(`SELECT id, host, "binary", topic, report_count, version, deleted FROM services WHERE host = $1`, [host])
    ).map((r) => ({ ...r, id: Number(r.id) }));

  it("creates the record on the first report, then counts every report in Nova's services table", async () => {
    expect(await row()).toEqual([]);
    const reporter = new NovaServiceReporter(conductor, host);
    const first = await reporter.report();
    expect(first).toMatchObject({ host, binary: 'nova-compute', topic: 'compute', report_count: 1 });
    expect(first.id).toEqual(expect.any(Number));
    await reporter.report();
    await reporter.report();
    expect(await row()).toEqual([
      {
        id: first.id,
        host,
        binary: 'nova-compute',
        topic: 'compute',
        report_count: 3,
        version: NOVA_COMPUTE_SERVICE_VERSION,
        deleted: 0,
      },
    ]);
  });

  it('a restarted compute finds its record (no second row) and counts on', async () => {
    const again = new NovaServiceReporter(conductor, host);
    const r = await again.report();
    expect(r.report_count).toBe(4);
    expect((await row()).map((x) => [x.id, x.report_count])).toEqual([[r.id, 4]]);
  });

  it('with no conductor on the bus, a report fails with MessagingTimeout in bounded time', async () => {
    const lone = await privateVhost('nova-none');
    const c = await AmqpConnection.open({ url: lone.transportUrl });
    try {
      const nobody = new NovaServiceReporter(new ConductorClient(new RpcClient(c, { exchange: 'nova' }), 1), host);
      await expect(nobody.report()).rejects.toBeInstanceOf(MessagingTimeout);
    } finally {
      await c.close();
      await lone.drop();
    }
  });

  describe('an instance built: Instance.save through the conductor, as nova-compute saves it', () => {
    const uuid = randomUUID();
    let instance: NovaObjectPrimitive;
    const instances = () => new NovaInstances(conductor);
    const dbRow = async () =>
      (
        await nova.query<Record<string, unknown>>(
          // Nova keeps naive UTC timestamps: read them as text, away from any time zone.
          `SELECT vm_state, task_state, power_state, host, node,
                  to_char(launched_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS launched_at
             FROM instances WHERE uuid = $1`,
          [uuid],
        )
      )[0];

    beforeAll(async () => {
      // Nova's API side: the instance row, made by Nova's own objects with direct database access.
      instance = await runPythonJson<NovaObjectPrimitive>(
        [join(__dirname, 'nova-conductor/create_instance.py')],
        { conf: nova.conf, uuid, name: 'vm-bm-1' },
        { timeoutMs: 60_000, label: 'create_instance.py' },
      );
      expect(instance['nova_object.name']).toBe('Instance');
    });

    it("claimed, spawning, then active: each save checked against the task_state expected, Nova's row follows", async () => {
      expect(await dbRow()).toMatchObject({ vm_state: 'building', task_state: 'scheduling', host: null });
      let saved = await instances().save(instance, { host, node: 'node-uuid-1', task_state: 'spawning' }, 'scheduling');
      expect(await dbRow()).toMatchObject({ vm_state: 'building', task_state: 'spawning', host, node: 'node-uuid-1' });
      const launched = new Date('2026-12-07T12:00:00Z');
      saved = await instances().save(
        saved,
        { vm_state: 'active', task_state: null, power_state: 1, launched_at: launched },
        'spawning',
      );
      expect(saved['nova_object.data']).toMatchObject({ vm_state: 'active', task_state: null, power_state: 1 });
      expect(await dbRow()).toMatchObject({ vm_state: 'active', task_state: null, power_state: 1, host });
      expect((await dbRow()).launched_at).toBe('2026-12-07T12:00:00Z');
      instance = saved;
    });

    it("a save whose expected task_state is not the row's is refused with Nova's UnexpectedTaskStateError; nothing changes", async () => {
      const e = await instances()
        .save(instance, { vm_state: 'error' }, 'deleting')
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(RemoteError);
      expect([(e as RemoteError).name, (e as RemoteError).remote.module]).toEqual([
        'UnexpectedTaskStateError',
        'nova.exception',
      ]);
      expect(await dbRow()).toMatchObject({ vm_state: 'active', task_state: null });
    });

    it('a fault is recorded against the instance, as add_instance_fault_from_exc does', async () => {
      await instances().fault(uuid, host, new InstanceDeployFailure('PXE deploy failed for instance'));
      const faults = await nova.query<{ code: number; message: string; host: string }>(
        'SELECT code, message, host FROM instance_faults WHERE instance_uuid = $1',
        [uuid],
      );
      expect(faults).toEqual([{ code: 500, message: 'PXE deploy failed for instance', host }]);
    });
  });
});
