"""A Python oslo.messaging RPC server, the reference peer for tests and benchmarks.

    rpc_server.py --url rabbit://guest:guest@127.0.0.1:5672/ --exchange nova --topic compute \
        --server host1 --version 5.0 [--namespace ns] [--quiet]

One endpoint (target version --version, namespace --namespace) with:
    ping(arg)       -> {"pong": arg, "server": <--server>}
    slow(seconds)   -> sleeps, then returns seconds
    fail(message)   -> raises ValueError(message)
    echo_context()  -> the context dict the server rebuilt from the message
Prints READY on stdout once its queues exist and it consumes them, then (unless --quiet) one
JSON line per dispatched call: {"called": <method>, "args": {...}, "server": <--server>},
so a test can observe casts. Uses the 'threading' executor. Stops cleanly on SIGTERM or SIGINT.
"""
import argparse
import signal
import threading
import time

import oslo_messaging

import common


class Endpoint:
    def __init__(self, server, version, namespace, quiet):
        self.target = oslo_messaging.Target(version=version, namespace=namespace)
        self.server = server
        self.quiet = quiet

    def _seen(self, method, **args):
        if not self.quiet:
            common.emit({'called': method, 'args': args, 'server': self.server})

    def ping(self, ctxt, arg=None):
        self._seen('ping', arg=arg)
        return {'pong': arg, 'server': self.server}

    def slow(self, ctxt, seconds):
        self._seen('slow', seconds=seconds)
        time.sleep(float(seconds))
        return seconds

    def fail(self, ctxt, message):
        self._seen('fail', message=message)
        raise ValueError(message)

    def echo_context(self, ctxt):
        self._seen('echo_context')
        return ctxt


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--url', required=True)
    p.add_argument('--exchange', required=True)
    p.add_argument('--topic', required=True)
    p.add_argument('--server', required=True)
    p.add_argument('--version', required=True)
    p.add_argument('--namespace')
    p.add_argument('--quiet', action='store_true', help='do not print a line per call')
    p.add_argument('--ping', action='store_true', help='rpc_ping_enabled: answer oslo_rpc_server_ping')
    a = p.parse_args()

    conf = common.setup(a.exchange)
    if a.ping:
        # oslo registers the option when the dispatcher is built; register it first to set it.
        from oslo_messaging.rpc import dispatcher
        conf.register_opts(dispatcher._dispatcher_opts)
        conf.set_override('rpc_ping_enabled', True)
    transport = oslo_messaging.get_rpc_transport(conf, url=a.url)
    target = oslo_messaging.Target(exchange=a.exchange, topic=a.topic, server=a.server)
    endpoint = Endpoint(a.server, a.version, a.namespace, a.quiet)
    server = oslo_messaging.get_rpc_server(transport, target, [endpoint], executor='threading')

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()  # declares the queues and starts consuming before it returns
    print('READY', flush=True)
    while not stop.wait(0.2):
        pass
    server.stop()
    server.wait()
    transport.cleanup()


if __name__ == '__main__':
    main()
