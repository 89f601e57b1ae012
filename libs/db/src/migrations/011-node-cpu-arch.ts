import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ours: a per-node CPU architecture. Nova took it host-wide from `instance_type_extra_specs`,
 * which forces one architecture per compute host; `baremetal.csv` may name it per node.
 */
export class NodeCpuArch1700000000011 implements MigrationInterface {
  name = 'NodeCpuArch1700000000011';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE bm_nodes ADD COLUMN cpu_arch varchar(255)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE bm_nodes DROP COLUMN cpu_arch`);
  }
}
