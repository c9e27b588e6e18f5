// Where each field of a loaded resource sits in its file, so that problems found later (by `analyze`,
// or by the compiler) can point at the exact line. Kept beside the resource in a WeakMap rather than on
// it, so resources stay plain data that can be stored, compared and sent as JSON.
import type { Resource } from './types.js';

export type FieldPath = ReadonlyArray<string | number>;
/** Line (1-based) of the node at `path` in the resource's document, or of its nearest existing parent. */
export type Locate = (path: FieldPath) => number | undefined;

const locators = new WeakMap<object, Locate>();

export function rememberPositions(resource: Resource, locate: Locate): void {
  locators.set(resource, locate);
}

/** The line of `path` within `resource` when it came from a file, else the document's line, if any. */
export function fieldLine(resource: Resource, path: FieldPath): number | undefined {
  return locators.get(resource)?.(path) ?? resource.source?.line;
}

/** `['spec', 'http', 0, 'route']` -> `spec.http[0].route`; odd keys are quoted: `annotations["a.b/c"]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}
