import { type ArgumentsHost, Catch, Injectable, Logger, type RpcExceptionFilter } from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';
import { InvalidRpcArguments } from '@bm/messaging';
import type { OsloContext } from '@bm/messaging';
import { instanceRef } from './instance-args';
import { InstanceNotifications } from './use-cases/instance-notifications';

/**
 * A build (run_instance, build_and_run_instance) whose arguments fail validation never reaches
 * the spawn. Sent as a cast, nobody would hear of it and Nova would wait out its build timeout:
 * so, as nova-compute fails a build it cannot start, the instance (when its uuid can be read)
 * gets compute.instance.create.error and, for an instance Nova sent with a conductor beside us,
 * a fault and vm_state error in Nova's database. The error still goes back to a caller.
 */
@Catch(InvalidRpcArguments)
@Injectable()
export class RefusedBuildFilter implements RpcExceptionFilter<InvalidRpcArguments> {
  private readonly log = new Logger('spawn');

  constructor(private readonly notifications: InstanceNotifications) {}

  catch(e: InvalidRpcArguments, host: ArgumentsHost): Observable<never> {
    const rpc = host.switchToRpc();
    const method = rpc.getContext<OsloContext>().getMethod();
    // The pipe does not know the method (the transport names it later): name it for the record.
    const named = e.method ? e : new InvalidRpcArguments(method, e.problems);
    const args = rpc.getData<Record<string, unknown>>();
    let instance;
    try {
      instance = instanceRef((args?.instance ?? {}) as Record<string, unknown>);
    } catch {
      this.log.error(`${method} refused, and no instance uuid to report it on: ${named.message}`);
    }
    if (instance) {
      const ref = instance;
      this.log.error(`${method} of ${ref.uuid} refused: ${named.message}`);
      void this.notifications.refused(ref, named).catch((x: unknown) => this.log.warn(`${(x as Error).message}`));
    }
    return throwError(() => e);
  }
}
