/** The IPMI commands we use (netFn, cmd) and their data, both directions (spec chapters 20, 22, 28). */
export const NetFn = { CHASSIS: 0x00, APP: 0x06 } as const;

export const Cmd = {
  GET_DEVICE_ID: 0x01, // App
  GET_CHANNEL_AUTH_CAPABILITIES: 0x38, // App
  SET_SESSION_PRIVILEGE: 0x3b, // App
  CLOSE_SESSION: 0x3c, // App
  GET_CHANNEL_CIPHER_SUITES: 0x54, // App
  GET_CHASSIS_STATUS: 0x01, // Chassis
  CHASSIS_CONTROL: 0x02, // Chassis
  SET_SYSTEM_BOOT_OPTIONS: 0x08, // Chassis
  GET_SYSTEM_BOOT_OPTIONS: 0x09, // Chassis
} as const;

export const Privilege = { CALLBACK: 1, USER: 2, OPERATOR: 3, ADMINISTRATOR: 4 } as const;

/** Chassis Control data byte (§28.3). */
export const ChassisControl = { OFF: 0, ON: 1, CYCLE: 2, HARD_RESET: 3, DIAG_INTERRUPT: 4, SOFT_OFF: 5 } as const;
export type PowerAction = 'on' | 'off' | 'cycle' | 'reset' | 'soft';
export const POWER_ACTION: Record<PowerAction, number> = {
  on: ChassisControl.ON,
  off: ChassisControl.OFF,
  cycle: ChassisControl.CYCLE,
  reset: ChassisControl.HARD_RESET,
  soft: ChassisControl.SOFT_OFF,
};

export interface ChassisStatus {
  powerOn: boolean;
  overload: boolean;
  interlock: boolean;
  powerFault: boolean;
  controlFault: boolean;
  restorePolicy: 'always-off' | 'previous' | 'always-on' | 'unknown';
}

export function parseChassisStatus(d: Buffer): ChassisStatus {
  if (d.length < 1) throw new RangeError('Get Chassis Status response without data');
  const b = d[0];
  return {
    powerOn: (b & 1) !== 0,
    overload: (b & 2) !== 0,
    interlock: (b & 4) !== 0,
    powerFault: (b & 8) !== 0,
    controlFault: (b & 16) !== 0,
    restorePolicy: (['always-off', 'previous', 'always-on', 'unknown'] as const)[(b >> 5) & 3],
  };
}

export function encodeChassisStatus(powerOn: boolean): Buffer {
  return Buffer.from([powerOn ? 1 : 0, 0, 0]);
}

/** Boot device selector (Table 28-14, boot flags data 2 bits 5:2). */
export const BOOT_DEVICES = { none: 0, pxe: 1, disk: 2, safe: 3, diag: 4, cdrom: 5, bios: 6, floppy: 15 } as const;
export type BootDevice = keyof typeof BOOT_DEVICES;

export interface BootFlags {
  device: BootDevice;
  /** false = next boot only. */
  persistent: boolean;
  efi: boolean;
  /** The "boot flags valid" bit. */
  valid: boolean;
}

const BOOT_FLAGS_PARAM = 5;

/** Set System Boot Options, parameter 5 (boot flags): `05 B1 B2 B3 B4 B5`. */
export function encodeSetBootFlags(f: Omit<BootFlags, 'valid'>): Buffer {
  const b1 = 0x80 | (f.persistent ? 0x40 : 0) | (f.efi ? 0x20 : 0);
  return Buffer.from([BOOT_FLAGS_PARAM, b1, BOOT_DEVICES[f.device] << 2, 0, 0, 0]);
}

export function decodeBootFlags(b1: number, b2: number): BootFlags {
  const sel = (b2 >> 2) & 0x0f;
  const device = (Object.entries(BOOT_DEVICES).find(([, v]) => v === sel)?.[0] ?? 'none') as BootDevice;
  return { device, persistent: (b1 & 0x40) !== 0, efi: (b1 & 0x20) !== 0, valid: (b1 & 0x80) !== 0 };
}

/** Get System Boot Options request for parameter 5: `05 00 00`. */
export const GET_BOOT_FLAGS_REQUEST = Buffer.from([BOOT_FLAGS_PARAM, 0, 0]);

/** Response `01 05 B1…B5` (parameter version 1, parameter 5). */
export function parseGetBootFlags(d: Buffer): BootFlags {
  if (d.length < 4 || (d[1] & 0x7f) !== BOOT_FLAGS_PARAM) throw new RangeError('not a boot flags parameter');
  return decodeBootFlags(d[2], d[3]);
}

export function encodeGetBootFlagsResponse(f: BootFlags): Buffer {
  const b1 = (f.valid ? 0x80 : 0) | (f.persistent ? 0x40 : 0) | (f.efi ? 0x20 : 0);
  return Buffer.from([0x01, BOOT_FLAGS_PARAM, b1, BOOT_DEVICES[f.device] << 2, 0, 0, 0]);
}

export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  firmware: string;
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
}

export function parseDeviceId(d: Buffer): DeviceId {
  if (d.length < 11) throw new RangeError('Get Device ID response too short');
  const minor = d[3].toString(16).padStart(2, '0');
  return {
    deviceId: d[0],
    deviceRevision: d[1] & 0x0f,
    firmware: `${d[2] & 0x7f}.${minor}`,
    ipmiVersion: `${d[4] & 0x0f}.${d[4] >> 4}`,
    manufacturerId: d[6] | (d[7] << 8) | ((d[8] & 0x0f) << 16),
    productId: d.readUInt16LE(9),
  };
}

export function encodeDeviceId(id: DeviceId): Buffer {
  const [major, minor] = id.firmware.split('.');
  const b = Buffer.alloc(11);
  b[0] = id.deviceId;
  b[1] = id.deviceRevision & 0x0f;
  b[2] = Number(major) & 0x7f;
  b[3] = parseInt(minor ?? '0', 16);
  b[4] = 0x02; // IPMI 2.0
  b[5] = 0x00; // no additional device support advertised
  b[6] = id.manufacturerId & 0xff;
  b[7] = (id.manufacturerId >> 8) & 0xff;
  b[8] = (id.manufacturerId >> 16) & 0x0f;
  b.writeUInt16LE(id.productId, 9);
  return b;
}

/**
 * Get Channel Authentication Capabilities response (§22.13), as a BMC offering RMCP+ only: no
 * IPMI 1.5 authentication types, "IPMI v2.0 extended data", non-null user names only.
 */
export const CHANNEL_AUTH_CAPABILITIES_V20 = Buffer.from([0x01, 0x80, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00]);

export function supportsIpmi20(d: Buffer): boolean {
  return d.length >= 4 && (d[1] & 0x80) !== 0 && (d[3] & 0x02) !== 0;
}
