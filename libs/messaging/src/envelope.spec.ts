import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MalformedMessage,
  asReply,
  asRequest,
  buildCall,
  buildCast,
  buildHeartbeat,
  buildNotification,
  buildReply,
  decodeEnvelope,
  decodeFailure,
  encodeEnvelope,
  extractContext,
  osloTimestamp,
} from './envelope';
import { InvalidRpcArguments, NoSuchMethod, UnsupportedVersion, toFailure } from './errors';
import { publishProperties, routingKey, fanoutExchange, topicExchange, transientQueueOptions } from './topology';
import { versionIsCompatible } from './version';
import { type Endpoint, resolveMethod } from './dispatcher';
import { replyFieldsOf } from './rpc-server';
import { NodeNotFound, describeFailure } from '../../../test/support/errors';

// Messages captured from python3-oslo.messaging 14.0.3 on RabbitMQ 3.10 (firehose tracer).
const captured = JSON.parse(readFileSync(join(__dirname, '../test-fixtures/oslo-wire-captured.json'), 'utf8'));
const CTX = { request_id: 'req-00000000-0000-0000-0000-000000000001', user_id: 'u1', project_id: 'p1', is_admin: true };

/** The same keys in the same order, ids and timestamps aside. */
function shape(o: Record<string, unknown>, ignore = ['_msg_id', '_unique_id', '_reply_q', 'message_id', 'timestamp']) {
  return Object.entries(o).map(([k, v]) => [k, ignore.includes(k) ? typeof v : v]);
}

describe('oslo envelope', () => {
  it('double-encodes: oslo.message is the message as a JSON string', () => {
    const body = encodeEnvelope(captured.call);
    const outer = JSON.parse(body.toString());
    expect(Object.keys(outer)).toEqual(['oslo.version', 'oslo.message']);
    expect(outer['oslo.version']).toBe('2.0');
    expect(typeof outer['oslo.message']).toBe('string');
    expect(JSON.parse(outer['oslo.message'])).toEqual(captured.call);
    expect(decodeEnvelope(body)).toEqual(captured.call);
  });

  it('accepts a bare (v1) body as the message itself', () => {
    expect(decodeEnvelope(Buffer.from(JSON.stringify(captured.cast)))).toEqual(captured.cast);
  });

  it.each([
    ['not JSON', '{"oslo.version"', /body is not JSON/],
    ['a list', '[1,2]', /not a JSON object/],
    [
      'envelope 3.0',
      JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{}' }),
      /unsupported envelope version 3\.0/,
    ],
    ['inner not JSON', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{x' }), /oslo.message is not JSON/],
    ['inner not string', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': {} }), /not a string/],
  ])('rejects %s', (_what, body, err) => {
    expect(() => decodeEnvelope(Buffer.from(body))).toThrow(err);
    expect(() => decodeEnvelope(Buffer.from(body))).toThrow(MalformedMessage);
  });
});

describe('building messages like oslo', () => {
  it('call: keys in oslo order, context flattened, uuid hex ids', () => {
    const m = buildCall(
      { method: 'ping', args: { arg: 'hi' }, version: '5.0', context: CTX },
      'reply_4cda65b4ff4949cb980e1a91a541fef4',
    );
    expect(shape(m as never)).toEqual(shape(captured.call));
    expect(m._msg_id).toMatch(/^[0-9a-f]{32}$/);
    expect(m._unique_id).toMatch(/^[0-9a-f]{32}$/);
    expect(m._unique_id).not.toBe(m._msg_id);
  });

  it('call with a namespace and a call-monitor timeout', () => {
    const m = buildCall({ method: 'ping', namespace: 'baremetal', version: '1.0' }, 'reply_x', 2);
    expect(Object.keys(m)).toEqual([
      'method',
      'args',
      'namespace',
      'version',
      '_msg_id',
      '_reply_q',
      '_timeout',
      '_unique_id',
    ]);
    expect(m._timeout).toBe(2);
  });

  it('cast and fanout cast carry no reply fields', () => {
    const m = buildCast({ method: 'power_on', args: captured.cast.args, version: '5.0', context: CTX });
    expect(shape(m as never)).toEqual(shape(captured.cast));
    expect(shape(buildCast({ method: 'ping', args: { arg: 'fan' }, version: '5.0', context: CTX }) as never)).toEqual(
      shape(captured.fanout),
    );
  });

  it('reply, heartbeat and failure replies', () => {
    expect(shape(buildReply('7412279475ea49368b74382c960db8ca', { pong: 'hi', server: 'host1' }) as never)).toEqual(
      shape(captured.reply),
    );
    expect(shape(buildHeartbeat('d291024bdea94a6fb5747d883934c9de') as never)).toEqual(shape(captured.heartbeat));
    const f = buildReply(
      '58000f9927574045bf5083a9a9a0047c',
      'ignored',
      toFailure(new NodeNotFound(7), describeFailure),
    );
    expect(Object.keys(f)).toEqual(Object.keys(captured.failure_reply));
    expect(f.result).toBeNull();
    expect(typeof f.failure).toBe('string');
    expect(JSON.parse(f.failure!)).toMatchObject({
      class: 'NodeNotFound',
      module: 'nova.exception',
      message: 'Node 7 could not be found.',
      args: ['Node 7 could not be found.'],
      kwargs: { nodeRef: 7 },
    });
  });

  it('decodes the captured Python failure', () => {
    const reply = asReply(captured.failure_reply);
    expect(decodeFailure(reply.failure!)).toEqual({
      class: 'ValueError',
      module: 'builtins',
      message: 'nope',
      tb: ['Traceback (most recent call last):\n', '...', 'ValueError: nope\n'],
      args: ['nope'],
      kwargs: {},
    });
    expect(decodeFailure('garbage')).toMatchObject({ class: 'RemoteError', message: 'garbage' });
  });

  it('oslo errors use oslo module names', () => {
    expect(toFailure(new NoSuchMethod('nosuch'))).toMatchObject({
      class: 'NoSuchMethod',
      module: 'oslo_messaging.rpc.dispatcher',
      message: 'Endpoint does not support RPC method nosuch',
    });
    expect(toFailure(new UnsupportedVersion('6.0', 'ping'))).toMatchObject({
      class: 'UnsupportedVersion',
      module: 'oslo_messaging.rpc.dispatcher',
      message: 'Endpoint does not support RPC version 6.0. Attempted method: ping',
    });
    expect(
      toFailure(new InvalidRpcArguments('power_on', [{ field: 'node', message: 'must be a UUID' }])),
    ).toMatchObject({ class: 'InvalidRpcArguments', message: 'Invalid arguments for power_on: node: must be a UUID' });
    expect(toFailure(new TypeError('x is undefined'))).toMatchObject({ class: 'TypeError', module: 'nova_bm' });
  });

  it('notification: messagingv2 fields, upper-case priority, oslo timestamp', () => {
    const n = buildNotification({
      publisherId: 'compute.host1',
      eventType: 'compute.instance.create.end',
      priority: 'info',
      payload: captured.notification.payload,
      context: { request_id: 'req-00000000-0000-0000-0000-000000000002', user_id: 'u1', project_id: 'p1' },
    });
    expect(shape(n as never)).toEqual(shape(captured.notification));
    expect(n.message_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(osloTimestamp(new Date('2026-11-25T16:24:54.062Z'))).toBe('2026-11-25 16:24:54.062000');
    expect(captured.notification.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  });

  it('rebuilds the context, as the server sees it', () => {
    expect(extractContext(captured.call)).toEqual(CTX);
  });

  it('checks incoming requests', () => {
    expect(asRequest(captured.call).method).toBe('ping');
    expect(asRequest({ method: 'x', _unique_id: 'u' }).args).toEqual({});
    expect(() => asRequest({ args: {} })).toThrow(/missing "method"/);
    expect(() => asRequest({ method: 'x', args: [1] })).toThrow(/"args" is not an object/);
    expect(() => asRequest({ method: 'x', _msg_id: 'abc' })).toThrow(/without "_reply_q"/);
    expect(() => asRequest({ method: 'x', _timeout: 'soon' })).toThrow(/_timeout/);
  });

  it('finds the reply fields of a message it will not parse', () => {
    const body = encodeEnvelope({
      method: 'x',
      args: { big: 'y'.repeat(10_000) },
      _msg_id: 'a'.repeat(32),
      _reply_q: `reply_${'b'.repeat(32)}`,
      _unique_id: 'u',
    });
    expect(replyFieldsOf(body)).toEqual({ msgId: 'a'.repeat(32), replyQ: `reply_${'b'.repeat(32)}` });
    expect(replyFieldsOf(Buffer.from('junk'))).toBeUndefined();
  });
});

describe('topology and properties (oslo-wire §1–2)', () => {
  it('declares what oslo declares', () => {
    expect(topicExchange('nova')).toEqual({
      name: 'nova',
      type: 'topic',
      options: { durable: false, autoDelete: false },
    });
    expect(fanoutExchange('compute')).toEqual({
      name: 'compute_fanout',
      type: 'fanout',
      options: { durable: false, autoDelete: true },
    });
    expect(transientQueueOptions.arguments).toEqual({ 'x-expires': 1800000 });
    expect(routingKey({ topic: 'compute', server: 'host1' })).toBe('compute.host1');
    expect(routingKey({ topic: 'compute' })).toBe('compute');
  });

  it('publishes with the captured properties; calls add expiration', () => {
    const p = publishProperties();
    expect({
      content_type: p.contentType,
      content_encoding: p.contentEncoding,
      delivery_mode: p.deliveryMode,
      priority: p.priority,
      headers: p.headers,
    }).toEqual(captured.properties);
    expect(publishProperties(10_000).expiration).toBe('10000');
  });
});

describe('version and dispatch rules (oslo RPCDispatcher)', () => {
  it.each([
    ['5.0', '5.0', true],
    ['5.3', '5.1', true],
    ['5.1', '5.3', false],
    ['5.0', '6.0', false],
    ['6.0', '5.0', false],
    ['2.0', undefined, false],
    ['1.3', undefined, true],
    ['5.1.2', '5.1.1', true],
    ['5.1', 'x', false],
  ])('served %s, requested %s → %s', (served, requested, ok) => {
    expect(versionIsCompatible(served, requested)).toBe(ok);
  });

  const endpoints: Endpoint[] = [
    { version: '6.3', methods: { ping: () => 'six', only6: () => 6 } },
    { version: '2.1', methods: { ping: () => 'two' } },
    { version: '1.0', namespace: 'baremetal', methods: { ping: () => 'ns' } },
  ];
  it('picks the endpoint by namespace and version', () => {
    expect((resolveMethod(endpoints, { method: 'ping', version: '6.0' }) as () => string)()).toBe('six');
    expect((resolveMethod(endpoints, { method: 'ping', version: '2.0' }) as () => string)()).toBe('two');
    expect(
      (resolveMethod(endpoints, { method: 'ping', version: '1.0', namespace: 'baremetal' }) as () => string)(),
    ).toBe('ns');
  });
  it('NoSuchMethod when a compatible endpoint lacks the method, else UnsupportedVersion', () => {
    expect(() => resolveMethod(endpoints, { method: 'only6', version: '2.0' })).toThrow(NoSuchMethod);
    expect(() => resolveMethod(endpoints, { method: 'nosuch', version: '6.1' })).toThrow(
      'Endpoint does not support RPC method nosuch',
    );
    expect(() => resolveMethod(endpoints, { method: 'ping', version: '7.0' })).toThrow(
      'Endpoint does not support RPC version 7.0. Attempted method: ping',
    );
    expect(() => resolveMethod(endpoints, { method: 'ping', version: '1.0', namespace: 'other' })).toThrow(
      UnsupportedVersion,
    );
  });
});
