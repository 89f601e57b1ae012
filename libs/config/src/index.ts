export { parseIni } from './ini';
export type { IniDocument, IniEntry, IniIssue, IniSection } from './ini';
export { ConfigError, formatIssue } from './issues';
export type { ConfigIssue, ConfigProblem, ConfigWarning } from './issues';
export { redactUrl } from './redact';
export { describeOptions, envVarName, OPTION_GROUPS } from './options';
export type {
  BaremetalOptions,
  ComputeDriverKind,
  DefaultOptions,
  DeployHelperOptions,
  GlanceOptions,
  ImagesOptions,
  NotificationDriverKind,
  OsloMessagingNotificationsOptions,
  OsloMessagingRabbitOptions,
  HostManagerKind,
  NodeDriverKind,
  OptionDescription,
  OptionGroup,
  PowerManagerKind,
} from './options';
export { configFileFromArgv, loadConfig, loadConfigFromText } from './load';
export type { BmConfig, Env, LoadConfigOptions } from './load';
export * from './docs';
