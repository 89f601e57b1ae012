/** The configured PowerDriver (native IPMI, ipmitool or fake). */
export const POWER_DRIVER = Symbol('POWER_DRIVER');
