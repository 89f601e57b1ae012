import { parseSse, sseFrame } from './sse';

describe('sseFrame / parseSse', () => {
  it('writes an event with its JSON, which a parser reads back', () => {
    const f = sseFrame({ event: 'tiles', data: { a: 'line\nbreak', b: [1, 2] } });
    expect(f).toBe('event: tiles\ndata: {"a":"line\\nbreak","b":[1,2]}\n\n');
    const { frames, rest } = parseSse(f + 'event: x\ndata: 1');
    expect(frames).toEqual([{ event: 'tiles', data: '{"a":"line\\nbreak","b":[1,2]}' }]);
    expect(JSON.parse(frames[0].data)).toEqual({ a: 'line\nbreak', b: [1, 2] });
    expect(rest).toBe('event: x\ndata: 1');
  });

  it('refuses an event name that could break the frame', () => {
    expect(() => sseFrame({ event: 'x\ndata: evil', data: 1 })).toThrow(RangeError);
  });

  it('skips comments; a frame without event is a message; retry is a field', () => {
    expect(sseFrame({ data: 'x', retry: 2000.7 })).toBe('retry: 2000\ndata: "x"\n\n');
    expect(parseSse(': keep-alive\n\nretry: 5\n\ndata: 1\ndata: 2\n\n').frames).toEqual([
      { event: 'message', data: '1\n2' },
    ]);
  });
});
