// Turn zod issues into ConfigProblems a person can act on: the dotted field path, the line of that
// field, and a message in plain words (zod's defaults read like "Invalid input: expected number").
import type { z } from 'zod';
import { ErrorCodes } from '../lib/errors.js';
import { show } from './schemas/common.js';
import { formatPath, type Locate } from './positions.js';
import type { ConfigProblem, SourcePosition } from './types.js';

type Issue = z.core.$ZodIssue;

/** What every problem about one document shares. */
export interface ProblemBase {
  source?: SourcePosition | undefined;
  locate?: Locate | undefined;
  kind?: string | undefined;
  name?: string | undefined;
}

export function problem(
  base: ProblemBase,
  code: string,
  message: string,
  path?: ReadonlyArray<string | number>,
  severity: ConfigProblem['severity'] = 'error',
): ConfigProblem {
  const line = (path && base.locate?.(path)) ?? base.source?.line;
  const p: ConfigProblem = { code, severity, message };
  if (base.source?.file) p.file = base.source.file;
  if (line !== undefined) p.line = line;
  if (base.kind) p.kind = base.kind;
  if (base.name) p.name = base.name;
  if (path && path.length) p.field = formatPath(path);
  return p;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
};

// zod's built-in messages all start like this; anything else was written by our schemas.
const ZOD_DEFAULT = /^(Invalid|Too (small|big)|Unrecognized)/;

function got(input: unknown): string {
  if (input === null) return 'an empty value';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `${typeof input} ${show(input)}`;
}

function describe(iss: Issue): string {
  if (iss.code === 'custom' || !ZOD_DEFAULT.test(iss.message)) return iss.message;
  const input = (iss as { input?: unknown }).input;
  switch (iss.code) {
    case 'invalid_type': {
      const last = iss.path[iss.path.length - 1];
      if (input === undefined)
        return typeof last === 'string' ? `missing required field "${last}"` : 'is required';
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${got(input)}`;
    }
    case 'invalid_value':
      return `must be ${iss.values.length === 1 ? '' : 'one of '}${iss.values.map((v) => show(v)).join(', ')} (got ${show(input)})`;
    case 'too_small':
    case 'too_big': {
      const bound = iss.code === 'too_small' ? iss.minimum : iss.maximum;
      const word = iss.code === 'too_small' ? 'at least' : 'at most';
      if (iss.origin === 'array') return `must have ${word} ${bound} item${Number(bound) === 1 ? '' : 's'}`;
      if (iss.origin === 'string') {
        return iss.code === 'too_small' && Number(bound) === 1
          ? 'must not be empty'
          : `must be ${word} ${bound} characters`;
      }
      return `must be ${word} ${bound} (got ${show(input)})`;
    }
    case 'invalid_union': {
      // Report the branch that got furthest: one whose complaint is about the value, not its type.
      const inner = iss.errors.flat().find((e) => e.code !== 'invalid_type' && e.path.length === 0);
      if (inner) return describe(inner);
      const types = iss.errors
        .flat()
        .flatMap((e) => (e.code === 'invalid_type' ? [EXPECTED[e.expected] ?? e.expected] : []));
      return `expected ${[...new Set(types)].join(' or ') || 'another value'}, got ${got(input)}`;
    }
    default:
      return iss.message;
  }
}

/** One problem per issue; an unknown-keys issue becomes one problem per key, each at its own line. */
export function issueProblems(issues: readonly Issue[], base: ProblemBase): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const iss of issues) {
    const path = iss.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (iss.code === 'unrecognized_keys') {
      const lines = iss.message.split('\n');
      iss.keys.forEach((k, i) => {
        const msg = lines.length === iss.keys.length ? (lines[i] as string) : `unknown field "${k}"`;
        out.push(problem(base, ErrorCodes.CONFIG_INVALID, msg, [...path, k]));
      });
    } else {
      out.push(problem(base, ErrorCodes.CONFIG_INVALID, describe(iss), path));
    }
  }
  return out;
}
