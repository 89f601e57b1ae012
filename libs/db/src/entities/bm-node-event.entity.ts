import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { BmNode } from './bm-node.entity';

/**
 * Ours (migration 016): one thing that happened to a node, for its timeline. `at` is naive UTC;
 * `detail` is one human line, never a secret. bigint columns come back from pg as strings.
 */
@Entity({ name: 'bm_node_events' })
@Index('idx_bm_node_events_node_id_at_id', ['node_id', 'at', 'id'])
export class BmNodeEvent {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'bm_node_events_pkey' })
  id: string;

  @Column({ type: 'integer' })
  node_id: number;

  @ManyToOne('BmNode', { nullable: false })
  @JoinColumn({ name: 'node_id', foreignKeyConstraintName: 'bm_node_events_node_id_fkey' })
  node?: BmNode;

  @Column({ type: 'timestamp' })
  at: Date;

  /** The service that recorded it: compute, power, netboot, deploy-helper, bmctl. */
  @Column({ type: 'varchar', length: 32 })
  source: string;

  /** What happened, dotted: power.on, dhcp.ack, tftp.file, deploy.callback, deploy.step, state. */
  @Column({ type: 'varchar', length: 64 })
  kind: string;

  @Column({ type: 'text' })
  detail: string;

  @Column({ type: 'integer', nullable: true })
  duration_ms: number | null;

  @Column({ type: 'bigint', nullable: true })
  bytes: string | null;

  @Column({ type: 'varchar', length: 36, nullable: true })
  instance_uuid: string | null;
}
