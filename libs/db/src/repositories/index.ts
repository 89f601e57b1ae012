export * from './node.repository';
export * from './compute-node.repository';
export * from './flavor.repository';
export * from './dhcp-reservation.repository';
export * from './power-record.repository';
export * from './node-event.repository';
export * from './image.repository';
export * from './rack.repository';

import { ComputeNodeRepository } from './compute-node.repository';
import { DhcpReservationRepository } from './dhcp-reservation.repository';
import { FlavorRepository } from './flavor.repository';
import { ImageRepository } from './image.repository';
import { NodeEventRepository } from './node-event.repository';
import { NodeRepository } from './node.repository';
import { PowerRecordRepository } from './power-record.repository';
import { RackRepository } from './rack.repository';

/** Every repository class, each built over one DataSource: what libs/service provides for injection. */
export const REPOSITORIES = [
  NodeRepository,
  ComputeNodeRepository,
  FlavorRepository,
  DhcpReservationRepository,
  PowerRecordRepository,
  NodeEventRepository,
  ImageRepository,
  RackRepository,
] as const;
