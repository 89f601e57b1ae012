#!/usr/bin/python3
"""A fake IPMI BMC for the peer tests: a pyghmi.ipmi.bmc.Bmc subclass (the VirtualBMC design,
with an in-memory machine instead of a libvirt domain).

    /usr/bin/python3 fake_bmc.py --port 9011 [--user admin] [--password password]
                                 [--address 127.0.0.1] [--power on|off] [--exit-on-stdin-eof]

Speaks IPMI 2.0 / RMCP+ cipher suite 3 only (pyghmi's server side), UDP on --address:--port.
stdout protocol (line-buffered, flushed):
  READY                                        once the UDP socket is bound
  {"t": ..., "op": "power_on", "before": "off", "after": "on"}        one JSON line per action
  {"t": ..., "op": "set_boot_device", "bootdev": "network", "persistent": false}
  {"t": ..., "op": "cold_reset"}
Exits 0 on SIGTERM / SIGINT (and, with --exit-on-stdin-eof, when stdin closes).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

import pyghmi.ipmi.bmc as bmc
import pyghmi.ipmi.command as ipmicommand


def emit(**event):
    sys.stdout.write(json.dumps(dict(t=round(time.time(), 3), **event)) + '\n')
    sys.stdout.flush()


class FakeBmc(bmc.Bmc):
    def __init__(self, authdata, port, address, power):
        super().__init__(authdata, port=port, address=address)
        self.power = power  # 'on' | 'off'
        self.bootdev = 'default'
        self.persistent = False

    def _set_power(self, op, after):
        before = self.power
        self.power = after
        emit(op=op, before=before, after=after)

    # --- the Bmc interface ------------------------------------------------------------------
    def get_power_state(self):
        return self.power

    def is_active(self):
        return self.power == 'on'

    def power_on(self):
        self._set_power('power_on', 'on')

    def power_off(self):
        self._set_power('power_off', 'off')

    def power_shutdown(self):
        # Soft off (ACPI): the fake OS shuts down at once.
        self._set_power('power_shutdown', 'off')

    def power_cycle(self):
        # Off then on; a machine that was off ends up on.
        self._set_power('power_cycle', 'on')

    def power_reset(self):
        # Hard reset: the power state does not change.
        self._set_power('power_reset', self.power)

    def cold_reset(self):
        emit(op='cold_reset')
        return 0  # completion code

    def get_boot_device(self):
        return self.bootdev

    def set_boot_device(self, bootdevice, persistent=False):
        self.bootdev = bootdevice
        self.persistent = persistent
        emit(op='set_boot_device', bootdev=bootdevice, persistent=persistent)

    # --- boot options: the base class drops the "persistent" bit; keep it -------------------
    def set_system_boot_options(self, request, session):
        data = request['data']
        if data and data[0] == 5 and len(data) >= 3:
            device = ipmicommand.boot_devices.get((data[2] >> 2) & 0b1111)
            if device is None:
                session.send_ipmi_response(code=0xcc)
                return
            self.set_boot_device(device, persistent=bool(data[1] & 0b01000000))
            session.send_ipmi_response()
            return
        super().set_system_boot_options(request, session)

    def get_system_boot_options(self, request, session):
        if request['data'] and request['data'][0] == 5:
            device = ipmicommand.boot_devices.get(self.bootdev, 0)
            flags = 0b10000000 | (0b01000000 if self.persistent else 0)
            session.send_ipmi_response(data=[1, 5, flags, device, 0, 0, 0])
            return
        super().get_system_boot_options(request, session)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--user', default='admin')
    parser.add_argument('--password', default='password')
    parser.add_argument('--address', default='127.0.0.1')
    parser.add_argument('--power', choices=('on', 'off'), default='off')
    parser.add_argument('--exit-on-stdin-eof', action='store_true',
                        help='exit when stdin closes (the harness keeps a pipe open, so the BMC '
                             'dies with the test process even if that is SIGKILLed)')
    args = parser.parse_args()

    def stop(_signum, _frame):
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            while os.read(0, 4096):
                pass
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

        threading.Thread(target=watch_stdin, name='stdin-eof', daemon=True).start()

    # Bmc.__init__ binds the UDP socket (session.Session._assignsocket), so READY is true.
    server = FakeBmc({args.user: args.password}, args.port, args.address, args.power)
    sys.stdout.write('READY\n')
    sys.stdout.flush()
    server.listen()


if __name__ == '__main__':
    main()
