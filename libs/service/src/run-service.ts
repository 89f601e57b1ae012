import 'reflect-metadata';
import { Logger, type ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type BmConfig, ConfigError, configFileFromArgv, loadConfig, redactUrl } from '@bm/config';
import { ServiceModule } from './service.module';

export interface ServiceSpec {
  /** Process name, as in the README and docker-compose (`compute`, `power`, …). */
  name: string;
  /** /healthz port when `[DEFAULT] health_port` is 0. */
  healthPort: number;
  /** The app's own modules. */
  imports?: ModuleMetadata['imports'];
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
    logger: ['log', 'warn', 'error'],
  });
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
  log.log(`host=${config.default.host} database=${redactUrl(config.baremetal.sql_connection)} health=http://127.0.0.1:${port}/healthz`);
}
