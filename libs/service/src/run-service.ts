import 'reflect-metadata';
import { Logger, type ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { RpcServerSpec } from '@bm/contracts';
import { type BmConfig, ConfigError, configFileFromArgv, loadConfig, redactUrl } from '@bm/config';
import { novaFailure } from '@bm/domain';
import { OsloTransport } from '@bm/messaging';
import { ServiceModule } from './service.module';

export interface ServiceSpec {
  /** Process name, as in the README and docker-compose (`compute`, `power`, …). */
  name: string;
  /** /healthz port when `[DEFAULT] health_port` is 0. */
  healthPort: number;
  /** The app's own modules. */
  imports?: ModuleMetadata['imports'];
  /**
   * Serve oslo RPC on `<topic>` and `<topic>.<host>` (exchange `control_exchange`), with these
   * endpoint versions (libs/contracts); the app's `@OsloController()`s provide the methods. Our
   * errors reach oslo peers as Nova's (`novaFailure`).
   */
  rpc?: RpcServerSpec;
}

/**
 * The whole of a service's main(): read the configuration once (argv `--config-file`, env,
 * nova.conf), start Nest with the shared ServiceModule plus the app's modules, serve /healthz
 * on 127.0.0.1, stop cleanly on SIGTERM/SIGINT. A bad configuration exits 3 with its message.
 */
export async function runService(spec: ServiceSpec, argv = process.argv, env = process.env): Promise<void> {
  const log = new Logger(spec.name);
  let config: BmConfig;
  try {
    config = loadConfig({ configFile: configFileFromArgv(argv), env });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${spec.name}: ${e.message}\n`);
      process.exit(3);
    }
    throw e;
  }
  for (const w of config.warnings) log.warn(String(w));
  const app = await NestFactory.create(ServiceModule.forRoot(spec.name, config, spec.imports), {
    logger: config.default.debug ? ['debug', 'log', 'warn', 'error'] : ['log', 'warn', 'error'],
  });
  if (spec.rpc) {
    app.connectMicroservice({
      strategy: new OsloTransport({
        url: config.default.transport_url,
        exchange: config.default.control_exchange,
        topic: spec.rpc.topic,
        server: config.default.host,
        endpoints: spec.rpc.endpoints,
        pingEnabled: config.default.rpc_ping_enabled,
        describeFailure: novaFailure,
        logger: { log: (m) => log.log(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
      }),
    });
    await app.startAllMicroservices();
  }
  const port = config.default.health_port || spec.healthPort;
  await app.listen(port, '127.0.0.1');
  // SIGTERM/SIGINT: run every module's shutdown hooks, then exit 0 (a clean stop, not a crash).
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.log(`${signal}: stopping`);
      app.close().then(
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
      `broker=${redactUrl(config.default.transport_url)}${rpc} health=http://127.0.0.1:${port}/healthz`,
  );
}
