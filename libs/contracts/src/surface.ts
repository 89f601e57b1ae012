import type { RpcClient } from '@bm/messaging';
import { adminContext } from './conductor';

/**
 * One RPC surface of a service: the topic it listens on, the version its callers send, the
 * namespace (oslo's endpoint namespace, none for Nova's own APIs) and its method names. Every
 * topic, method and version string of the system is written in a file of this lib, once.
 */
export interface RpcSurface<M extends Record<string, string> = Record<string, string>> {
  readonly topic: string;
  /** The version our callers send (a server accepts the same major and any minor up to its own). */
  readonly version: string;
  readonly namespace?: string;
  readonly methods: M;
}

/** What a service serves: its topic and the oslo endpoints (version, namespace) it answers. */
export interface RpcServerSpec {
  topic: string;
  endpoints: { version: string; namespace?: string }[];
}

/** The Nest `@MessagePattern` of a method: its name, or `{ method, namespace }` in a namespace. */
export function patternOf<M extends Record<string, string>>(
  surface: RpcSurface<M>,
  method: keyof M,
): string | { method: string; namespace: string } {
  const name = surface.methods[method];
  return surface.namespace ? { method: name, namespace: surface.namespace } : name;
}

/** Calls and casts on one surface, at its version and namespace; the typed clients are built on it. */
export class SurfaceClient<M extends Record<string, string>> {
  constructor(
    private readonly rpc: RpcClient,
    private readonly surface: RpcSurface<M>,
    /** Seconds a call may take (default: the RpcClient's, oslo's rpc_response_timeout). */
    private readonly timeoutS?: number,
  ) {}

  /** The same surface bound to one server (`<topic>.<server>`): the client of one host's service. */
  on(server: string): HostClient<M> {
    return {
      call: (method, args) => this.call(server, method, args),
      cast: (method, args) => this.cast(server, method, args),
    };
  }

  /** A call to `<topic>.<server>` (or the shared `<topic>` queue without a server). */
  call<T>(server: string | undefined, method: keyof M, args: object, version?: string): Promise<T> {
    return this.rpc.call<T>(
      { topic: this.surface.topic, server },
      this.surface.methods[method],
      { ...args },
      {
        version: version ?? this.surface.version,
        namespace: this.surface.namespace,
        timeout: this.timeoutS,
        // Our services act as Nova's did, with an admin context (power and netboot require it).
        context: adminContext(),
      },
    );
  }

  cast(server: string | undefined, method: keyof M, args: object, version?: string): Promise<void> {
    return this.rpc.cast(
      { topic: this.surface.topic, server },
      this.surface.methods[method],
      { ...args },
      {
        version: version ?? this.surface.version,
        namespace: this.surface.namespace,
        context: adminContext(),
      },
    );
  }

  /** A cast to every server of the topic (`<topic>_fanout`). */
  fanoutCast(method: keyof M, args: object, version?: string): Promise<void> {
    return this.rpc.fanoutCast(
      this.surface.topic,
      this.surface.methods[method],
      { ...args },
      {
        version: version ?? this.surface.version,
        namespace: this.surface.namespace,
        context: adminContext(),
      },
    );
  }
}

/** Calls and casts to one server of a surface (SurfaceClient.on). */
export interface HostClient<M extends Record<string, string>> {
  call<T>(method: keyof M, args: object): Promise<T>;
  cast(method: keyof M, args: object): Promise<void>;
}
