"""Shared set-up for the oslo.messaging peer scripts (run them with /usr/bin/python3).

Everything here works around the gotchas of /work/shared/reference/oslo-wire.md: the global
cfg.CONF (oslo registers some options only there), no config files, the metrics sender thread
stopped at once (metrics_thread_stop_timeout=0) so short-lived processes exit promptly.
"""
import json
import logging
import sys

from oslo_config import cfg
import oslo_messaging

CONF = cfg.CONF


def setup(exchange, log_level=logging.WARNING):
    """Configures cfg.CONF for a peer on `exchange` (the control exchange)."""
    logging.basicConfig(stream=sys.stderr, level=log_level,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    CONF([], project='oslo-peer', default_config_files=[], default_config_dirs=[])
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    CONF.set_override('metrics_thread_stop_timeout', 0, group='oslo_messaging_metrics')
    return CONF


def emit(obj):
    """Prints one JSON line on stdout and flushes it (the parent reads stdout line by line)."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + '\n')
    sys.stdout.flush()
