import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { NovaBase } from './nova-base';
import type { BmNode } from './bm-node.entity';

/**
 * `bm_interfaces`: the NICs of a node. Hard-deleted (the unique columns would otherwise block
 * re-enrolling a MAC), as Nova does; `deleted` is kept for schema compatibility.
 */
@Entity({ name: 'bm_interfaces' })
@Index('idx_bm_interfaces_bm_node_id_deleted', ['bm_node_id', 'deleted'])
@Unique('bm_interfaces_address_key', ['address'])
@Unique('bm_interfaces_vif_uuid_key', ['vif_uuid'])
export class BmInterface extends NovaBase {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'bm_interfaces_pkey' })
  id: number;

  @Column({ type: 'integer', nullable: true })
  bm_node_id: number | null;

  @ManyToOne('BmNode', (n: BmNode) => n.interfaces)
  @JoinColumn({ name: 'bm_node_id', foreignKeyConstraintName: 'bm_interfaces_bm_node_id_fkey' })
  node?: BmNode;

  /** MAC, lower-case colon form. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  address: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  datapath_id: string | null;

  @Column({ type: 'integer', nullable: true })
  port_no: number | null;

  @Column({ type: 'varchar', length: 36, nullable: true })
  vif_uuid: string | null;
}
