import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ComputeClient, SchedulerClient } from '@bm/contracts';
import { type BmConfig, loadConfig, redactUrl } from '@bm/config';
import { NovaBmDatabase, PasswordVault } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { GlanceClient } from '@bm/images';
import { AmqpConnection, ConnectionLost, RpcClient } from '@bm/messaging';
import type { Io } from './output';

export interface CliEnv {
  io: Io;
  env: Record<string, string | undefined>;
  /** Reads a file, or standard input for `-`. */
  readText(path: string): Promise<string>;
  /** The management API client; tests may pass their own. */
  fetch?: typeof fetch;
}

interface Globals {
  configFile?: string;
  json?: boolean;
}

/**
 * What one bmctl run opens, lazily and once: the configuration, the database, the broker.
 * Commands reach it through `session.for(cmd)`; `close()` releases everything.
 */
export class CliSession {
  private config?: BmConfig;
  private db?: NovaBmDatabase;
  private amqp?: AmqpConnection;
  private globals: Globals = {};

  constructor(readonly env: CliEnv) {}

  /** Binds the session to the global options of the command being run. */
  for(cmd: Command): this {
    this.globals = cmd.optsWithGlobals() as Globals;
    return this;
  }

  getConfig(): BmConfig {
    if (!this.config) {
      this.config = loadConfig({ configFile: this.globals.configFile, env: this.env.env });
      for (const w of this.config.warnings) this.env.io.err(`warning: ${String(w)}`);
    }
    return this.config;
  }

  /** The configured database URL, when the configuration has been read (for error messages). */
  get databaseUrl(): string | undefined {
    return this.config?.baremetal.sql_connection;
  }

  /** nova_bm: its repositories and schema, with the BMC password key (`[baremetal] pm_password_key_file`). */
  async database(): Promise<NovaBmDatabase> {
    const c = this.getConfig().baremetal;
    this.db ??= await NovaBmDatabase.open(c.sql_connection, PasswordVault.fromKeyFile(c.pm_password_key_file));
    return this.db;
  }

  async enrollment(): Promise<EnrollmentService> {
    return EnrollmentService.of(await this.database(), this.getConfig().default.host);
  }

  /** An RPC client on the broker, on the configured control exchange (or `exchange`). */
  async rpc(exchange?: string): Promise<RpcClient> {
    return new RpcClient(await this.broker(), { exchange: exchange ?? this.getConfig().default.control_exchange });
  }

  /** The compute hosts; calls wait `timeoutS` (default: rpc_response_timeout). */
  async compute(timeoutS?: number): Promise<ComputeClient> {
    return new ComputeClient(await this.rpc(), timeoutS ?? this.getConfig().default.rpc_response_timeout);
  }

  /** The image service at `[glance] api_servers` (the first), with $OS_AUTH_TOKEN when set. */
  glance(): GlanceClient {
    const token = this.env.env.OS_AUTH_TOKEN;
    return new GlanceClient(this.getConfig().glance.api_servers[0], token === '' ? undefined : token);
  }

  async scheduler(): Promise<SchedulerClient> {
    return new SchedulerClient(await this.rpc());
  }

  /** The broker, failing fast (no reconnect loop) when it cannot be reached. */
  async broker(): Promise<AmqpConnection> {
    const config = this.getConfig();
    const url = config.default.transport_url;
    try {
      this.amqp ??= await AmqpConnection.open({ url, ssl: config.oslo_messaging_rabbit, initialMaxRetries: 0 });
    } catch (e) {
      const why = (e as { code?: string }).code ?? (e as Error).message;
      throw new ConnectionLost(`cannot reach the message broker at ${redactUrl(url)} (${why})`);
    }
    return this.amqp;
  }

  print(data: unknown, human: () => string): void {
    this.env.io.out(this.globals.json ? JSON.stringify(data, null, 2) : human());
  }

  async close(): Promise<void> {
    await this.db?.close();
    await this.amqp?.close();
  }
}

export function integer(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

export function positiveInteger(value: string): number {
  if (!/^[0-9]+$/.test(value) || !(Number(value) > 0) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!/^[0-9]*\.?[0-9]+$/.test(value) || !(n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
