export * from './enrollment.service';
export * from './node.dto';
export * from './node-file';
export * from './node-view';
export * from './csv';
