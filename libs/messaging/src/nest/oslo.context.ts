import { BaseRpcContext } from '@nestjs/microservices';
import type { CallInfo } from '../dispatcher';

/** What `@Ctx()` gives an oslo RPC handler: the caller's context and the call's envelope fields. */
export class OsloContext extends BaseRpcContext<[CallInfo]> {
  constructor(call: CallInfo) {
    super([call]);
  }
  /** Nova's RequestContext as a dict (`request_id`, `user_id`, `project_id`, …, `client_timeout`). */
  getContext(): CallInfo['context'] {
    return this.args[0].context;
  }
  getMethod(): string {
    return this.args[0].method;
  }
  getVersion(): string | undefined {
    return this.args[0].version;
  }
  /** The broker user that published the request (AMQP user_id, vouched for by RabbitMQ), if set. */
  getSender(): string | undefined {
    return this.args[0].sender;
  }
  /** Set for a call (a reply goes back), undefined for a cast. */
  getMessageId(): string | undefined {
    return this.args[0].msgId;
  }
}
