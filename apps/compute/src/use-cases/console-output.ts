import { open } from 'node:fs/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { ConsoleNotAvailable } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import { CONSOLE_LOG_MAX_BYTES, consoleLogPath, consoleTail } from '../console-log';
import type { InstanceRef } from '../instance-args';

/**
 * get_console_output: the end of the node's console log (console-log.ts: Nova's layout under
 * `[DEFAULT] instances_path`), its last `tail_length` lines as Nova's manager cuts them. An
 * instance on no node of this host: InstanceNotFound; a node without a log (nova-bm keeps none
 * itself): Nova's ConsoleNotAvailable, which Nova's API turns into 404 "console not available".
 */
@Injectable()
export class ConsoleOutput {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
  ) {}

  async run(instance: InstanceRef, tailLength: unknown): Promise<string> {
    await this.nodes.instanceNode(instance.uuid, this.config.default.host);
    const path = consoleLogPath(this.config.default.instances_path, instance.uuid);
    let log: Buffer;
    try {
      log = await readEnd(path, CONSOLE_LOG_MAX_BYTES);
    } catch {
      throw new ConsoleNotAvailable();
    }
    return consoleTail(log, tailLength);
  }
}

/** The last `max` bytes of a regular file. */
async function readEnd(path: string, max: number): Promise<Buffer> {
  const f = await open(path, 'r');
  try {
    const st = await f.stat();
    if (!st.isFile()) throw new Error(`${path} is not a file`);
    const length = Math.min(st.size, max);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await f.read(buf, 0, length, st.size - length);
    return buf.subarray(0, bytesRead);
  } finally {
    await f.close();
  }
}
