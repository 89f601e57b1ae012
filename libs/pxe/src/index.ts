export * from './config';
export * from './deploy-key';
export * from './ipxe';
export * from './layout';
export * from './pxe-files';
