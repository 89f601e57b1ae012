import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { parseBmcAddress } from '@bm/domain';
import { CommandRunner } from '@bm/exec';
import {
  BOOT_DEVICES,
  type BmcCredentials,
  type BootDevice,
  IpmiClient,
  type PowerAction,
  QemuMachine,
  SimulatedMachine,
  VirtualBmc,
} from '@bm/ipmi';
import { type CliSession, integer } from '../session';

const POWER_ACTIONS = ['status', 'on', 'off', 'cycle', 'reset', 'soft'] as const;

function bmcAddress(value: string): { host: string; port: number } {
  const a = parseBmcAddress(value);
  if (typeof a === 'string') throw new InvalidArgumentError(a);
  return a;
}

async function readPassword(s: CliSession, file: string): Promise<string> {
  return (await s.env.readText(file)).replace(/\r?\n$/, '');
}

interface VbmcOptions {
  port: number;
  user: string;
  passwordFile: string;
  address: string;
  power: 'on' | 'off';
  qemuMac?: string;
  qemuTap: string;
  qemuNetns?: string;
  qemuConsole: string;
  qemuLog?: string;
  qemuMemory: number;
  qemuDisk?: string;
}

/**
 * `bmctl ipmi …`: our native IPMI 2.0 client as an ipmitool-like command, and `bmctl vbmc start`:
 * one virtual BMC in the foreground (as VirtualBMC does), for the lab and for trying things.
 */
export function ipmiCommands(program: Command, session: CliSession): void {
  const ipmi = program
    .command('ipmi')
    .description('talk IPMI 2.0 (RMCP+, cipher suite 3) to a BMC with our native client')
    .requiredOption('--address <host[:port]>', 'the BMC (port 623 unless given)', bmcAddress)
    .requiredOption('--user <user>', 'BMC user')
    .requiredOption('--password-file <file>', 'file holding the BMC password (- reads standard input); never a flag')
    .option('--timeout <seconds>', 'deadline of the operation', integer, 5);

  const withBmc = async (cmd: Command, work: (c: IpmiClient, bmc: BmcCredentials) => Promise<void>) => {
    const s = session.for(cmd);
    const o = cmd.optsWithGlobals() as {
      address: { host: string; port: number };
      user: string;
      passwordFile: string;
      timeout: number;
    };
    const client = new IpmiClient({ deadlineMs: o.timeout * 1000 });
    try {
      await work(client, { ...o.address, user: o.user, password: await readPassword(s, o.passwordFile) });
    } finally {
      await client.close();
    }
  };

  ipmi
    .command('power')
    .description('chassis power status|on|off|cycle|reset|soft')
    .addArgument(new Argument('<action>', 'what to do').choices(POWER_ACTIONS))
    .action(async (action: (typeof POWER_ACTIONS)[number], _o: unknown, cmd: Command) =>
      withBmc(cmd, async (c, bmc) => {
        const s = session.for(cmd);
        if (action !== 'status') await c.power(bmc, action as PowerAction);
        const st = await c.powerStatus(bmc);
        s.print(
          { power: st.powerOn ? 'on' : 'off', ...(action !== 'status' ? { action } : {}) },
          () =>
            `${action === 'status' ? '' : `Chassis Power Control: ${action}\n`}Chassis Power is ${st.powerOn ? 'on' : 'off'}`,
        );
      }),
    );

  ipmi
    .command('bootdev')
    .description('set the boot device (next boot only unless --persistent)')
    .addArgument(new Argument('<device>', 'boot device').choices(Object.keys(BOOT_DEVICES)))
    .option('--persistent', 'for every boot, not only the next')
    .option('--efi', 'EFI boot instead of legacy BIOS')
    .action(async (device: BootDevice, o: { persistent?: boolean; efi?: boolean }, cmd: Command) =>
      withBmc(cmd, async (c, bmc) => {
        await c.setBootDevice(bmc, device, { persistent: !!o.persistent, efi: !!o.efi });
        const f = await c.getBootDevice(bmc);
        session
          .for(cmd)
          .print(
            f,
            () => `Boot device is ${f.device}${f.persistent ? ' (persistent)' : ' (next boot)'}${f.efi ? ', EFI' : ''}`,
          );
      }),
    );

  ipmi
    .command('mc')
    .description('management controller: mc info')
    .addArgument(new Argument('<what>').choices(['info']))
    .action(async (_what: string, _o: unknown, cmd: Command) =>
      withBmc(cmd, async (c, bmc) => {
        const id = await c.deviceId(bmc);
        session.for(cmd).printRecord({ ...id });
      }),
    );

  program
    .command('vbmc')
    .description('virtual BMCs (our IPMI server) for the lab and tests')
    .command('start')
    .description('run one virtual BMC in the foreground until interrupted; prints every state change')
    .requiredOption('--port <port>', 'UDP port', integer)
    .requiredOption('--user <user>', 'IPMI user')
    .requiredOption('--password-file <file>', 'file holding the password (- reads standard input)')
    .option('--address <address>', 'address to listen on', '127.0.0.1')
    .addOption(
      new Option('--power <state>', 'initial power state (simulated machine)').choices(['on', 'off']).default('off'),
    )
    .option(
      '--qemu-mac <mac>',
      'drive a QEMU VM with this NIC MAC instead of a simulated machine (power = the VM process)',
    )
    .option('--qemu-tap <dev>', "the tap device for the VM's NIC (must exist)", 'tap0')
    .option('--qemu-netns <name>', 'network namespace holding the tap (QEMU runs there)')
    .option('--qemu-console <file>', "file the VM's serial console is appended to", 'vm-console.log')
    .option('--qemu-log <file>', "file for QEMU's own messages")
    .option('--qemu-memory <mb>', 'VM memory', integer, 512)
    .option('--qemu-disk <file>', 'raw disk image attached as a virtio disk')
    .action(async (o: VbmcOptions, cmd: Command) => {
      const s = session.for(cmd);
      const machine = o.qemuMac
        ? new QemuMachine({
            runner: new CommandRunner(),
            mac: o.qemuMac,
            tap: o.qemuTap,
            netns: o.qemuNetns,
            serialLog: o.qemuConsole,
            qemuLog: o.qemuLog,
            memoryMb: o.qemuMemory,
            disk: o.qemuDisk,
          })
        : new SimulatedMachine({ powerOn: o.power === 'on' });
      const seen = machine.events.length;
      const bmc = new VirtualBmc({
        port: o.port,
        address: o.address,
        users: { [o.user]: await readPassword(s, o.passwordFile) },
        machine,
      });
      await bmc.start();
      const what = o.qemuMac
        ? `QEMU VM ${o.qemuMac} on ${o.qemuTap}${o.qemuNetns ? ` in netns ${o.qemuNetns}` : ''}, console ${o.qemuConsole}`
        : `power ${o.power}`;
      s.env.io.out(`virtual BMC listening on ${o.address}:${bmc.port} (user ${o.user}, ${what}); Ctrl-C stops it`);
      let printed = seen;
      const timer = setInterval(() => {
        for (; printed < machine.events.length; printed++) s.env.io.out(JSON.stringify(machine.events[printed]));
      }, 100);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(timer);
      await bmc.stop();
      if (machine instanceof QemuMachine) await machine.shutdown();
    });
}
