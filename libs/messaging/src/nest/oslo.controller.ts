import {
  type ArgumentsHost,
  Catch,
  Controller,
  type RpcExceptionFilter,
  UseFilters,
  UsePipes,
  ValidationPipe,
  applyDecorators,
} from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';
import { validationProblems } from '@bm/core';
import { InvalidRpcArguments } from '../errors';

/**
 * Nest's default RPC filter turns every error that is not an RpcException into "Internal server
 * error". oslo callers need the real class name and message (NodeNotFound, NoValidHost…), so
 * oslo controllers pass errors through untouched; the transport encodes them as oslo failures.
 */
@Catch()
export class OsloExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}

/** class-validator on `@Payload()` DTOs; a failure is an InvalidRpcArguments listing every bad field. */
export const osloValidationPipe = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  // The pipe does not know the method; the transport names it (OsloTransport).
  exceptionFactory: (errors) => new InvalidRpcArguments('', validationProblems(errors)),
});

/** A controller serving oslo RPC: errors keep their names; payload DTOs are validated. */
export function OsloController(): ClassDecorator {
  return applyDecorators(Controller(), UseFilters(new OsloExceptionFilter()), UsePipes(osloValidationPipe));
}
