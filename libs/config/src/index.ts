export { parseIni } from './ini';
export type { IniDocument, IniEntry, IniIssue, IniSection } from './ini';
export { ConfigError, formatIssue } from './issues';
export type { ConfigIssue, ConfigProblem, ConfigWarning } from './issues';
export { redactUrl } from './redact';
export { SYSLOG_FACILITIES } from './log-value-types';
export { describeOptions, envVarName, OPTION_GROUPS } from './options';
export type {
  BaremetalOptions,
  ComputeDriverKind,
  DefaultOptions,
  DeployHelperOptions,
  GlanceOptions,
  ImagesOptions,
  RackOptions,
  NotificationDriverKind,
  OsloMessagingNotificationsOptions,
  OsloMessagingRabbitOptions,
  HostManagerKind,
  NodeDriverKind,
  OptionDescription,
  OptionGroup,
  PowerManagerKind,
} from './options';
export { configPathsFromArgv, loadConfig, loadConfigFromText } from './load';
export type { BmConfig, ConfigPath, Env, LoadConfigOptions } from './load';
export * from './docs';
export { renderSampleConfig } from './sample';
