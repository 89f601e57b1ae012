export * from './node.repository';
export * from './compute-node.repository';
export * from './flavor.repository';
export * from './dhcp-reservation.repository';
export * from './power-record.repository';
export * from './node-event.repository';
export * from './image.repository';
