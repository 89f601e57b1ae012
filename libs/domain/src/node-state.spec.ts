import {
  ALLOWED,
  BM_TASK_STATES,
  BmState,
  type BmTaskState,
  canTransition,
  deadlineFor,
  deployTimeoutWarning,
  InvalidNodeStateTransition,
  isExpired,
  NODE_EVENTS,
  type NodeEvent,
  transition,
  waitOutcome,
  WAITING_STATES,
} from '.';

const S = BmState;

/** The expected machine, written out flat so that a change to ALLOWED must be made twice. */
const EXPECTED: [BmTaskState, NodeEvent, BmTaskState][] = [
  [S.NULL, 'associate', S.BUILDING],
  [S.DELETED, 'associate', S.BUILDING],
  [S.BUILDING, 'prepared', S.PREPARED],
  [S.PREPARED, 'deploy_started', S.DEPLOYING],
  [S.DEPLOYING, 'deploy_done', S.DEPLOYDONE],
  [S.DEPLOYING, 'deploy_failed', S.DEPLOYFAIL],
  [S.DEPLOYDONE, 'activated', S.ACTIVE],
  [S.ACTIVE, 'activated', S.ACTIVE],
  [S.ACTIVE, 'reboot', S.ACTIVE],
  [S.ACTIVE, 'rebuild', S.BUILDING],
  ...[S.BUILDING, S.PREPARED, S.DEPLOYING, S.DEPLOYFAIL, S.DEPLOYDONE, S.ACTIVE, S.ERROR].flatMap(
    (from): [BmTaskState, NodeEvent, BmTaskState][] => [
      [from, 'failed', S.ERROR],
      [from, 'destroyed', S.DELETED],
    ],
  ),
  [S.ERROR, 'cleaned', S.DELETED],
];

const allowed = (from: BmTaskState, event: NodeEvent) => EXPECTED.find(([f, e]) => f === from && e === event);
const matrix = BM_TASK_STATES.flatMap((from) => NODE_EVENTS.map((event): [BmTaskState, NodeEvent] => [from, event]));

describe('transition', () => {
  it('knows every state and event', () => {
    expect(BM_TASK_STATES).toEqual([
      null,
      'active',
      'building',
      'prepared',
      'deploying',
      'deploy failed',
      'deploy complete',
      'deleted',
      'error',
    ]);
    expect(NODE_EVENTS.sort()).toEqual([
      'activated',
      'associate',
      'cleaned',
      'deploy_done',
      'deploy_failed',
      'deploy_started',
      'destroyed',
      'failed',
      'prepared',
      'reboot',
      'rebuild',
    ]);
  });

  it.each(EXPECTED)('%p --%s--> %p', (from, event, to) => {
    expect(canTransition(from, event)).toBe(true);
    expect(transition(from, event)).toBe(to);
  });

  it.each(matrix.filter(([from, event]) => !allowed(from, event)))('%p --%s--> refused', (from, event) => {
    expect(canTransition(from, event)).toBe(false);
    let err: unknown;
    try {
      transition(from, event);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidNodeStateTransition);
    const e = err as InvalidNodeStateTransition;
    expect([e.name, e.kind, e.from, e.event, e.allowedFrom]).toEqual([
      'InvalidNodeStateTransition',
      'conflict',
      from,
      event,
      ALLOWED[event].from,
    ]);
    expect(e.message).toContain(event);
    expect(e.message).toContain(from === null ? 'NULL' : `'${from}'`);
  });

  it('the matrix has exactly the expected allowed cells', () => {
    expect(matrix.filter(([from, event]) => canTransition(from, event)).length).toBe(EXPECTED.length);
  });

  it('spells out the refusal', () => {
    expect(() => transition(S.ACTIVE, 'associate')).toThrow(
      "Event associate is not allowed in task_state 'active' (only from NULL, 'deleted').",
    );
  });

  it('walks a spawn, a reboot, a rebuild and a destroy', () => {
    const events: NodeEvent[] = [
      'associate',
      'prepared',
      'deploy_started',
      'deploy_done',
      'activated',
      'reboot',
      'rebuild',
      'prepared',
      'deploy_started',
      'deploy_done',
      'activated',
      'destroyed',
      'associate',
    ];
    expect(events.reduce<BmTaskState>(transition, S.NULL)).toBe(S.BUILDING);
  });

  it('walks a failed deploy to a free node', () => {
    const events: NodeEvent[] = ['associate', 'prepared', 'deploy_started', 'deploy_failed', 'failed', 'cleaned'];
    expect(events.reduce<BmTaskState>(transition, S.DELETED)).toBe(S.DELETED);
  });
});

describe('deadlines', () => {
  const t0 = new Date('2014-04-17T12:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);

  it('only prepared and deploying wait', () => expect(WAITING_STATES).toEqual(['prepared', 'deploying']));

  it.each([S.PREPARED, S.DEPLOYING])('%s: deadline is entry + timeout', (state) => {
    expect(deadlineFor(state, t0, 1800)).toEqual(at(1800));
    expect(deadlineFor(state, t0, 1)).toEqual(at(1));
    expect(isExpired(state, t0, 1800, at(1799))).toBe(false);
    expect(isExpired(state, t0, 1800, at(1800))).toBe(false);
    expect(isExpired(state, t0, 1800, at(1800.001))).toBe(true);
  });

  it.each([S.PREPARED, S.DEPLOYING])('%s: 0 = no deadline', (state) => {
    expect(deadlineFor(state, t0, 0)).toBeUndefined();
    expect(isExpired(state, t0, 0, at(365 * 86400))).toBe(false);
  });

  it.each(BM_TASK_STATES.filter((s) => !WAITING_STATES.includes(s)))('%p: never expires', (state) => {
    expect(deadlineFor(state, t0, 1800)).toBeUndefined();
    expect(isExpired(state, t0, 1800, at(365 * 86400))).toBe(false);
  });

  it.each([-1, NaN, Infinity])('rejects timeout %p', (timeout) => {
    expect(() => deadlineFor(S.DEPLOYING, t0, timeout)).toThrow(RangeError);
  });

  it('warns about 0 only', () => {
    expect(deployTimeoutWarning(0)).toMatch(/pxe_deploy_timeout = 0 .*compatibility/);
    expect(deployTimeoutWarning(1800)).toBeUndefined();
  });
});

describe('waitOutcome', () => {
  const me = '6b0c4e3a-0000-4000-8000-000000000001';
  const other = '6b0c4e3a-0000-4000-8000-000000000002';
  const row = (task_state: BmTaskState, instance_uuid: string | null = me) => ({ task_state, instance_uuid });

  it.each([
    [S.BUILDING, false],
    [S.PREPARED, false],
    [S.DEPLOYING, true],
  ])('%s: keeps waiting (started: %p)', (state, started) => {
    expect(waitOutcome(row(state), me)).toEqual({ kind: 'waiting', started });
  });

  it.each([S.DEPLOYDONE, S.ACTIVE])('%s: done, even past the deadline', (state) => {
    expect(waitOutcome(row(state), me)).toEqual({ kind: 'done' });
    expect(waitOutcome(row(state), me, true)).toEqual({ kind: 'done' });
  });

  it('deploy failed: failed', () => {
    expect(waitOutcome(row(S.DEPLOYFAIL), me)).toEqual({
      kind: 'failed',
      reason: `PXE deploy failed for instance ${me}`,
    });
  });

  it.each([S.PREPARED, S.DEPLOYING])('%s past the deadline: failed', (state) => {
    expect(waitOutcome(row(state), me, true)).toEqual({
      kind: 'failed',
      reason: `Timeout reached while waiting for PXE deploy of instance ${me}`,
    });
  });

  it.each([other, null])('instance now %p: failed', (now) => {
    expect(waitOutcome(row(S.DEPLOYING, now), me)).toEqual({
      kind: 'failed',
      reason: `Node associated with another instance while waiting for deploy of ${me}`,
    });
  });

  it('row gone: failed', () => {
    expect(waitOutcome(undefined, me)).toEqual({
      kind: 'failed',
      reason: `Baremetal node deleted while waiting for deployment of instance ${me}`,
    });
  });

  it.each([S.ERROR, S.DELETED, S.NULL])('%p while still ours: failed', (state) => {
    const out = waitOutcome(row(state), me);
    expect(out.kind).toBe('failed');
    expect(out.kind === 'failed' && out.reason).toContain(me);
  });
});
