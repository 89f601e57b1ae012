"""Creates an instance in Nova's database as Nova's API does (objects.Instance.create, direct DB
access from the nova.conf given), in vm_state building / task_state scheduling, and prints its
primitive as Nova would send it to a compute host (JSON on stdout).

stdin: {"conf": "<nova.conf>", "uuid": "...", "name": "vm1"}
"""
import json
import sys

from nova import config, context, objects


def main():
    a = json.load(sys.stdin)
    config.parse_args(['create_instance', '--config-file', a['conf']])
    objects.register_all()
    ctx = context.get_admin_context()
    flavor = objects.Flavor(name='bm.small', flavorid='bm-small', memory_mb=512, vcpus=1,
                            root_gb=1, ephemeral_gb=0, swap=0, extra_specs={})
    inst = objects.Instance(ctx, uuid=a['uuid'], vm_state='building', task_state='scheduling',
                            power_state=0, project_id='p-bm', user_id='u-bm',
                            display_name=a['name'], hostname=a['name'], flavor=flavor,
                            instance_type_id=1, launch_index=0)
    inst.create()
    print(json.dumps(inst.obj_to_primitive()))


if __name__ == '__main__':
    main()
