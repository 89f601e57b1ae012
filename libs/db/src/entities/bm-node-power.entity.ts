import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn } from 'typeorm';
import type { BmNode } from './bm-node.entity';

/**
 * Ours (migration 012): the power sync's view of each node: last state seen, when, how long the
 * BMC took, the last error, and the back-off of a failing BMC.
 */
@Entity({ name: 'bm_node_power' })
export class BmNodePower {
  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'bm_node_power_pkey' })
  node_id: number;

  @OneToOne('BmNode')
  @JoinColumn({ name: 'node_id', foreignKeyConstraintName: 'bm_node_power_node_id_fkey' })
  node?: BmNode;

  /** 'on' | 'off' | NULL (never seen). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  power_state: string | null;

  @Column({ type: 'timestamp' })
  checked_at: Date;

  @Column({ type: 'integer', nullable: true })
  latency_ms: number | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ type: 'integer', default: 0 })
  failures: number;

  @Column({ type: 'timestamp' })
  next_check_at: Date;

  @Column({ type: 'timestamp', nullable: true })
  changed_at: Date | null;
}
