"""Nova's own compute RPC client against our compute service (run with /usr/bin/python3).

Debian's python3-nova (Zed, 26.2.2): nova.compute.rpcapi.ComputeAPI with real nova.objects,
configured in-process as a Nova service would be by nova.conf (transport_url, control_exchange,
[upgrade_levels] compute pinned, so that no Nova database is asked for the computes' versions).
The objects are built as Nova's API and conductor build them (nova.utils, nova.scheduler.utils),
so each method goes out exactly as Nova sends it.

Input: one JSON document on stdin (nothing on the command line: the transport URL carries
credentials):

  {"url": transport URL, or "fake:" with "capture": true (nothing is sent, see below),
   "exchange": control_exchange, "pin": [upgrade_levels] compute ("6.0", "zed", …),
   "host": the compute host, "timeout": rpc_response_timeout,
   "instance": {"uuid", "name", "node", "flavor": {name, memory_mb, vcpus, root_gb,
                ephemeral_gb, swap, extra_specs}},
   "image": Glance's image dict as Nova's API reads it (id, name, properties, …),
   "ops": [{"op": <ComputeAPI method>, …its own arguments}, …]}

The ops run in order on the same instance object; `rebuild_instance` first changes the
instance as Nova's API does (image_ref, kernel_id / ramdisk_id and the image_* system metadata of
the new image, given as "image"). Output: one JSON line,

  {"results": [{"op", "ok": true, "result": <JSON of what the method returned>,
                "type": <its Python class name>} |
               {"op", "ok": false, "error": {"class", "module", "remote", "message"}}, …],
   "sent": [{"method", "version", "server", "args": <the serialized kwargs>, "bytes"}, …]}

"sent" is every message as oslo.messaging handed it to the transport (the serialized kwargs,
the target's server and version). With "capture": true the transport is not used: the messages
are only recorded (for fixtures).

With "conf" (a nova.conf with Nova's cell and API databases, e.g. test/support/nova.ts's
conductor's), this is Nova's API and conductor side on Nova's own database (direct access, as
nova-api has): the instance is no longer made up here but read from Nova's database before each
op, as Nova's API reads it for that action (servers.py: `_get_server` or `_get_instance`), and
each op first writes what Nova's API writes before it sends (compute/api.py: the task_state with
its expected_task_state, the image of a rebuild…) and checks what its check_instance_state /
check_instance_host check, so that the test follows Nova's own rules. Ops of that mode:

  {"op": "create_instance"}: the instance's flavor created in the API database, the instance
      (vm_state building, task_state scheduling, the image's fields and system metadata, as
      compute/api.py _populate_instance_for_create makes it) and its image block device mapping
      in the cell database, as Nova's API and conductor create them; the result: its uuid and id.
  {"op": "service_is_up"}: Nova's servicegroup API on the compute host's services record, as
      Nova's API asks it before a delete (false: Nova would delete locally, never asking us);
      the result: {"up", "report_count"}.
  build_and_run_instance: the instance as the conductor holds it once created in its cell;
  stop_instance / start_instance (cast, as Nova's API sends them), reboot_instance (SOFT or
  HARD), rebuild_instance, terminate_instance: as Nova's API does each.
"""
import datetime
import json
import sys
import uuid

a = json.load(sys.stdin)

import oslo_messaging  # noqa: E402

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova import rpc  # noqa: E402

CONF = nova.conf.CONF
# Nova's database (Nova's API side) when given a nova.conf that names it.
DB = bool(a.get('conf'))
# As nova.config.parse_args: the control exchange default first, then the configuration.
rpc.set_defaults(control_exchange=a['exchange'])
CONF([], project='nova', default_config_files=[a['conf']] if DB else [], default_config_dirs=[])
# Parsing a URL registers oslo.messaging's transport options (transport_url among them).
oslo_messaging.TransportURL.parse(CONF)
CONF.set_override('transport_url', a['url'])
CONF.set_override('compute', a['pin'], group='upgrade_levels')
# Stop oslo.messaging's metrics thread at once, or a short-lived process lingers on exit.
CONF.set_override('metrics_thread_stop_timeout', 0, group='oslo_messaging_metrics')
objects.register_all()
if DB:
    # As nova.config.parse_args does for a service with database access (nova-api).
    from nova.db.api import api as api_db_api  # noqa: E402
    from nova.db.main import api as main_db_api  # noqa: E402
    main_db_api.configure(CONF)
    api_db_api.configure(CONF)
rpc.init(CONF)
# How long a call waits for our answer: the option is registered by the first RPC client, which
# Nova's ComputeAPI router also makes first for that reason ("poke this path").
rpc.get_client(oslo_messaging.Target(topic='compute'))
CONF.set_override('rpc_response_timeout', a.get('timeout', 30))

from nova.compute import rpcapi as compute_rpcapi  # noqa: E402
from nova.compute import task_states  # noqa: E402
from nova.compute import vm_states  # noqa: E402
from nova import exception  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova import servicegroup  # noqa: E402
from nova.objects import network_request  # noqa: E402
from nova.scheduler import utils as scheduler_utils  # noqa: E402
from nova import utils  # noqa: E402

sent = []
_send = rpc.TRANSPORT._send


def recording_send(target, ctxt, message, **kwargs):
    body = json.dumps(message, default=str)
    sent.append({'method': message.get('method'), 'version': message.get('version'),
                 'server': target.server, 'args': json.loads(body).get('args'),
                 'bytes': len(body)})
    if a.get('capture'):
        return None
    return _send(target, ctxt, message, **kwargs)


rpc.TRANSPORT._send = recording_send

ctxt = nova_context.RequestContext(user_id='nova-e2e-user', project_id='nova-e2e-project',
                                   is_admin=True, request_id='req-' + str(uuid.uuid4()))
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
CELL = str(uuid.uuid4())


def flavor_object(f):
    return objects.Flavor(
        id=7, flavorid=f.get('flavorid', f['name']), name=f['name'], memory_mb=f['memory_mb'],
        vcpus=f['vcpus'], root_gb=f['root_gb'], ephemeral_gb=f.get('ephemeral_gb', 0),
        swap=f.get('swap', 0), rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True,
        extra_specs=dict(f.get('extra_specs', {})), description=None,
        created_at=NOW, updated_at=None, deleted_at=None, deleted=False)


def image_fields(image):
    """What Nova's API copies from the image onto the instance (compute/api.py)."""
    props = image.get('properties', {})
    return {'image_ref': image['id'],
            'kernel_id': props.get('kernel_id') or '',
            'ramdisk_id': props.get('ramdisk_id') or ''}


def security_groups():
    return objects.SecurityGroupList(objects=[objects.SecurityGroup(
        id=1, name='default', description='default', user_id='nova-e2e-user',
        project_id='nova-e2e-project', created_at=NOW, updated_at=None, deleted_at=None,
        deleted=False)])


def instance_object(spec, image):
    """An Instance as the conductor holds it once created in its cell, before the build."""
    flavor = flavor_object(spec['flavor'])
    sysmeta = utils.get_system_metadata_from_image(image, flavor)
    sysmeta.update({'image_base_image_ref': image['id'], 'owner_user_name': 'e2e',
                    'owner_project_name': 'e2e', 'boot_roles': 'admin,member,reader'})
    inst = objects.Instance(
        context=ctxt, id=42, uuid=spec['uuid'], user_id='nova-e2e-user',
        project_id='nova-e2e-project', hostname=spec['name'], display_name=spec['name'],
        display_description=spec['name'], launch_index=0, key_name=None, key_data=None,
        power_state=0, vm_state='building', task_state='scheduling',
        memory_mb=flavor.memory_mb, vcpus=flavor.vcpus, root_gb=flavor.root_gb,
        ephemeral_gb=flavor.ephemeral_gb, ephemeral_key_uuid=None, host=a['host'],
        node=spec['node'], instance_type_id=flavor.id, user_data=None,
        reservation_id='r-' + uuid.uuid4().hex[:8], launched_at=None, terminated_at=None,
        availability_zone='nova', launched_on=a['host'], locked=False, locked_by=None,
        os_type=None, architecture=None, vm_mode=None, root_device_name=None,
        default_ephemeral_device=None, default_swap_device=None, config_drive='',
        access_ip_v4=None, access_ip_v6=None, auto_disk_config=False, progress=0,
        shutdown_terminate=False, disable_terminate=False, cell_name=None,
        metadata={'purpose': 'nova-compute e2e'}, system_metadata=sysmeta,
        info_cache=objects.InstanceInfoCache(instance_uuid=spec['uuid'], network_info='[]'),
        security_groups=security_groups(), pci_requests=objects.InstancePCIRequests(
            instance_uuid=spec['uuid'], requests=[]),
        numa_topology=None, device_metadata=None, tags=objects.TagList(objects=[]),
        flavor=flavor, old_flavor=None, new_flavor=None, vcpu_model=None,
        ec2_ids=objects.EC2Ids(instance_id='i-0000002a', ami_id='ami-00000001',
                               kernel_id=None, ramdisk_id=None),
        created_at=NOW, updated_at=NOW, deleted_at=None, deleted=False, cleaned=False,
        trusted_certs=None, resources=None, hidden=False, keypairs=objects.KeyPairList(objects=[]),
        migration_context=None, fault=None, **image_fields(image))
    inst.obj_reset_changes()
    return inst


def request_spec(inst, image):
    spec = objects.RequestSpec(
        instance_uuid=inst.uuid, flavor=inst.flavor, image=objects.ImageMeta.from_dict(image),
        num_instances=1, project_id=inst.project_id, user_id=inst.user_id,
        availability_zone=None, ignore_hosts=None, force_hosts=None, force_nodes=None,
        retry=None, limits=objects.SchedulerLimits(numa_topology=None, vcpu=None,
                                                    disk_gb=None, memory_mb=None),
        instance_group=None, scheduler_hints={}, security_groups=security_groups(),
        is_bfv=False, pci_requests=objects.InstancePCIRequests(requests=[]),
        numa_topology=None, requested_destination=None, requested_resources=[],
        request_level_params=objects.RequestLevelParams(),
        network_metadata=objects.NetworkMetadata(physnets=set(), tunneled=False))
    return spec


def selection(node, claims=True):
    """A scheduler's Selection of `node` on our host; without `claims`, as a scheduler that does
    not use Placement makes it (no allocation request: a conductor takes it as it is)."""
    return objects.Selection(
        service_host=a['host'], nodename=node, compute_node_uuid=node, cell_uuid=CELL,
        limits=objects.SchedulerLimits(numa_topology=None, vcpu=None, disk_gb=2, memory_mb=1024),
        allocation_request=json.dumps(
            {'allocations': {node: {'resources': {'CUSTOM_BAREMETAL': 1}}}}) if claims else None,
        allocation_request_version='1.36' if claims else None)


def image_bdms(inst, image):
    """The block device mapping Nova's API makes for a boot from an image."""
    return objects.BlockDeviceMappingList(objects=[objects.BlockDeviceMapping(
        context=ctxt, id=1, instance_uuid=inst.uuid, source_type='image',
        destination_type='local', image_id=image['id'], boot_index=0, delete_on_termination=True,
        device_name=None, guest_format=None, disk_bus=None, device_type='disk',
        volume_id=None, snapshot_id=None, volume_size=None, no_device=False,
        connection_info=None, tag=None, attachment_id=None, uuid=str(uuid.uuid4()),
        volume_type=None, encrypted=False, encryption_secret_uuid=None,
        encryption_format=None, encryption_options=None)])


def build_and_run_instance(api, inst, image, op):
    """As conductor's schedule_and_build_instances casts it (nova/conductor/manager.py).

    Options: "alternates", the nodes (uuids) of the scheduler's alternates on our host (default
    one unknown node); "claims": false, alternates without an allocation request (a scheduler
    without Placement, which a conductor's reschedule takes as they are); "max_attempts", the
    scheduler's [scheduler] max_attempts (1: no retry information and no alternates, so that
    nova-compute does not reschedule a failed build).
    """
    if 'max_attempts' in op:
        CONF.set_override('max_attempts', op['max_attempts'], group='scheduler')
    spec = request_spec(inst, image)
    # The node the scheduler chose (the instance itself has no host yet when built from Nova's
    # database: the compute sets it).
    host = selection(a['instance']['node'])
    alternates = [selection(n, op.get('claims', True))
                  for n in op.get('alternates', [str(uuid.uuid4())])]
    del alternates[CONF.scheduler.max_attempts - 1:]
    filter_props = spec.to_legacy_filter_properties_dict()
    scheduler_utils.populate_retry(filter_props, inst.uuid)
    scheduler_utils.populate_filter_properties(filter_props, host)
    legacy_secgroups = [s.identifier for s in spec.security_groups]
    requested_networks = objects.NetworkRequestList(
        objects=[objects.NetworkRequest(network_id=network_request.NETWORK_ID_AUTO)])
    bdms = (objects.BlockDeviceMappingList.get_by_instance_uuid(ctxt, inst.uuid) if DB
            else image_bdms(inst, image))
    return api.build_and_run_instance(
        ctxt, instance=inst, image=image, request_spec=spec, filter_properties=filter_props,
        admin_password=op.get('admin_password', 'not-used-by-a-bare-metal-node'),
        injected_files=[], requested_networks=requested_networks,
        security_groups=legacy_secgroups, block_device_mapping=bdms,
        host=host.service_host, node=host.nodename, limits=host.limits, host_list=alternates,
        accel_uuids=[])


def rebuild_instance(api, inst, image, op):
    """As Nova's API changes the instance (compute/api.py rebuild), then the conductor casts it.

    On Nova's database the changes are saved as Nova's API saves them: the image fields and
    task_state rebuilding with expected_task_state [None], then the image_* system metadata.
    """
    new_image = op['image']
    orig_image_ref = inst.image_ref
    if DB:
        api_check(inst, 'rebuild', [vm_states.ACTIVE, vm_states.STOPPED, vm_states.ERROR])
    inst.update(image_fields(new_image))
    inst.task_state = task_states.REBUILDING
    inst.progress = 0
    if DB:
        inst.save(expected_task_state=[None])
    orig_sys_metadata = dict(inst.system_metadata)
    for key in [k for k in inst.system_metadata if k.startswith('image_')]:
        del inst.system_metadata[key]
    inst.system_metadata.update(utils.get_system_metadata_from_image(new_image, inst.flavor))
    inst.system_metadata['image_base_image_ref'] = new_image['id']
    if DB:
        inst.save()
    inst.obj_reset_changes()
    spec = request_spec(inst, new_image)
    host = selection(a['instance']['node'])
    return api.rebuild_instance(
        ctxt, instance=inst, new_pass=None, injected_files=[], image_ref=new_image['id'],
        orig_image_ref=orig_image_ref, orig_sys_metadata=orig_sys_metadata,
        bdms=image_bdms(inst, new_image), recreate=False, on_shared_storage=None,
        host=host.service_host, node=host.nodename,
        preserve_ephemeral=op.get('preserve_ephemeral', False), migration=None,
        limits=host.limits.to_dict(), request_spec=spec, accel_uuids=[],
        reimage_boot_volume=False)


# What Nova's API reads of an instance before an action: servers.py `_get_server` (flavor,
# numa_topology) through compute/api.py `get` (its default fields), or `_get_instance` (start,
# stop). The conductor holds a build's instance with every field Nova's API gave it.
SERVER_ATTRS = ['flavor', 'numa_topology', 'metadata', 'system_metadata', 'security_groups',
                'info_cache']
INSTANCE_ATTRS = ['system_metadata', 'metadata']
BUILD_ATTRS = SERVER_ATTRS + ['pci_requests', 'tags', 'keypairs', 'device_metadata',
                              'trusted_certs', 'resources', 'vcpu_model', 'migration_context']
LOADS = {'build_and_run_instance': BUILD_ATTRS, 'start_instance': INSTANCE_ATTRS,
         'stop_instance': INSTANCE_ATTRS}


def load(name, spec):
    """The instance from Nova's database as Nova's API (or conductor) reads it for `name`."""
    return objects.Instance.get_by_uuid(ctxt, spec['uuid'],
                                        expected_attrs=list(LOADS.get(name, SERVER_ATTRS)))


def api_check(inst, method, vm_state=None, task_state=(None,), must_have_launched=True,
              host=False):
    """compute/api.py check_instance_state (and check_instance_host with `host`)."""
    if host and not inst.host:
        raise exception.InstanceNotReady(instance_id=inst.uuid)
    if vm_state is not None and inst.vm_state not in vm_state:
        raise exception.InstanceInvalidState(attr='vm_state', instance_uuid=inst.uuid,
                                             state=inst.vm_state, method=method)
    if task_state is not None and inst.task_state not in task_state:
        raise exception.InstanceInvalidState(attr='task_state', instance_uuid=inst.uuid,
                                             state=inst.task_state, method=method)
    if must_have_launched and not inst.launched_at:
        raise exception.InstanceInvalidState(attr='launched_at', instance_uuid=inst.uuid,
                                             state=inst.launched_at, method=method)


def create_instance(spec, image):
    """The flavor, the instance and its block device mapping, created in Nova's databases as
    Nova's API builds them (compute/api.py _provision_instances, _populate_instance_for_create)
    and its conductor creates them in the cell (schedule_and_build_instances)."""
    f = spec['flavor']
    flavor = objects.Flavor(
        context=ctxt, flavorid=f.get('flavorid', f['name']), name=f['name'],
        memory_mb=f['memory_mb'], vcpus=f['vcpus'], root_gb=f['root_gb'],
        ephemeral_gb=f.get('ephemeral_gb', 0), swap=f.get('swap', 0), rxtx_factor=1.0,
        vcpu_weight=0, disabled=False, is_public=True,
        extra_specs=dict(f.get('extra_specs', {})), description=None)
    flavor.create()
    sysmeta = utils.get_system_metadata_from_image(image, flavor)
    sysmeta.update({'image_base_image_ref': image['id'], 'owner_user_name': 'e2e',
                    'owner_project_name': 'e2e', 'boot_roles': 'admin,member,reader'})
    inst = objects.Instance(
        context=ctxt, uuid=spec['uuid'], user_id=ctxt.user_id, project_id=ctxt.project_id,
        hostname=spec['name'], display_name=spec['name'], display_description=spec['name'],
        launch_index=0, key_name=None, key_data=None, power_state=0,
        vm_state=vm_states.BUILDING, task_state=task_states.SCHEDULING,
        memory_mb=flavor.memory_mb, vcpus=flavor.vcpus, root_gb=flavor.root_gb,
        ephemeral_gb=flavor.ephemeral_gb, ephemeral_key_uuid=None, instance_type_id=flavor.id,
        user_data=None, reservation_id='r-' + uuid.uuid4().hex[:8], availability_zone='nova',
        locked=False, root_device_name=None, config_drive='', access_ip_v4=None,
        access_ip_v6=None, auto_disk_config=False, progress=0, shutdown_terminate=False,
        disable_terminate=False, metadata={'purpose': 'nova-conductor e2e'},
        system_metadata=sysmeta,
        info_cache=objects.InstanceInfoCache(instance_uuid=spec['uuid'],
                                             network_info=network_model.NetworkInfo()),
        security_groups=objects.SecurityGroupList(),
        pci_requests=objects.InstancePCIRequests(instance_uuid=spec['uuid'], requests=[]),
        numa_topology=None, flavor=flavor, old_flavor=None, new_flavor=None,
        keypairs=objects.KeyPairList(objects=[]), trusted_certs=None, **image_fields(image))
    inst.create()
    bdm = image_bdms(inst, image)[0]
    del bdm.id  # a new record: the database gives its id
    bdm.obj_reset_changes(['id'])
    bdm.create()
    return {'uuid': inst.uuid, 'id': inst.id, 'flavor_id': flavor.id}


def service_is_up():
    """Nova's servicegroup API on our compute's services record (compute/api.py _delete)."""
    service = objects.Service.get_by_compute_host(ctxt, a['host'])
    return {'up': servicegroup.API().service_is_up(service),
            'report_count': service.report_count}


def api_action(inst, op):
    """What Nova's API writes to its database before it sends `op` (compute/api.py)."""
    name = op['op']
    if name == 'stop_instance':
        api_check(inst, 'stop', [vm_states.ACTIVE, vm_states.ERROR], host=True)
        inst.task_state = task_states.POWERING_OFF
        inst.progress = 0
        inst.save(expected_task_state=[None])
    elif name == 'start_instance':
        api_check(inst, 'start', [vm_states.STOPPED], host=True)
        inst.task_state = task_states.POWERING_ON
        inst.save(expected_task_state=[None])
    elif name == 'reboot_instance' and op.get('reboot_type', 'SOFT') == 'SOFT':
        api_check(inst, '_soft_reboot', vm_states.ALLOW_SOFT_REBOOT, [None], host=True)
        inst.task_state = task_states.REBOOTING
        inst.save(expected_task_state=[None])
    elif name == 'reboot_instance':
        api_check(inst, '_hard_reboot', vm_states.ALLOW_HARD_REBOOT, task_states.ALLOW_REBOOT,
                  host=True)
        inst.task_state = task_states.REBOOTING_HARD
        inst.save(expected_task_state=task_states.ALLOW_REBOOT)
    elif name == 'terminate_instance':
        api_check(inst, 'delete', None, None, must_have_launched=False)
        # Nova's API sends terminate_instance only to the compute of an instance with a host
        # whose service is up; else it deletes the instance itself (a "local delete") and the
        # compute never hears of it: that is a failure here.
        if not inst.host or not service_is_up()['up']:
            raise exception.ComputeHostNotFound(host=inst.host)
        inst.task_state = task_states.DELETING
        inst.progress = 0
        inst.save()


def run(api, inst, image, op):
    name = op['op']
    if name == 'build_and_run_instance':
        return build_and_run_instance(api, inst, image, op)
    if name == 'rebuild_instance':
        return rebuild_instance(api, inst, image, op)
    if name == 'reboot_instance':
        return api.reboot_instance(ctxt, instance=inst, block_device_info=None,
                                   reboot_type=op.get('reboot_type', 'SOFT'))
    if name == 'stop_instance':
        return api.stop_instance(ctxt, inst, do_cast=op.get('do_cast', True),
                                 clean_shutdown=op.get('clean_shutdown', True))
    if name == 'start_instance':
        return api.start_instance(ctxt, inst)
    if name == 'terminate_instance':
        bdms = (objects.BlockDeviceMappingList.get_by_instance_uuid(ctxt, inst.uuid) if DB
                else image_bdms(inst, image))
        return api.terminate_instance(ctxt, inst, bdms=bdms)
    if name == 'get_console_output':
        return api.get_console_output(ctxt, inst, op.get('tail_length'))
    if name == 'get_diagnostics':
        return api.get_diagnostics(ctxt, inst)
    if name == 'get_instance_diagnostics':
        return api.get_instance_diagnostics(ctxt, inst)
    if name == 'get_host_uptime':
        return api.get_host_uptime(ctxt, a['host'])
    if name == 'service_is_up' and DB:
        return service_is_up()
    raise ValueError('unknown op %s' % name)


def jsonable(v):
    """A returned Nova object as its fields (nested objects too), anything else as JSON has it."""
    if isinstance(v, objects.base.NovaObject):
        return {k: jsonable(getattr(v, k)) for k in v.fields if v.obj_attr_is_set(k)}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def describe(e):
    """The class a remote error was rebuilt as, and its own message.

    oslo.messaging rebuilds a remote `nova.exception.X` as a subclass `X_Remote` (module
    `nova.exception_Remote`) whose str() appends the remote traceback: what Nova's code sees is
    its class (isinstance) and its message, so that is what is reported.
    """
    cls = type(e)
    remote = cls.__name__.endswith('_Remote')
    if remote:
        cls = cls.__mro__[1]
    return {'class': cls.__name__, 'module': cls.__module__, 'remote': remote,
            'message': cls.__str__(e) if remote else str(e)}


def main():
    api = compute_rpcapi.ComputeAPI()
    image = a['image']
    spec = a['instance']
    inst = None if DB else instance_object(spec, image)
    results = []
    for op in a['ops']:
        try:
            if DB and op['op'] == 'create_instance':
                r = create_instance(spec, image)
            else:
                if DB and op['op'] not in ('service_is_up', 'get_host_uptime'):
                    inst = load(op['op'], spec)
                    api_action(inst, op)
                r = run(api, inst, image, op)
            results.append({'op': op['op'], 'ok': True, 'result': jsonable(r),
                            'type': type(r).__name__})
        except Exception as e:  # the test decides what each op should have raised
            results.append({'op': op['op'], 'ok': False, 'error': describe(e)})
    sys.stdout.write(json.dumps({'results': results, 'sent': sent}, sort_keys=True) + '\n')
    sys.stdout.flush()


try:
    main()
finally:
    rpc.cleanup()
