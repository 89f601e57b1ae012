"""Sends one notification with a Python oslo.messaging Notifier (driver messagingv2).

    notify.py --url rabbit://guest:guest@127.0.0.1:5672/ --exchange nova \
        --publisher-id compute.host1 --event-type compute.instance.create.end \
        [--priority info] [--topic notifications] [--context '{"user_id": "u1"}'] \
        '{"instance_id": "i-1"}'

Publishes to exchange --exchange (the control exchange), routing key <topic>.<priority>;
like any oslo Notifier it declares the <topic>.<priority> queue first. Prints {"sent": true}.
"""
import argparse
import json

import oslo_messaging

import common

PRIORITIES = ['audit', 'debug', 'info', 'warn', 'error', 'critical', 'sample']


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--url', required=True)
    p.add_argument('--exchange', required=True)
    p.add_argument('--publisher-id', required=True)
    p.add_argument('--event-type', required=True)
    p.add_argument('--priority', choices=PRIORITIES, default='info')
    p.add_argument('--topic', default='notifications')
    p.add_argument('--context', default='{}', help='the request context, a JSON object')
    p.add_argument('payload', help='the payload, JSON')
    a = p.parse_args()
    try:
        payload, context = json.loads(a.payload), json.loads(a.context)
    except ValueError as e:
        p.error('bad JSON: %s' % e)

    conf = common.setup(a.exchange)
    transport = oslo_messaging.get_notification_transport(conf, url=a.url)
    notifier = oslo_messaging.Notifier(transport, publisher_id=a.publisher_id,
                                       driver='messagingv2', topics=[a.topic])
    try:
        getattr(notifier, a.priority)(context, a.event_type, payload)
    finally:
        transport.cleanup()
    common.emit({'sent': True})


if __name__ == '__main__':
    main()
