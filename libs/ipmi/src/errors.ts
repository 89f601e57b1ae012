import { type ErrorKind, NovaBmError } from '@bm/core';
import { completionCodeName } from './message';
import { rakpStatusName } from './rakp';

/** Every IPMI failure names the BMC (`host:port`) and what went wrong; never a password. */
export class IpmiError extends NovaBmError {
  readonly name: string = 'IpmiError';
  readonly kind: ErrorKind = 'failed';
  constructor(
    readonly bmc: string,
    message: string,
  ) {
    super(`BMC ${bmc}: ${message}`);
  }
}

/** No answer before the deadline: the BMC is off the network, or not an IPMI LAN BMC. */
export class BmcUnreachable extends IpmiError {
  override readonly name = 'BmcUnreachable';
  override readonly kind = 'unavailable';
}

/** Wrong password, unknown user, or a role the user may not have. */
export class BmcAuthenticationFailed extends IpmiError {
  override readonly name = 'BmcAuthenticationFailed';
}

/** The BMC refused a session step (RMCP+ status code), or chose algorithms we do not accept. */
export class BmcSessionRefused extends IpmiError {
  override readonly name = 'BmcSessionRefused';
  constructor(
    bmc: string,
    step: string,
    readonly status?: number,
    detail?: string,
  ) {
    super(bmc, `${step} refused: ${detail ?? rakpStatusName(status ?? 0xff)}`);
  }
}

/** The BMC answered a command with a non-zero completion code. */
export class BmcCommandFailed extends IpmiError {
  override readonly name = 'BmcCommandFailed';
  constructor(
    bmc: string,
    readonly command: string,
    readonly completionCode: number,
  ) {
    super(
      bmc,
      `${command} failed: ${completionCodeName(completionCode)} (0x${completionCode.toString(16).padStart(2, '0')})`,
    );
  }
}
