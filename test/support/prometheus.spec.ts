import { ExpositionError, parseExposition } from './prometheus';

// The tests' reader of /metrics: it must read what Prometheus reads, and refuse what it refuses.
describe('parseExposition', () => {
  const text = [
    '# HELP bm_x_total Things, with a \\\\ and a\\nnewline.',
    '# TYPE bm_x_total counter',
    'bm_x_total{kind="a",note="say \\"hi\\"\\n\\\\"} 3',
    'bm_x_total{kind="b"} 4 1700000000000',
    '# a plain comment',
    '# HELP bm_t_seconds Time.',
    '# TYPE bm_t_seconds histogram',
    'bm_t_seconds_bucket{le="0.5"} 1',
    'bm_t_seconds_bucket{le="+Inf"} 2',
    'bm_t_seconds_sum 1.5e0',
    'bm_t_seconds_count 2',
    '# TYPE lag gauge',
    'lag Nan',
    '',
  ].join('\n');

  it('reads families, samples, escaped labels, timestamps and special values', () => {
    const e = parseExposition(text);
    expect(e.families.get('bm_x_total')).toEqual({
      name: 'bm_x_total',
      type: 'counter',
      help: 'Things, with a \\ and a\nnewline.',
    });
    expect(e.find('bm_x_total', { kind: 'a' })).toEqual([
      { name: 'bm_x_total', labels: { kind: 'a', note: 'say "hi"\n\\' }, value: 3 },
    ]);
    expect(e.value('bm_x_total')).toBe(7);
    expect(e.value('bm_x_total', { kind: 'c' })).toBe(0);
    expect(e.value('bm_t_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(e.value('bm_t_seconds_sum')).toBe(1.5);
    expect(e.find('lag')[0].value).toBeNaN();
  });

  it.each([
    ['bm_y 1', /no # TYPE/],
    ['# TYPE bm_y counter\nbm_y{a="1} 1', /unterminated label value/],
    ['# TYPE bm_y counter\nbm_y{a=1} 1', /not quoted/],
    ['# TYPE bm_y counter\nbm_y{1a="1"} 1', /bad label name/],
    ['# TYPE bm_y counter\nbm_y{a="1",a="2"} 1', /label a twice/],
    ['# TYPE bm_y counter\nbm_y{a="\\t"} 1', /bad escape/],
    ['# TYPE bm_y counter\nbm_y one', /bad value/],
    ['# TYPE bm_y counter\nbm_y', /not a sample/],
    ['# TYPE bm_y counter\nbm_y 1 2 3', /expected a value/],
    ['# TYPE bm_y widget', /bad type/],
    ['# TYPE bm_y counter\n# TYPE bm_y counter', /second TYPE/],
    ['bm_y 1\n# TYPE bm_y counter', /TYPE of bm_y after its samples/],
    ['# TYPE bm_h histogram\nbm_h_bucket 1', /without le/],
    ['# TYPE 1bm counter', /bad metric name/],
  ])('refuses %j', (bad, why) => {
    expect(() => parseExposition(bad)).toThrow(ExpositionError);
    expect(() => parseExposition(bad)).toThrow(why);
  });
});
