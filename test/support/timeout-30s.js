// Peer and e2e tests start processes (~0.3–0.5 s each on a busy 2-core machine): 30 s per test.
// (testTimeout is a global Jest option, not a per-project one; this file is per project.)
jest.setTimeout(30_000);
