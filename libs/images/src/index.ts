// The image service's API as clients see it (Glance v2): the image record, its schema, and a
// client that works against our images service (apps/images) or a real Glance. Plain TypeScript.
export * from './glance-image';
export * from './schema';
export * from './glance-client';
export * from './image-cache';
