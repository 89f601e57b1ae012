import { Column } from 'typeorm';

/**
 * Nova's NovaBase columns, carried by every nova_bm table: timestamps (naive UTC) and the soft
 * delete pair. `deleted` is a Boolean in nova_bm (not Nova's usual Integer). Reads filter
 * `deleted = false`.
 */
export abstract class NovaBase {
  @Column({ type: 'timestamp', nullable: true })
  created_at: Date | null;

  @Column({ type: 'timestamp', nullable: true })
  updated_at: Date | null;

  @Column({ type: 'timestamp', nullable: true })
  deleted_at: Date | null;

  @Column({ type: 'boolean', nullable: true, default: false })
  deleted: boolean | null;
}
