/**
 * Nova's versioned objects as they travel over RPC: oslo.versionedobjects' primitive,
 *
 *   { "nova_object.name": "Flavor", "nova_object.namespace": "nova",
 *     "nova_object.version": "1.2", "nova_object.data": { …the fields that are set… },
 *     "nova_object.changes": [ …the fields changed since it was loaded… ] }
 *
 * Objects nest: a field holding an object holds its primitive; an ObjectList (`FlavorList`, …)
 * keeps its members in `data.objects`. A field that is not set is absent from `data`.
 *
 * Reading: Nova sends its objects at its own versions (it backports them only when the receiver
 * says IncompatibleObjectVersion), and each release adds fields. So a reader here takes a
 * primitive of a given object name at any version and hands back `data` for the caller to pick
 * the fields it needs: fields it does not know are ignored, never refused. Only a value that is
 * not that object at all is an error (InvalidParameterValue naming the argument).
 *
 * Writing: `novaObject` builds a primitive Nova's NovaObjectSerializer turns back into the real
 * object (e.g. `nova.objects.Selection`) on the caller's side.
 */
import { InvalidParameterValue } from '@bm/domain';

export const NOVA_OBJECT_NAME = 'nova_object.name';
export const NOVA_OBJECT_NAMESPACE = 'nova_object.namespace';
export const NOVA_OBJECT_VERSION = 'nova_object.version';
export const NOVA_OBJECT_DATA = 'nova_object.data';
export const NOVA_OBJECT_CHANGES = 'nova_object.changes';

// A type, not an interface, so that a primitive is also a plain Record (an argument's type).
export type NovaObjectPrimitive = {
  [NOVA_OBJECT_NAME]: string;
  [NOVA_OBJECT_NAMESPACE]: string;
  [NOVA_OBJECT_VERSION]: string;
  [NOVA_OBJECT_DATA]: Record<string, unknown>;
  [NOVA_OBJECT_CHANGES]?: string[];
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether `v` is a versioned object's primitive (of any object, any version). */
export function isNovaObject(v: unknown): v is NovaObjectPrimitive {
  return isRecord(v) && typeof v[NOVA_OBJECT_NAME] === 'string' && isRecord(v[NOVA_OBJECT_DATA]);
}

/** The object name of a primitive, or undefined when `v` is not one. */
export function novaObjectName(v: unknown): string | undefined {
  return isNovaObject(v) ? v[NOVA_OBJECT_NAME] : undefined;
}

/**
 * The fields (`nova_object.data`) of a primitive of object `name`, whatever its version.
 * `field` names where the value was found (`spec_obj.flavor`), for the error.
 */
export function readNovaObject(v: unknown, name: string, field: string): Record<string, unknown> {
  if (!isNovaObject(v)) throw new InvalidParameterValue([{ field, message: `must be a ${name} object primitive` }]);
  if (v[NOVA_OBJECT_NAME] !== name)
    throw new InvalidParameterValue([{ field, message: `must be a ${name} object, not ${v[NOVA_OBJECT_NAME]}` }]);
  return v[NOVA_OBJECT_DATA];
}

/** readNovaObject for a nullable field: absent or null is undefined. */
export function readOptionalNovaObject(v: unknown, name: string, field: string): Record<string, unknown> | undefined {
  return v === undefined || v === null ? undefined : readNovaObject(v, name, field);
}

/**
 * The members of an ObjectList primitive (`<name>`, e.g. `ComputeNodeList`), each read as
 * `itemName`: their fields, in order.
 */
export function readNovaObjectList(
  v: unknown,
  name: string,
  itemName: string,
  field: string,
): Record<string, unknown>[] {
  const objects = readNovaObject(v, name, field).objects;
  if (objects === undefined || objects === null) return [];
  if (!Array.isArray(objects))
    throw new InvalidParameterValue([{ field: `${field}.objects`, message: 'must be a list' }]);
  return objects.map((o, i) => readNovaObject(o, itemName, `${field}.objects[${i}]`));
}

/**
 * A primitive of object `name` at `version` holding `data`. Every field given counts as changed,
 * as for an object Nova has just built (its `obj_what_changed()`), which is what Nova's own
 * scheduler sends back.
 */
export function novaObject(
  name: string,
  version: string,
  data: Record<string, unknown>,
  namespace = 'nova',
): NovaObjectPrimitive {
  return {
    [NOVA_OBJECT_NAME]: name,
    [NOVA_OBJECT_NAMESPACE]: namespace,
    [NOVA_OBJECT_VERSION]: version,
    [NOVA_OBJECT_DATA]: data,
    [NOVA_OBJECT_CHANGES]: Object.keys(data).sort(),
  };
}
