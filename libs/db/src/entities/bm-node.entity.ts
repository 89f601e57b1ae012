import { Column, Entity, Index, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { NovaBase } from './nova-base';
import type { BmInterface } from './bm-interface.entity';

/**
 * `bm_nodes`, the Icehouse shape of nova_bm (nova/virt/baremetal/db/sqlalchemy/models.py,
 * migrations 001–010) plus `cpu_arch` (ours, migration 011) and the maintenance columns (ours,
 * migration 019). Column names are Nova's; every column of Nova's but `id` is nullable as in
 * Nova. Rows are soft-deleted (`deleted = true`).
 */
@Entity({ name: 'bm_nodes' })
@Index('idx_bm_nodes_service_host_deleted', ['service_host', 'deleted'])
@Index('idx_bm_nodes_instance_uuid_deleted', ['instance_uuid', 'deleted'])
@Index('idx_bm_nodes_hmcld', ['service_host', 'memory_mb', 'cpus', 'local_gb', 'deleted'])
// Migration 018's partial unique indexes (one live node per instance, per BMC address): TypeORM
// cannot express `lower(pm_address)` nor compare their WHERE clauses, so it leaves them alone.
@Index('bm_nodes_live_instance_uuid_ux', { synchronize: false })
@Index('bm_nodes_live_pm_address_ux', { synchronize: false })
export class BmNode extends NovaBase {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'bm_nodes_pkey' })
  id: number;

  @Index('uuid_ux', { unique: true })
  @Column({ type: 'varchar', length: 36, nullable: true })
  uuid: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  service_host: string | null;

  @Column({ type: 'varchar', length: 36, nullable: true })
  instance_uuid: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  instance_name: string | null;

  @Column({ type: 'integer', nullable: true })
  cpus: number | null;

  @Column({ type: 'integer', nullable: true })
  memory_mb: number | null;

  @Column({ type: 'integer', nullable: true })
  local_gb: number | null;

  @Column({ type: 'boolean', nullable: true, default: false })
  preserve_ephemeral: boolean | null;

  @Column({ type: 'text', nullable: true })
  pm_address: string | null;

  @Column({ type: 'text', nullable: true })
  pm_user: string | null;

  /** Never logged, printed or returned: see enrollment's node view. */
  @Column({ type: 'text', nullable: true })
  pm_password: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  task_state: string | null;

  @Column({ type: 'integer', nullable: true })
  terminal_port: number | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  image_path: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  pxe_config_path: string | null;

  @Index('deploy_key_idx')
  @Column({ type: 'varchar', length: 255, nullable: true })
  deploy_key: string | null;

  @Column({ type: 'integer', nullable: true })
  root_mb: number | null;

  @Column({ type: 'integer', nullable: true })
  swap_mb: number | null;

  @Column({ type: 'integer', nullable: true })
  ephemeral_mb: number | null;

  /** Ours (migration 011): the node's CPU architecture; NULL = the host's extra spec. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  cpu_arch: string | null;

  /** Ours (migration 019): out of service: not scheduled to, not claimed, reported unavailable. */
  @Column({ type: 'boolean', default: false })
  maintenance: boolean;

  /** Why, as the operator said it (`bmctl node maintenance on --reason`). */
  @Column({ type: 'text', nullable: true })
  maintenance_reason: string | null;

  /** When it was put in maintenance (naive UTC). */
  @Column({ type: 'timestamp', nullable: true })
  maintenance_at: Date | null;

  @OneToMany('BmInterface', (i: BmInterface) => i.node)
  interfaces?: BmInterface[];
}
