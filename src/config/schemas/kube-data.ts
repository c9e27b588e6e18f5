// What the Kubernetes API server checks in the data maps of Secrets and ConfigMaps: key names
// (IsConfigMapKey, which Secrets use too) and base64 values (the standard, padded alphabet).
import { show } from './common.js';

const KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Kubernetes IsConfigMapKey. */
export function keyProblem(k: string): string | undefined {
  if (k.length > 253) return `key ${show(k)} is longer than 253 characters`;
  if (!KEY.test(k)) return `invalid key ${show(k)}: use letters, digits, "-", "_" and "." only`;
  if (k === '.' || k === '..' || k.startsWith('..'))
    return `invalid key ${show(k)}: must not be "." or start with ".."`;
  return undefined;
}

/** The API server's base64 decoding (standard alphabet, padded; whitespace is not allowed). `plain` names
 *  the map that takes the same value as plain text: a Secret's `stringData`, a ConfigMap's `data`. */
export function base64Problem(v: string, plain = 'stringData'): string | undefined {
  if (BASE64.test(v)) return undefined;
  const bad = [...v].findIndex((c) => !/[A-Za-z0-9+/=]/.test(c));
  return bad >= 0
    ? `illegal base64 data at input byte ${bad}: put plain text under ${plain}, or encode it (base64 -w0)`
    : 'illegal base64 data: the length must be a multiple of 4 (missing "=" padding?)';
}
