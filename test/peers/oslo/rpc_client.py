"""A Python oslo.messaging RPC client as a command line tool, for peer tests and benchmarks.

    rpc_client.py --url rabbit://guest:guest@127.0.0.1:5672/ --exchange nova --topic compute \
        [--server host1] [--version 5.0] [--namespace ns] [--timeout 30] \
        [--call-monitor-timeout 2] [--fanout] [--context '{"user_id": "u1"}'] \
        [--allowed-remote-exmods mod1,mod2] {call|cast} METHOD ['{"arg": "hi"}']

Prints one JSON line on stdout and exits 0, whatever the remote side did:
    {"result": <the call's return value>}                 (a cast prints {"result": null})
    {"error": {"type": <exception class name>, "module": <its module>,
               "exc_type": <RemoteError.exc_type, or null>, "message": str(e)}}
Exit 2 on usage errors.

Benchmark mode (call only): --repeat N --concurrency C [--warmup W] [--duration S] makes W
untimed calls, then N calls (or as many as fit in S seconds, at most N) from C threads sharing
one RPCClient (and so one transport and reply queue), and prints
{"latencies_ms": [...], "elapsed_s": x, "calls": n, "errors": e, "first_error": ...,
 "max_in_flight": the most calls that were waiting for their reply at the same time}.
"""
import argparse
import json
import threading
import time

import oslo_messaging

import common


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--url', required=True)
    p.add_argument('--exchange', required=True)
    p.add_argument('--topic', required=True)
    p.add_argument('--server')
    p.add_argument('--version')
    p.add_argument('--namespace')
    p.add_argument('--timeout', type=float, default=30)
    p.add_argument('--call-monitor-timeout', type=float)
    p.add_argument('--fanout', action='store_true')
    p.add_argument('--context', default='{}', help='the request context, a JSON object')
    p.add_argument('--allowed-remote-exmods', default='',
                   help='comma-separated modules whose exceptions are re-raised as themselves')
    p.add_argument('--repeat', type=int, help='benchmark: number of timed calls')
    p.add_argument('--concurrency', type=int, default=1, help='benchmark: calling threads')
    p.add_argument('--warmup', type=int, default=0, help='benchmark: untimed calls first')
    p.add_argument('--duration', type=float, help='benchmark: stop starting calls after S seconds')
    p.add_argument('kind', choices=['call', 'cast'])
    p.add_argument('method')
    p.add_argument('kwargs', nargs='?', default='{}', help='keyword arguments, a JSON object')
    a = p.parse_args()
    try:
        a.kwargs = json.loads(a.kwargs)
        a.context = json.loads(a.context)
    except ValueError as e:
        p.error('bad JSON: %s' % e)
    if not isinstance(a.kwargs, dict) or not isinstance(a.context, dict):
        p.error('JSON_KWARGS and --context must be JSON objects')
    if a.repeat is not None and (a.kind != 'call' or a.repeat < 1 or a.concurrency < 1):
        p.error('--repeat needs "call", N >= 1 and --concurrency >= 1')
    return a


def describe(e):
    return {'type': type(e).__name__, 'module': type(e).__module__,
            'exc_type': e.exc_type if isinstance(e, oslo_messaging.RemoteError) else None,
            'message': str(e)}


def bench(cctxt, a):
    """W warm-up calls, then N calls spread over C threads; returns the result line."""
    for _ in range(a.warmup):
        cctxt.call(a.context, a.method, **a.kwargs)
    lock = threading.Lock()
    todo = [a.repeat]
    in_flight = [0, 0]  # now, most
    latencies, errors = [], []
    start = threading.Barrier(a.concurrency + 1)

    def worker():
        start.wait()
        deadline = time.perf_counter() + a.duration if a.duration else None
        while True:
            with lock:
                if todo[0] == 0 or (deadline and time.perf_counter() > deadline):
                    return
                todo[0] -= 1
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
            t0 = time.perf_counter()
            try:
                cctxt.call(a.context, a.method, **a.kwargs)
                ok = True
            except Exception as e:  # counted, the run goes on
                ok = False
                with lock:
                    errors.append(describe(e))
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                in_flight[0] -= 1
                if ok:
                    latencies.append(round(ms, 3))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {'latencies_ms': latencies, 'elapsed_s': round(elapsed, 4), 'calls': len(latencies),
            'concurrency': a.concurrency, 'errors': len(errors),
            'first_error': errors[0] if errors else None, 'max_in_flight': in_flight[1]}


def main():
    a = parse_args()
    conf = common.setup(a.exchange)
    exmods = [m for m in a.allowed_remote_exmods.split(',') if m]
    transport = oslo_messaging.get_rpc_transport(conf, url=a.url, allowed_remote_exmods=exmods)
    target = oslo_messaging.Target(exchange=a.exchange, topic=a.topic, server=a.server,
                                   version=a.version, namespace=a.namespace, fanout=a.fanout)
    client = oslo_messaging.get_rpc_client(transport, target, timeout=a.timeout,
                                          call_monitor_timeout=a.call_monitor_timeout)
    try:
        if a.repeat is not None:
            common.emit(bench(client, a))
        elif a.kind == 'call':
            common.emit({'result': client.call(a.context, a.method, **a.kwargs)})
        else:
            client.cast(a.context, a.method, **a.kwargs)
            common.emit({'result': None})
    except Exception as e:
        common.emit({'error': describe(e)})
    finally:
        transport.cleanup()


if __name__ == '__main__':
    main()
