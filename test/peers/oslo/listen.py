"""Listens for notifications with a Python oslo.messaging notification listener.

    listen.py --url rabbit://guest:guest@127.0.0.1:5672/ --exchange nova \
        [--topic notifications] [--pool NAME] [--count 1] [--timeout 30]

Consumes <topic>.<priority> on exchange --exchange (or, with --pool, the pool's own queue bound
to the same keys), prints READY once consuming, then one JSON line per notification:
    {"priority", "publisher_id", "event_type", "payload", "ctxt", "metadata"}
and exits 0 after --count notifications, or 1 after --timeout seconds or on SIGTERM.
"""
import argparse
import signal
import threading

import oslo_messaging

import common

PRIORITIES = ['audit', 'debug', 'info', 'warn', 'error', 'critical', 'sample']


class Endpoint:
    def __init__(self, count, done):
        self.left = count
        self.done = done
        self.lock = threading.Lock()
        for priority in PRIORITIES:
            setattr(self, priority, self._handler(priority))

    def _handler(self, priority):
        def handle(ctxt, publisher_id, event_type, payload, metadata):
            with self.lock:
                if self.left <= 0:
                    return oslo_messaging.NotificationResult.REQUEUE
                common.emit({'priority': priority, 'publisher_id': publisher_id,
                             'event_type': event_type, 'payload': payload,
                             'ctxt': ctxt, 'metadata': metadata})
                self.left -= 1
                if self.left == 0:
                    self.done.set()
            return oslo_messaging.NotificationResult.HANDLED
        return handle


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--url', required=True)
    p.add_argument('--exchange', required=True)
    p.add_argument('--topic', default='notifications')
    p.add_argument('--pool')
    p.add_argument('--count', type=int, default=1)
    p.add_argument('--timeout', type=float, default=30)
    a = p.parse_args()

    conf = common.setup(a.exchange)
    transport = oslo_messaging.get_notification_transport(conf, url=a.url)
    done, stopped = threading.Event(), threading.Event()
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(exchange=a.exchange, topic=a.topic)],
        [Endpoint(a.count, done)], executor='threading', pool=a.pool)
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    listener.start()
    print('READY', flush=True)
    waited = 0.0
    while not done.is_set() and not stopped.is_set() and waited < a.timeout:
        done.wait(0.1)
        waited += 0.1
    listener.stop()
    listener.wait()
    transport.cleanup()
    raise SystemExit(0 if done.is_set() else 1)


if __name__ == '__main__':
    main()
