import { COMPUTE, COMPUTE_BAREMETAL, COMPUTE_SERVER } from './compute';
import { NETBOOT, NETBOOT_SERVER } from './netboot';
import { POWER, POWER_SERVER } from './power';
import { SCHEDULER, SCHEDULER_SERVER } from './scheduler';
import type { RpcServerSpec, RpcSurface } from './surface';

/** Who may call a surface, and which of its methods: an app of ours (by folder) or an outside peer. */
export interface Caller {
  /** `apps/<app>` for ours (its sources use `client`), or a peer's name (`Nova`). */
  who: string;
  app?: string;
  /** The typed client class the app calls through. */
  client?: string;
  methods: string[];
}

export interface SurfaceEntry {
  surface: RpcSurface;
  server: RpcServerSpec;
  /** The app serving it. */
  app: string;
  callers: Caller[];
}

/**
 * Every RPC surface with the app that serves it and who calls which of its methods: the source of
 * the call table in docs/architecture.md (test/docs.spec.ts keeps the two equal, and checks that
 * each app listed as a caller uses the client named).
 */
export const CATALOG: SurfaceEntry[] = [
  {
    surface: COMPUTE,
    server: COMPUTE_SERVER,
    app: 'compute',
    callers: [
      {
        who: 'scheduler',
        app: 'scheduler',
        client: 'ComputeClient',
        methods: ['runInstance', 'publishServiceCapabilities'],
      },
      {
        who: 'bmctl',
        app: 'cli',
        client: 'ComputeClient',
        methods: ['terminateInstance', 'rebootInstance', 'startInstance', 'stopInstance'],
      },
      { who: 'Nova (its compute RPC API)', methods: Object.keys(COMPUTE.methods) },
    ],
  },
  {
    surface: COMPUTE_BAREMETAL,
    server: COMPUTE_SERVER,
    app: 'compute',
    callers: [{ who: 'deploy-helper', app: 'deploy-helper', client: 'ComputeClient', methods: ['deployStateChanged'] }],
  },
  {
    surface: SCHEDULER,
    server: SCHEDULER_SERVER,
    app: 'scheduler',
    callers: [
      {
        who: 'compute',
        app: 'compute',
        client: 'SchedulerClient',
        methods: ['updateServiceCapabilities', 'runInstance'],
      },
      { who: 'bmctl', app: 'cli', client: 'SchedulerClient', methods: ['runInstance'] },
      { who: 'Nova (its scheduler RPC API)', methods: ['selectDestinations', 'runInstance'] },
    ],
  },
  {
    surface: POWER,
    server: POWER_SERVER,
    app: 'power',
    callers: [
      {
        who: 'compute',
        app: 'compute',
        client: 'PowerClient',
        methods: ['getPowerState', 'powerOn', 'powerOff', 'reboot', 'setBootDevice'],
      },
      {
        who: 'bmctl',
        app: 'cli',
        client: 'PowerClient',
        methods: ['getPowerState', 'powerOn', 'powerOff', 'reboot', 'setBootDevice', 'getBootDevice'],
      },
    ],
  },
  {
    surface: NETBOOT,
    server: NETBOOT_SERVER,
    app: 'netboot',
    callers: [
      { who: 'compute', app: 'compute', client: 'NetbootClient', methods: ['prepareDeploy', 'clean'] },
      { who: 'deploy-helper', app: 'deploy-helper', client: 'NetbootClient', methods: ['activateBoot'] },
      { who: 'bmctl', app: 'cli', client: 'NetbootClient', methods: ['validatePxe'] },
    ],
  },
];

const versions = (e: SurfaceEntry) =>
  e.server.endpoints
    .filter((p) => p.namespace === e.surface.namespace)
    .map((p) => p.version)
    .join(', ');

/** The call table (Markdown): per surface, its topic, versions, server and who calls what. */
export function renderCallTable(): string {
  const rows = CATALOG.flatMap((e) =>
    e.callers.map((c) => {
      const methods = c.methods.map((m) => `\`${(e.surface.methods as Record<string, string>)[m]}\``).join(', ');
      const topic = `\`${e.surface.topic}\`${e.surface.namespace ? ` ns \`${e.surface.namespace}\`` : ''}`;
      return `| ${c.who} | ${c.client ? `\`${c.client}\`` : '—'} | ${topic} | ${versions(e)} | ${e.app} | ${methods} |`;
    }),
  );
  return [
    '| caller | through | topic | served versions | served by | methods |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
