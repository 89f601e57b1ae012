// The base every other lib may import: the error hierarchy's root, input validation, the clock.
// Plain TypeScript; no Nest, no I/O.
export * from './errors';
export * from './validate';
export * from './clock';
export * from './printable';
export * from './log-context';
export * from './strftime';
