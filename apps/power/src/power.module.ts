import { Module } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { PowerRecordRepository } from '@bm/db';
import { CommandRunner } from '@bm/exec';
import { Notifier } from '@bm/messaging';
import {
  FakePowerDriver,
  IpmitoolDriver,
  NativeIpmiDriver,
  type PowerDriver,
  PowerManager,
  PowerSync,
} from '@bm/power';
import { BM_CONFIG, Metrics } from '@bm/service';
import { PowerRpcController } from './power-rpc.controller';
import { PowerSyncService, onPowerChange } from './power-sync.service';
import { PowerTimeline } from './power-timeline';
import { POWER_DRIVER } from './tokens';

export { POWER_DRIVER };

/** `[baremetal] power_manager` → the driver: native IPMI 2.0 (default), ipmitool, or fake. */
export function makeDriver(config: BmConfig, runner: CommandRunner): PowerDriver {
  const deadlineMs = config.baremetal.ipmi_deadline * 1000;
  switch (config.baremetal.power_manager) {
    case 'ipmitool':
      return new IpmitoolDriver(runner);
    case 'fake':
      return new FakePowerDriver();
    default:
      return new NativeIpmiDriver({ deadlineMs });
  }
}

@Module({
  controllers: [PowerRpcController],
  providers: [
    CommandRunner,
    {
      provide: POWER_DRIVER,
      inject: [BM_CONFIG, CommandRunner, Metrics],
      useFactory: (c: BmConfig, runner: CommandRunner, metrics: Metrics) => {
        const driver = makeDriver(c, runner);
        // bm_ipmi_sessions_total, bm_ipmi_retransmits_total: the native client counts them.
        if (driver instanceof NativeIpmiDriver) metrics.watchIpmi(driver.client);
        return driver;
      },
    },
    {
      provide: PowerManager,
      inject: [POWER_DRIVER, BM_CONFIG],
      useFactory: (d: PowerDriver, c: BmConfig) =>
        new PowerManager(d, {
          retries: c.baremetal.ipmi_power_retry,
          callDeadlineMs: c.baremetal.ipmi_deadline * 1000,
        }),
    },
    {
      provide: PowerSync,
      inject: [POWER_DRIVER, PowerRecordRepository, BM_CONFIG, Notifier, PowerTimeline, Metrics],
      useFactory: (
        d: PowerDriver,
        records: PowerRecordRepository,
        c: BmConfig,
        n: Notifier,
        tl: PowerTimeline,
        metrics: Metrics,
      ) => {
        const { syncErrors } = metrics.power; // registered now: scraped as 0 before the first sweep
        return new PowerSync(d, records, {
          intervalMs: Math.max(1, c.baremetal.power_sync_interval) * 1000,
          deadlineMs: c.baremetal.ipmi_deadline * 1000,
          onChange: onPowerChange(n, c.default.host, tl),
          // By BMC address: bounded by the fleet, and what an operator looks for.
          onError: (t) => syncErrors.inc({ bmc: t.pm_address }),
        });
      },
    },
    PowerTimeline,
    PowerSyncService,
  ],
})
export class PowerModule {}
