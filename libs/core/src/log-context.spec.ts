import { currentRequestId, inRequest, logContext, newRequestId, outsideRequest, withLogContext } from './log-context';

const REQ = /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('log context', () => {
  it('is empty outside any request', () => {
    expect(logContext()).toEqual({});
    expect(currentRequestId()).toBeUndefined();
  });

  it("makes oslo's request ids: req- and a uuid4, each new", () => {
    expect(newRequestId()).toMatch(REQ);
    expect(newRequestId()).not.toBe(newRequestId());
  });

  it('a request keeps its id across awaits and timers; ids added inside stay inside', async () => {
    const seen: unknown[] = [];
    await inRequest(async () => {
      const id = currentRequestId();
      expect(id).toMatch(REQ);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(logContext());
      await withLogContext({ node_id: 3, instance_uuid: 'i-1', node_uuid: undefined }, async () => {
        await Promise.resolve();
        seen.push(logContext());
        // A nested context adds to (and may change) the outer one, never drops it.
        withLogContext({ node_id: 4 }, () => seen.push(logContext()));
      });
      seen.push(logContext());
      expect(seen).toEqual([
        { request_id: id },
        { request_id: id, node_id: 3, instance_uuid: 'i-1' },
        { request_id: id, node_id: 4, instance_uuid: 'i-1' },
        { request_id: id },
      ]);
    });
    expect(logContext()).toEqual({});
  });

  it('a new request drops the ids of the code that started it; a given id is used as it is', () => {
    withLogContext({ request_id: 'req-outer', node_id: 1 }, () => {
      inRequest(() => expect(logContext()).toEqual({ request_id: 'req-given' }), 'req-given');
      inRequest(() => expect(currentRequestId()).not.toBe('req-outer'));
      outsideRequest(() => expect(logContext()).toEqual({}));
    });
  });

  it('requests running at once keep their own ids', async () => {
    const ids = await Promise.all(
      ['req-a', 'req-b', 'req-c'].map((id, i) =>
        inRequest(async () => {
          await new Promise((r) => setTimeout(r, 10 - i * 3));
          return currentRequestId();
        }, id),
      ),
    );
    expect(ids).toEqual(['req-a', 'req-b', 'req-c']);
  });
});
