import { InvalidParameterValue, UUID_PATTERN, unwrapObject } from '@bm/domain';

/** What compute needs from Nova's instance (plain dict or versioned-object primitive). */
export interface InstanceRef {
  uuid: string;
  name: string;
  /** The instance's fields as sent (the primitive's data), for the notification payloads. */
  fields: Record<string, unknown>;
}

/** Nova's instance argument → its uuid, name (hostname, display_name or name) and fields. */
export function instanceRef(raw: Record<string, unknown>): InstanceRef {
  const data = unwrapObject(raw) as Record<string, unknown>;
  const uuid = data.uuid;
  if (typeof uuid !== 'string' || !UUID_PATTERN.test(uuid))
    throw new InvalidParameterValue([{ field: 'instance.uuid', message: 'must be a UUID' }], 'Invalid instance');
  const name =
    [data.hostname, data.display_name, data.name].find((v): v is string => typeof v === 'string' && v.length > 0) ??
    `instance-${uuid}`;
  return { uuid, name, fields: data };
}
