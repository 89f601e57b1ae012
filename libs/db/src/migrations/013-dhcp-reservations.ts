import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Ours: the netboot DHCP server's address reservations, one per enrolled MAC. */
export class DhcpReservations1700000000013 implements MigrationInterface {
  name = 'DhcpReservations1700000000013';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bm_dhcp_reservations (
        mac        varchar(17) NOT NULL,
        address    varchar(15) NOT NULL,
        active     boolean NOT NULL DEFAULT true,
        updated_at timestamp NOT NULL,
        CONSTRAINT bm_dhcp_reservations_pkey PRIMARY KEY (mac),
        CONSTRAINT bm_dhcp_reservations_address_key UNIQUE (address)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE bm_dhcp_reservations`);
  }
}
