import type { BrokerTopics } from '@bm/messaging';
import { COMPUTE_TASK, CONDUCTOR } from './conductor';
import { COMPUTE } from './compute';
import { NETBOOT } from './netboot';
import { POWER } from './power';
import { SCHEDULER } from './scheduler';

/** The topics the broker users' permissions are written for (libs/messaging brokerUsers). */
export const BROKER_TOPICS: BrokerTopics = {
  compute: COMPUTE.topic,
  scheduler: SCHEDULER.topic,
  power: POWER.topic,
  netboot: NETBOOT.topic,
  conductor: [CONDUCTOR.topic, COMPUTE_TASK.topic],
};
