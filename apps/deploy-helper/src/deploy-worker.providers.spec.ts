import type { FactoryProvider } from '@nestjs/common';
import { DeployNode } from './deploy-node';
import { DeployWorker } from './deploy-worker';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@bm/service';
import { InvalidChapSettings, chapOf, deployWorkerProviders } from './deploy-worker.providers';

describe('deployWorkerProviders', () => {
  it('builds a DeployNode and a DeployWorker with [deploy_helper] deploy_workers as prefetch', () => {
    const [nodeP, workerP] = deployWorkerProviders() as FactoryProvider[];
    const config = {
      default: { graceful_shutdown_timeout: 7 },
      glance: { api_servers: ['http://127.0.0.1:9292'] },
      deploy_helper: {
        deploy_workers: 3,
        iscsi_attacher: 'userspace',
        iscsi_chap_user: '',
        iscsi_chap_password_file: '',
      },
    };
    const deploy = nodeP.useFactory(config, {}, {}, {}, {}, {}, new Metrics({ processMetrics: false })) as DeployNode;
    expect(deploy).toBeInstanceOf(DeployNode);
    const worker = workerP.useFactory(config, {}, deploy) as DeployWorker;
    expect(worker).toBeInstanceOf(DeployWorker);
    const queue = (worker as unknown as { queue: { opts: { prefetch: number; queue: string } } }).queue;
    expect(queue.opts).toMatchObject({ prefetch: 3, queue: 'baremetal.deploy' });
    expect((worker as unknown as { stopTimeoutMs: number }).stopTimeoutMs).toBe(7000);
  });

  it('CHAP: [deploy_helper] iscsi_chap_user with the secret read from iscsi_chap_password_file, both or neither', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chap-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 'the-secret\n', { mode: 0o600 });
    expect(chapOf({ iscsi_chap_user: '', iscsi_chap_password_file: '' } as never)).toBeUndefined();
    expect(chapOf({ iscsi_chap_user: 'deployer', iscsi_chap_password_file: file } as never)).toEqual({
      user: 'deployer',
      password: 'the-secret',
    });
    expect(() => chapOf({ iscsi_chap_user: 'deployer', iscsi_chap_password_file: '' } as never)).toThrow(
      InvalidChapSettings,
    );
    expect(() => chapOf({ iscsi_chap_user: 'deployer', iscsi_chap_password_file: join(dir, 'nope') } as never)).toThrow(
      /iscsi_chap_password_file: ENOENT/,
    );
    writeFileSync(file, '');
    expect(() => chapOf({ iscsi_chap_user: 'deployer', iscsi_chap_password_file: file } as never)).toThrow(/is empty/);
  });
});
