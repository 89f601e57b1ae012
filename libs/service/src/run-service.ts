import 'reflect-metadata';
import { type RequestListener, createServer } from 'node:http';
import { Logger, type ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { RpcServerSpec } from '@bm/contracts';
import { type BmConfig, ConfigError, configPathsFromArgv, loadConfig, redactUrl } from '@bm/config';
import { novaFailure } from '@bm/domain';
import { MAX_TIMER_MS, OsloTransport, routingKey } from '@bm/messaging';
import { Lifecycle } from './lifecycle';
import { Metrics } from './metrics';
import { SafeConsoleLogger } from './safe-console-logger';
import { openServiceLogging } from './logging/setup';
import { ServiceModule } from './service.module';

/** After the RPC drain, how long the shutdown hooks may take before the process is ended. */
const HOOKS_MARGIN_MS = 15_000;

export interface ServiceSpec {
  /** Process name, as in the README and docker-compose (`compute`, `power`, …). */
  name: string;
  /** Port of /healthz and /metrics when `[DEFAULT] health_port` is 0. */
  healthPort: number;
  /** The app's own modules. */
  imports?: ModuleMetadata['imports'];
  /**
   * Serve oslo RPC on `<topic>` and `<topic>.<host>` (exchange `control_exchange`), with these
   * endpoint versions (libs/contracts); the app's `@OsloController()`s provide the methods. Our
   * errors reach oslo peers as Nova's (`novaFailure`).
   */
  rpc?: RpcServerSpec;
  /**
   * Which RPC queues outlive a broker restart with the requests queued in them: 'all' for a
   * topic of our own (no one else declares its queues), 'server' (`<topic>.<host>` only) for a
   * Nova topic, whose shared queue Nova's services declare non-durable. Default: neither.
   */
  durableQueues?: 'server' | 'all';
}

/**
 * The whole of a service's main(): read the configuration once (argv `--config-file`, env,
 * nova.conf), answer /healthz on `[DEFAULT] health_host` (127.0.0.1) at once (readiness 503
 * `starting`, naming what is missing, while the database and the broker are retried, forever;
 * liveness 200; /metrics with the process metrics), start Nest with the shared
 * ServiceModule plus the app's modules, then let the app answer it. SIGTERM/SIGINT stop it
 * gracefully (see `stop` below). A bad configuration exits 3 with its message.
 */
export async function runService(spec: ServiceSpec, argv = process.argv, env = process.env): Promise<void> {
  const log = new Logger(spec.name);
  let config: BmConfig;
  try {
    config = loadConfig({ configPaths: configPathsFromArgv(argv), env });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${spec.name}: ${e.message}\n`);
      process.exit(3);
    }
    throw e;
  }
  // The log as oslo.log's options say (a file, JSON, syslog), before the first line is written.
  const logging = await openServiceLogging(spec.name, config.default).catch((e: Error) => {
    process.stderr.write(`${spec.name}: ${e.message}\n`);
    process.exit(3);
  });
  const logger = new SafeConsoleLogger({ logLevels: logging.levels, sinks: logging.sinks });
  Logger.overrideLogger(logger);
  for (const w of config.warnings) log.warn(String(w));
  const port = config.default.health_port || spec.healthPort;
  const lifecycle = new Lifecycle();
  const metrics = new Metrics();
  // bm_queue_messages: the RPC server's own queues (not the per-process fanout queue).
  if (spec.rpc) {
    const { topic } = spec.rpc;
    metrics.watchQueues(topic, routingKey({ topic, server: config.default.host }));
  }
  // One HTTP server for the whole life of the process: the starting answer, then the app's.
  let handler: RequestListener = lifecycle.startingHandler(spec.name, metrics);
  const http = createServer((req, res) => handler(req, res));
  await new Promise<void>((listening, failed) => {
    http.once('error', failed);
    http.listen(port, config.default.health_host, () => listening());
  });
  // Stopped while still waiting for its dependencies: nothing has started, nothing to finish.
  const stopWhileStarting = (signal: string) => {
    log.log(`${signal} while starting (missing: ${lifecycle.missing().join(', ') || 'none'}): exiting`);
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, stopWhileStarting);
  const app = await NestFactory.create(ServiceModule.forRoot(spec.name, config, spec.imports, lifecycle, metrics), {
    logger,
  });
  let transport: OsloTransport | undefined;
  if (spec.rpc) {
    transport = new OsloTransport({
      url: config.default.transport_url,
      ssl: config.oslo_messaging_rabbit,
      adminRole: config.default.rpc_admin_role,
      adminSenders:
        config.default.rpc_check_sender && config.default.rpc_admin_senders !== ''
          ? new RegExp(config.default.rpc_admin_senders)
          : undefined,
      exchange: config.default.control_exchange,
      topic: spec.rpc.topic,
      server: config.default.host,
      endpoints: spec.rpc.endpoints,
      durableQueues: spec.durableQueues,
      observer: metrics.rpc,
      pingEnabled: config.default.rpc_ping_enabled,
      executorSize: config.default.executor_thread_pool_size,
      prefetch: config.oslo_messaging_rabbit.rabbit_qos_prefetch_count,
      describeFailure: novaFailure,
      logger: {
        log: (m) => log.log(m),
        warn: (m) => log.warn(m),
        error: (m) => log.error(m),
        debug: (m) => log.debug(m),
      },
    });
    app.connectMicroservice({ strategy: transport });
    await app.startAllMicroservices();
  }
  await app.init();
  handler = app.getHttpAdapter().getInstance() as RequestListener;
  lifecycle.phase = 'running';
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.removeListener(signal, stopWhileStarting);

  const graceS = config.default.graceful_shutdown_timeout;
  const graceMs = graceS === 0 ? Infinity : graceS * 1000;
  /**
   * SIGTERM/SIGINT (oslo.service's graceful stop): /healthz turns 503 `stopping`; the RPC server
   * takes no new requests (queued ones stay on the broker for the next instance) and gives the
   * running ones up to graceful_shutdown_timeout to finish and reply; then every module's
   * shutdown hooks run (deploy jobs drain the same way) and the process exits 0. A second signal,
   * or the grace period run out with the hooks still busy, ends it at once.
   */
  const stop = async (signal: string) => {
    log.log(`${signal}: stopping (grace ${graceS ? `${graceS} s` : 'unlimited'})`);
    lifecycle.phase = 'stopping';
    const started = Date.now();
    if (Number.isFinite(graceMs)) {
      setTimeout(
        () => {
          log.error(`still stopping after the ${graceS} s grace period: exiting`);
          process.exit(1);
        },
        Math.min(graceMs + HOOKS_MARGIN_MS, MAX_TIMER_MS),
      ).unref();
    }
    await transport?.drain(graceMs);
    await app.close();
    await new Promise<void>((closed) => http.close(() => closed()));
    log.log(`stopped in ${Date.now() - started} ms`);
    await logging.close();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => process.exit(1));
      stop(signal).then(
        () => process.exit(0),
        (e: unknown) => {
          log.error(`shutdown failed: ${(e as Error).message}`);
          process.exit(1);
        },
      );
    });
  }
  const rpc = spec.rpc ? ` rpc=${config.default.control_exchange}/${spec.rpc.topic}.${config.default.host}` : '';
  log.log(
    `host=${config.default.host} database=${redactUrl(config.baremetal.sql_connection)} ` +
      `broker=${redactUrl(config.default.transport_url)}${rpc} health=http://${config.default.health_host}:${port}/healthz ` +
      `(waited ${Date.now() - lifecycle.startedAt} ms for the database and the broker)`,
  );
}
