import type { DataSource } from 'typeorm';
import { openDataSource, schemaVersion, syncSchema } from './schema';
import {
  ComputeNodeRepository,
  DhcpReservationRepository,
  FlavorRepository,
  ImageRepository,
  NodeEventRepository,
  NodeRepository,
  PowerRecordRepository,
} from './repositories';
import { PasswordVault } from './password-vault';

/**
 * One connection to nova_bm with its repositories and its schema: what a process that is not a
 * Nest service opens (bmctl, scripts). Services get the same repositories injected (libs/service).
 */
export class NovaBmDatabase {
  readonly nodes: NodeRepository;
  readonly computeNodes: ComputeNodeRepository;
  readonly flavors: FlavorRepository;
  readonly dhcpReservations: DhcpReservationRepository;
  readonly powerRecords: PowerRecordRepository;
  /** Each node's timeline (bm_node_events). */
  readonly nodeEvents: NodeEventRepository;
  /** The images service's metadata (images). */
  readonly images: ImageRepository;

  private constructor(
    /** For the libs that build on TypeORM themselves (enrollment's transactions). */
    readonly dataSource: DataSource,
    /** Seals and opens the BMC passwords (`[baremetal] pm_password_key_file`). */
    readonly passwords: PasswordVault,
  ) {
    this.nodes = new NodeRepository(dataSource, passwords);
    this.computeNodes = new ComputeNodeRepository(dataSource);
    this.flavors = new FlavorRepository(dataSource);
    this.dhcpReservations = new DhcpReservationRepository(dataSource);
    this.powerRecords = new PowerRecordRepository(dataSource);
    this.nodeEvents = new NodeEventRepository(dataSource);
    this.images = new ImageRepository(dataSource);
  }

  static async open(url: string, passwords: PasswordVault = PasswordVault.none()): Promise<NovaBmDatabase> {
    return new NovaBmDatabase(await openDataSource(url), passwords);
  }

  /** Moves the schema up or down to `target` (default: the latest version). */
  sync(target?: number): Promise<{ from: number; to: number }> {
    return syncSchema(this.dataSource, target);
  }

  /** The schema version the database is at (0 when it has none). */
  version(): Promise<number> {
    return schemaVersion(this.dataSource);
  }

  close(): Promise<void> {
    return this.dataSource.destroy();
  }
}
