import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * Ours (migration 017): one image of the images service, Glance v2's record. Timestamps are naive
 * UTC; `size` is a bigint (a string from pg); `properties` holds the free-form string properties
 * (kernel_id, ramdisk_id, …) and `tags` the tag list, both jsonb.
 */
@Entity({ name: 'images' })
@Index('idx_images_created_at_id', ['created_at', 'id'])
export class Image {
  @PrimaryColumn({ type: 'varchar', length: 36, primaryKeyConstraintName: 'images_pkey' })
  id: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  name: string | null;

  /** queued, saving, active (Glance's; killed and deactivated are never set by us). */
  @Column({ type: 'varchar', length: 30 })
  status: string;

  @Column({ type: 'varchar', length: 30 })
  visibility: string;

  @Column({ type: 'boolean' })
  protected: boolean;

  @Column({ type: 'boolean' })
  os_hidden: boolean;

  @Column({ type: 'varchar', length: 20, nullable: true })
  disk_format: string | null;

  @Column({ type: 'varchar', length: 20, nullable: true })
  container_format: string | null;

  @Column({ type: 'bigint', nullable: true })
  size: string | null;

  /** md5, hex. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  checksum: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  os_hash_algo: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  os_hash_value: string | null;

  @Column({ type: 'integer' })
  min_disk: number;

  @Column({ type: 'integer' })
  min_ram: number;

  @Column({ type: 'varchar', length: 255, nullable: true })
  owner: string | null;

  @Column({ type: 'jsonb' })
  tags: string[];

  @Column({ type: 'jsonb' })
  properties: Record<string, string>;

  @Column({ type: 'timestamp' })
  created_at: Date;

  @Column({ type: 'timestamp' })
  updated_at: Date;
}
