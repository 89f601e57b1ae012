import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ours, after Nova's instance_types (flavors) and their extra specs in one table: what
 * `bmctl flavor create` records and `bmctl boot --flavor` sends to the scheduler.
 */
export class Flavors1700000000015 implements MigrationInterface {
  name = 'Flavors1700000000015';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE flavors (
        id           SERIAL NOT NULL,
        created_at   timestamp,
        updated_at   timestamp,
        deleted_at   timestamp,
        deleted      boolean DEFAULT false,
        name         varchar(255) NOT NULL,
        vcpus        integer NOT NULL,
        memory_mb    integer NOT NULL,
        root_gb      integer NOT NULL,
        ephemeral_gb integer NOT NULL DEFAULT 0,
        swap         integer NOT NULL DEFAULT 0,
        extra_specs  text NOT NULL DEFAULT '{}',
        CONSTRAINT flavors_pkey PRIMARY KEY (id),
        CONSTRAINT flavors_name_key UNIQUE (name)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE flavors`);
  }
}
