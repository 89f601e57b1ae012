import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ours: the images service's metadata (Glance v2's image record). The core attributes are
 * columns; the free-form properties (kernel_id, ramdisk_id, …) are one jsonb object, the tags a
 * jsonb array. The image data itself is a file in `[images] data_dir`, named by the id.
 */
export class Images1700000000017 implements MigrationInterface {
  name = 'Images1700000000017';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE images (
        id               varchar(36) NOT NULL,
        name             varchar(255),
        status           varchar(30) NOT NULL,
        visibility       varchar(30) NOT NULL,
        protected        boolean NOT NULL,
        os_hidden        boolean NOT NULL,
        disk_format      varchar(20),
        container_format varchar(20),
        size             bigint,
        checksum         varchar(32),
        os_hash_algo     varchar(64),
        os_hash_value    varchar(128),
        min_disk         integer NOT NULL,
        min_ram          integer NOT NULL,
        owner            varchar(255),
        tags             jsonb NOT NULL,
        properties       jsonb NOT NULL,
        created_at       timestamp NOT NULL,
        updated_at       timestamp NOT NULL,
        CONSTRAINT images_pkey PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX idx_images_created_at_id ON images (created_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE images`);
  }
}
