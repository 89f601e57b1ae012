import { ConductorClient, NOVA_COMPUTE_SERVICE_VERSION, NovaServiceReporter } from '@bm/contracts';
import { AmqpConnection, MessagingTimeout, RpcClient } from '@bm/messaging';
import { privateVhost, uniqueName } from '../support/amqp';
import { type NovaConductor, startNovaConductor } from '../support/nova';

// Our side of Nova's conductor (libs/contracts conductor.ts) against Debian's real nova-conductor
// (Nova Zed) on a Nova database in the test PostgreSQL: a compute host's `services` record found
// or created and kept alive through object_class_action_versions / object_action, as nova-compute
// does it, and Nova's own table shows it.
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
});
