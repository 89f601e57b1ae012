// Test sizes (see README "Tests"): unit (no I/O), integration (real PostgreSQL / RabbitMQ),
// peer (real third-party programs: python3-oslo.messaging, …), e2e (the built binaries).
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];
// Every lib under libs/, importable as @bm/<lib>.
const LIBS = [
  'config',
  'contracts',
  'core',
  'db',
  'dhcp',
  'disk',
  'domain',
  'enrollment',
  'exec',
  'images',
  'ipmi',
  'iscsi',
  'messaging',
  'power',
  'pxe',
  'rack',
  'service',
  'tftp',
];
const moduleNameMapper = { [`^@bm/(${LIBS.join('|')})$`]: '<rootDir>/libs/$1/src' };
const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper,
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test'],
};
module.exports = {
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['**/*.spec.ts'],
      testPathIgnorePatterns: ['\\.int\\.spec\\.ts$', '\\.e2e\\.spec\\.ts$', '\\.peer\\.spec\\.ts$'],
    },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['**/*.int.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/timeout-15s.js'],
      // A RabbitMQ vhost per test file (test/support/vhost-environment.js).
      testEnvironment: '<rootDir>/test/support/vhost-environment.js',
      globalSetup: '<rootDir>/test/support/global-setup.js',
      globalTeardown: '<rootDir>/test/support/global-teardown.js',
    },
    {
      ...base,
      displayName: 'peer',
      testMatch: ['**/*.peer.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/timeout-30s.js'],
      // A RabbitMQ vhost per test file (test/support/vhost-environment.js).
      testEnvironment: '<rootDir>/test/support/vhost-environment.js',
      globalSetup: '<rootDir>/test/support/global-setup.js',
      globalTeardown: '<rootDir>/test/support/global-teardown.js',
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['**/*.e2e.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/timeout-30s.js'],
      // A RabbitMQ vhost per test file (test/support/vhost-environment.js).
      testEnvironment: '<rootDir>/test/support/vhost-environment.js',
      globalSetup: '<rootDir>/test/support/global-setup.js',
      globalTeardown: '<rootDir>/test/support/global-teardown.js',
    },
  ],
};
