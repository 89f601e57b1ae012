"""Nova's own scheduler RPC client (nova.scheduler.rpcapi.SchedulerAPI), driven over stdin.

Run with Debian's /usr/bin/python3 (python3-nova, Zed). Everything arrives as JSON lines on stdin,
so no address or credential is ever on a command line:

  first line, the set-up:
    {"transport_url": "rabbit://…", "exchange": "<control_exchange>", "timeout": 15}
  then one request per line:
    {"id": 1, "cap": "4.5",                       # [upgrade_levels] scheduler for this call
     "spec": {"flavor": {…Flavor fields…}, "num_instances": 1, "image": {…}, "ignore_hosts": […],
              "force_hosts": […], "force_nodes": […], "retry": {"num_attempts": n, "hosts": [[h, n]]},
              "requested_destination": {"host": h, "node": n}, "instance_uuid": u},
     "instance_uuids": [...] or null, "return_objects": false, "return_alternates": false}

Each request builds a real nova.objects.RequestSpec and calls SchedulerAPI().select_destinations,
which picks the message form from the cap exactly as Nova does (4.0 legacy dicts, 4.3 spec_obj,
4.4 + instance_uuids, 4.5 + return_objects/return_alternates). One JSON line answers each request:

  {"id": 1, "version": <the version the message was sent at>,
   "selections": [[{"class": "nova.objects.selection.Selection", "fields": {…}, "to_dict": {…}}, …], …]}
      when the answer is lists of objects (each member described by its real Python class), or
  {"id": 1, "version": …, "dicts": [...]}            when it is the legacy list of host dicts, or
  {"id": 1, "version": …, "error": {"class": "nova.exception.NoValidHost", "remote": true,
                                    "no_valid_host": true, "message": …, "kwargs": {…}}}.

The first line out is {"ready": true} once the transport is up. End of stdin ends the process.
"""
import json
import sys

import oslo_messaging.opts

import nova.conf
from nova import context as nova_context
from nova import exception as nova_exception
from nova import objects
from nova import rpc
from nova.scheduler import rpcapi

CONF = nova.conf.CONF


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + '\n')
    sys.stdout.flush()


def qualname(x):
    t = x if isinstance(x, type) else type(x)
    return '%s.%s' % (t.__module__, t.__name__)


def setup(s):
    """Configures Nova in-process, as nova.config.parse_args would from a nova.conf."""
    objects.register_all()
    rpc.set_defaults(control_exchange=s['exchange'])
    CONF([], project='nova', default_config_files=[], default_config_dirs=[])
    # oslo.messaging registers its options (transport_url, …) only when it makes a transport;
    # with no nova.conf to read them from, register them first so that they can be set.
    for group, opts in oslo_messaging.opts.list_opts():
        CONF.register_opts(opts, group=None if group == 'DEFAULT' else group)
    CONF.set_override('transport_url', s['transport_url'])
    # Bounded waits: a call gets no more than `timeout` seconds, whatever Nova's defaults.
    CONF.set_override('rpc_response_timeout', int(s.get('timeout', 15)))
    CONF.set_override('long_rpc_timeout', int(s.get('timeout', 15)))
    CONF.set_override('driver', ['noop'], group='oslo_messaging_notifications')
    rpc.init(CONF)
    # oslo's metrics sender thread would keep the process alive 10 s after stdin ends.
    CONF.set_override('metrics_thread_stop_timeout', 0, group='oslo_messaging_metrics')


def request_spec(ctxt, s):
    """A RequestSpec as Nova's conductor holds one, from plain JSON."""
    spec = objects.RequestSpec(
        flavor=objects.Flavor(**s['flavor']),
        num_instances=s.get('num_instances', 1),
        image=objects.ImageMeta.from_dict(s.get('image', {})),
        ignore_hosts=s.get('ignore_hosts'),
        force_hosts=s.get('force_hosts'),
        force_nodes=s.get('force_nodes'),
        retry=(objects.SchedulerRetries.from_dict(ctxt, s['retry']) if s.get('retry') else None),
        requested_destination=(objects.Destination(**s['requested_destination'])
                               if s.get('requested_destination') else None),
        scheduler_hints={},
        is_bfv=False,
        project_id='p-nova-peer',
        user_id='u-nova-peer',
    )
    if s.get('instance_uuid'):
        spec.instance_uuid = s['instance_uuid']
    return spec


def describe_error(e):
    """An exception as Nova's code sees it.

    oslo.messaging rebuilds a remote exception of an allowed module (nova.exception) as a subclass
    made on the fly, `nova.exception_Remote.NoValidHost_Remote`, whose base is the real class and
    whose str() is the message followed by the remote traceback: `class` is that real class,
    `message` the first line, `kwargs` what the class was rebuilt with.
    """
    t = type(e)
    remote = t.__name__.endswith('_Remote')
    real = t.__mro__[1] if remote else t
    kwargs = getattr(e, 'kwargs', None)
    return {'class': qualname(real), 'remote': remote,
            'no_valid_host': isinstance(e, nova_exception.NoValidHost),
            'message': str(e).split('\n')[0],
            'kwargs': ({k: str(v) for k, v in kwargs.items()} if isinstance(kwargs, dict) else None)}


def describe_selection(sel):
    fields = {}
    for name in sel.fields:
        if not sel.obj_attr_is_set(name):
            continue
        v = getattr(sel, name)
        fields[name] = ({'class': qualname(v), 'to_dict': v.to_dict()}
                        if isinstance(v, objects.SchedulerLimits) else v)
    return {'class': qualname(sel), 'version': sel.VERSION, 'fields': fields,
            'to_dict': sel.to_dict()}


def call(ctxt, r):
    CONF.set_override('scheduler', r['cap'], group='upgrade_levels')
    api = rpcapi.SchedulerAPI()
    # The version the message goes out at: the same choice select_destinations makes.
    client = api.client
    version = next(v for v in ('4.5', '4.4', '4.3', '4.0') if client.can_send_version(v))
    out = {'id': r.get('id'), 'version': version}
    try:
        result = api.select_destinations(
            ctxt, request_spec(ctxt, r['spec']), r.get('instance_uuids'),
            return_objects=r.get('return_objects', False),
            return_alternates=r.get('return_alternates', False))
    except Exception as e:  # reported, the next request goes on
        out['error'] = describe_error(e)
        return out
    if all(isinstance(x, list) for x in result):
        out['selections'] = [[describe_selection(s) if isinstance(s, objects.Selection)
                              else {'class': qualname(s), 'value': repr(s)} for s in per]
                             for per in result]
    else:
        out['dicts'] = result
    return out


def main():
    first = sys.stdin.readline()
    if not first:
        return
    setup(json.loads(first))
    ctxt = nova_context.get_admin_context()
    emit({'ready': True})
    for line in sys.stdin:
        if line.strip():
            emit(call(ctxt, json.loads(line)))
    rpc.cleanup()


if __name__ == '__main__':
    main()
