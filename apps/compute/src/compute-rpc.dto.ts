import { IsString, MaxLength, MinLength } from 'class-validator';

export class GetAvailableResourceArgs {
  /** A node uuid (Nova's nodename for a bare-metal hypervisor). */
  @IsString() @MinLength(1) @MaxLength(255)
  nodename: string;
}
