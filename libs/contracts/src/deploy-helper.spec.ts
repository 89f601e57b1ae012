import { DEPLOY_JOBS, deployHelperAnswer, deployJobId, deployKeySha256, parseDeployJob } from './deploy-helper';

const JOB = {
  node_id: 7,
  instance_uuid: '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e',
  key_sha256: deployKeySha256('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'),
  address: '10.77.0.21',
  port: 3260,
  iqn: 'iqn-0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e',
  lun: 1,
};

describe('deploy jobs', () => {
  it('names the durable queue', () => {
    expect(DEPLOY_JOBS).toEqual({ exchange: 'baremetal.jobs', queue: 'baremetal.deploy' });
  });

  it('carries the hex SHA-256 of the key, and the message id is node:hash', () => {
    expect(deployKeySha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(deployJobId(JOB)).toBe(`7:${JOB.key_sha256}`);
  });

  it('validates a job: the fields, an optional ramdisk error, nothing else', () => {
    expect(parseDeployJob(JOB)).toMatchObject({ ok: true, value: JOB });
    expect(parseDeployJob({ ...JOB, ramdisk_error: 'no disk' })).toMatchObject({ ok: true });
    const bad = parseDeployJob({ ...JOB, node_id: 0, key_sha256: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', key: 'x' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems.map((p) => p.field).sort()).toEqual(['key', 'key_sha256', 'node_id']);
    expect(parseDeployJob({ ...JOB, address: 'node1', port: 70000, lun: 256 })).toMatchObject({ ok: false });
  });
});

describe('deployHelperAnswer', () => {
  it('writes the 403, 409, 503 and 500 answers', () => {
    expect(deployHelperAnswer('not_from_node', { nodeId: 3, remoteAddress: '10.0.0.9' })).toEqual({
      status: 403,
      body: 'request from 10.0.0.9 is not from an address reserved for node 3',
    });
    expect(deployHelperAnswer('not_waiting', { nodeId: 3, taskState: 'active', hasInstance: true })).toEqual({
      status: 409,
      body: 'node 3 is not waiting for a deploy (task_state active)',
    });
    expect(deployHelperAnswer('not_waiting', { nodeId: 3, taskState: null, hasInstance: false }).body).toBe(
      'node 3 is not waiting for a deploy (task_state NULL, no instance)',
    );
    expect(deployHelperAnswer('not_queued').status).toBe(503);
    expect(deployHelperAnswer('internal_error')).toEqual({ status: 500, body: 'Internal Server Error' });
  });
});
