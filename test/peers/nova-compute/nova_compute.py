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
# As nova.config.parse_args: the control exchange default first, then the (empty) configuration.
rpc.set_defaults(control_exchange=a['exchange'])
CONF([], project='nova', default_config_files=[], default_config_dirs=[])
# Parsing a URL registers oslo.messaging's transport options (transport_url among them).
oslo_messaging.TransportURL.parse(CONF)
CONF.set_override('transport_url', a['url'])
CONF.set_override('compute', a['pin'], group='upgrade_levels')
# Stop oslo.messaging's metrics thread at once, or a short-lived process lingers on exit.
CONF.set_override('metrics_thread_stop_timeout', 0, group='oslo_messaging_metrics')
objects.register_all()
rpc.init(CONF)
# How long a call waits for our answer: the option is registered by the first RPC client, which
# Nova's ComputeAPI router also makes first for that reason ("poke this path").
rpc.get_client(oslo_messaging.Target(topic='compute'))
CONF.set_override('rpc_response_timeout', a.get('timeout', 30))

from nova.compute import rpcapi as compute_rpcapi  # noqa: E402
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


def selection(node):
    return objects.Selection(
        service_host=a['host'], nodename=node, compute_node_uuid=node, cell_uuid=CELL,
        limits=objects.SchedulerLimits(numa_topology=None, vcpu=None, disk_gb=2, memory_mb=1024),
        allocation_request=json.dumps(
            {'allocations': {node: {'resources': {'CUSTOM_BAREMETAL': 1}}}}),
        allocation_request_version='1.36')


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
    """As conductor's schedule_and_build_instances casts it (nova/conductor/manager.py)."""
    spec = request_spec(inst, image)
    host = selection(inst.node)
    alternate = selection(str(uuid.uuid4()))
    filter_props = spec.to_legacy_filter_properties_dict()
    scheduler_utils.populate_retry(filter_props, inst.uuid)
    scheduler_utils.populate_filter_properties(filter_props, host)
    legacy_secgroups = [s.identifier for s in spec.security_groups]
    requested_networks = objects.NetworkRequestList(
        objects=[objects.NetworkRequest(network_id=network_request.NETWORK_ID_AUTO)])
    return api.build_and_run_instance(
        ctxt, instance=inst, image=image, request_spec=spec, filter_properties=filter_props,
        admin_password=op.get('admin_password', 'not-used-by-a-bare-metal-node'),
        injected_files=[], requested_networks=requested_networks,
        security_groups=legacy_secgroups, block_device_mapping=image_bdms(inst, image),
        host=host.service_host, node=host.nodename, limits=host.limits, host_list=[alternate],
        accel_uuids=[])


def rebuild_instance(api, inst, image, op):
    """As Nova's API changes the instance (compute/api.py rebuild), then the conductor casts it."""
    new_image = op['image']
    orig_image_ref = inst.image_ref
    orig_sys_metadata = dict(inst.system_metadata)
    inst.update(image_fields(new_image))
    for key in [k for k in inst.system_metadata if k.startswith('image_')]:
        del inst.system_metadata[key]
    inst.system_metadata.update(utils.get_system_metadata_from_image(new_image, inst.flavor))
    inst.system_metadata['image_base_image_ref'] = new_image['id']
    inst.task_state = 'rebuilding'
    inst.obj_reset_changes()
    spec = request_spec(inst, new_image)
    host = selection(inst.node)
    return api.rebuild_instance(
        ctxt, instance=inst, new_pass=None, injected_files=[], image_ref=new_image['id'],
        orig_image_ref=orig_image_ref, orig_sys_metadata=orig_sys_metadata,
        bdms=image_bdms(inst, new_image), recreate=False, on_shared_storage=None,
        host=host.service_host, node=host.nodename,
        preserve_ephemeral=op.get('preserve_ephemeral', False), migration=None,
        limits=host.limits.to_dict(), request_spec=spec, accel_uuids=[],
        reimage_boot_volume=False)


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
        return api.terminate_instance(ctxt, inst, bdms=image_bdms(inst, image))
    if name == 'get_console_output':
        return api.get_console_output(ctxt, inst, op.get('tail_length'))
    if name == 'get_diagnostics':
        return api.get_diagnostics(ctxt, inst)
    if name == 'get_instance_diagnostics':
        return api.get_instance_diagnostics(ctxt, inst)
    if name == 'get_host_uptime':
        return api.get_host_uptime(ctxt, a['host'])
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
    inst = instance_object(a['instance'], image)
    results = []
    for op in a['ops']:
        try:
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
