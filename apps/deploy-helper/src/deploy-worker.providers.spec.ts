import type { FactoryProvider } from '@nestjs/common';
import { DeployNode } from './deploy-node';
import { DeployWorker } from './deploy-worker';
import { deployWorkerProviders } from './deploy-worker.providers';

describe('deployWorkerProviders', () => {
  it('builds a DeployNode and a DeployWorker with [deploy_helper] deploy_workers as prefetch', () => {
    const [nodeP, workerP] = deployWorkerProviders() as FactoryProvider[];
    const config = {
      glance: { api_servers: ['http://127.0.0.1:9292'] },
      deploy_helper: { deploy_workers: 3, iscsi_attacher: 'userspace' },
    };
    const deploy = nodeP.useFactory(config, {}, {}, {}, {}) as DeployNode;
    expect(deploy).toBeInstanceOf(DeployNode);
    const worker = workerP.useFactory(config, {}, deploy) as DeployWorker;
    expect(worker).toBeInstanceOf(DeployWorker);
    const queue = (worker as unknown as { queue: { opts: { prefetch: number; queue: string } } }).queue;
    expect(queue.opts).toMatchObject({ prefetch: 3, queue: 'baremetal.deploy' });
  });
});
