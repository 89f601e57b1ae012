import { isConnectionLost } from './connection-lost';

describe('isConnectionLost', () => {
  it('a terminated backend, a refused or reset connection, a pool without connections', () => {
    expect(
      isConnectionLost(
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      ),
    ).toBe(true);
    expect(isConnectionLost({ message: 'Query failed', driverError: { code: '08006' } })).toBe(true);
    expect(
      isConnectionLost(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
    ).toBe(true);
    expect(isConnectionLost(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionLost(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });

  it('not what the query asked: a constraint, a syntax error, a state change, nothing', () => {
    expect(isConnectionLost(Object.assign(new Error('duplicate key value'), { code: '23505' }))).toBe(false);
    expect(isConnectionLost({ message: 'syntax error', driverError: { code: '42601' } })).toBe(false);
    expect(isConnectionLost(new Error('Node 7 changed meanwhile'))).toBe(false);
    expect(isConnectionLost(undefined)).toBe(false);
  });
});
