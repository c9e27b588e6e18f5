// Load user config: YAML (or JSON) text -> validated, typed resources, and problems that point at the
// file, line and field to fix. Loading never throws: a bad document is reported and the rest still load,
// so `weft apply` and `weft analyze` can show every mistake at once.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { ErrorCodes } from '../lib/errors.js';
import { issueProblems, problem, type ProblemBase } from './issues.js';
import { rememberPositions, type Locate } from './positions.js';
import { apiGroup, KIND_SCHEMAS } from './schemas/index.js';
import { show } from './schemas/common.js';
import {
  KINDS,
  resourceKey,
  type ConfigProblem,
  type Kind,
  type Resource,
  type SourcePosition,
} from './types.js';

export interface LoadResult {
  resources: Resource[];
  problems: ConfigProblem[];
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Parse a multi-document YAML (or JSON) text. Never throws; problems carry file, line, kind, name, field. */
export function parseDocuments(text: string, file: string): LoadResult {
  return dedupe(parseRaw(text, file));
}

/** Load files and folders (recursive; .yaml/.yml/.json; sorted for determinism). */
export async function loadPaths(paths: string[]): Promise<LoadResult> {
  const all: LoadResult = { resources: [], problems: [] };
  for (const p of paths) {
    let files: string[];
    try {
      files = await collectFiles(p, new Set());
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const message = err.code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${err.message}`;
      all.problems.push({ code: ErrorCodes.FILE_NOT_FOUND, severity: 'error', file: p, message });
      continue;
    }
    for (const f of files) {
      let text: string;
      try {
        text = await readFile(f, 'utf8');
      } catch (e) {
        all.problems.push({
          code: ErrorCodes.FILE_NOT_FOUND,
          severity: 'error',
          file: f,
          message: `cannot read: ${(e as Error).message}`,
        });
        continue;
      }
      const r = parseRaw(text, f);
      all.resources.push(...r.resources);
      all.problems.push(...r.problems);
    }
  }
  return dedupe(all);
}

/** Validate one already-parsed object (e.g. JSON sent to the API). */
export function validateObject(
  obj: unknown,
  source?: SourcePosition,
): { resource?: Resource; problems: ConfigProblem[] } {
  if (isObject(obj) && obj.kind === 'List') {
    return {
      problems: [
        problem(
          { source, kind: 'List' },
          ErrorCodes.CONFIG_INVALID,
          'send the items of a List one at a time',
        ),
      ],
    };
  }
  return validateOne(obj, source, undefined);
}

// ---- internals --------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function collectFiles(p: string, seen: Set<string>): Promise<string[]> {
  const st = await stat(p);
  if (!st.isDirectory()) return [p]; // a file named explicitly is loaded whatever its extension
  const real = await realpath(p);
  if (seen.has(real)) return []; // a symlink loop
  seen.add(real);
  const entries = (await readdir(p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const name of entries) {
    if (name.startsWith('.') || name === 'node_modules') continue; // .git, editor swap files, vendored code
    const full = path.join(p, name);
    const s = await stat(full).catch(() => undefined);
    if (s?.isDirectory()) out.push(...(await collectFiles(full, seen)));
    else if (s?.isFile() && EXTENSIONS.has(path.extname(name).toLowerCase())) out.push(full);
  }
  return out;
}

function parseRaw(text: string, file: string): LoadResult {
  const out: LoadResult = { resources: [], problems: [] };
  const lc = new LineCounter();
  const lineAt = (offset: number) => lc.linePos(offset).line;
  let docs: Document.Parsed[];
  try {
    const parsed = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, merge: true }); // merge: `<<: *defaults`, as kubectl reads it;
    docs = Array.isArray(parsed) ? parsed : []; // an empty stream
  } catch (e) {
    out.problems.push({
      code: ErrorCodes.CONFIG_PARSE,
      severity: 'error',
      file,
      message: (e as Error).message,
    });
    return out;
  }
  for (const doc of docs) {
    if (doc.errors.length) {
      for (const err of doc.errors) {
        const msg = err.message.split('\n')[0] as string;
        out.problems.push({
          code: ErrorCodes.CONFIG_PARSE,
          severity: 'error',
          file,
          line: lineAt(err.pos[0]),
          message: `YAML syntax error: ${msg}`,
        });
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document, e.g. a trailing `---`
    const docLine = doc.contents.range ? lineAt(doc.contents.range[0]) : 1;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      out.problems.push({
        code: ErrorCodes.CONFIG_PARSE,
        severity: 'error',
        file,
        line: docLine,
        message: (e as Error).message,
      });
      continue;
    }
    if (value === null || value === undefined) continue; // `~` or a document of comments only
    const locate = locator(doc, lc, []);
    if (isObject(value) && value.kind === 'List') {
      // kubectl's List wrapper (what `kubectl get -o yaml` prints): validate each item on its own.
      const items = Array.isArray(value.items) ? value.items : [];
      items.forEach((item, i) => {
        const itemLocate = locator(doc, lc, ['items', i]);
        const line = itemLocate([]) ?? docLine;
        push(out, validateOne(item, { file, line }, itemLocate));
      });
      continue;
    }
    push(out, validateOne(value, { file, line: docLine }, locate));
  }
  return out;
}

function push(out: LoadResult, r: { resource?: Resource; problems: ConfigProblem[] }) {
  if (r.resource) out.resources.push(r.resource);
  out.problems.push(...r.problems);
}

/** Find the line of the node at a path, walking the YAML tree; stops at the nearest existing parent. */
function locator(doc: Document.Parsed, lc: LineCounter, prefix: Array<string | number>): Locate {
  const lineOf = (n: unknown) => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    return range ? lc.linePos(range[0]).line : undefined;
  };
  return (p) => {
    let node: unknown = doc.contents;
    let line = lineOf(node);
    for (const seg of [...prefix, ...p]) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        line = lineOf(pair.key) ?? line; // the key's line: where a reader looks for a field
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        line = lineOf(item) ?? line;
        node = item;
      } else break;
    }
    return line;
  };
}

function validateOne(
  obj: unknown,
  source: SourcePosition | undefined,
  locate: Locate | undefined,
): { resource?: Resource; problems: ConfigProblem[] } {
  const base: ProblemBase = { source, locate };
  const fail = (message: string, p?: Array<string | number>) => ({
    problems: [problem(base, ErrorCodes.CONFIG_INVALID, message, p)],
  });
  if (!isObject(obj))
    return fail(`a document must be a mapping with apiVersion, kind, metadata and spec (got ${show(obj)})`);

  const { kind, apiVersion, metadata } = obj;
  if (typeof kind === 'string' && kind) base.kind = kind;
  if (isObject(metadata) && typeof metadata.name === 'string') {
    base.name = `${typeof metadata.namespace === 'string' ? metadata.namespace : 'default'}/${metadata.name}`;
  }
  if (typeof kind !== 'string' || !kind)
    return fail(kind === undefined ? 'missing required field "kind"' : 'kind must be a string', ['kind']);
  if (typeof apiVersion !== 'string' || !apiVersion) {
    return fail(
      apiVersion === undefined ? 'missing required field "apiVersion"' : 'apiVersion must be a string',
      ['apiVersion'],
    );
  }

  const entry = (KINDS as readonly string[]).includes(kind) ? KIND_SCHEMAS[kind as Kind] : undefined;
  if (!entry || !entry.apiVersions.includes(apiVersion)) {
    const sameGroup = entry?.apiVersions.some((v) => apiGroup(v) === apiGroup(apiVersion));
    if (entry && sameGroup) {
      return fail(
        `apiVersion ${show(apiVersion)} is not supported for ${kind}; use ${entry.apiVersions.filter((v) => apiGroup(v) === apiGroup(apiVersion)).join(' or ')}`,
        ['apiVersion'],
      );
    }
    // Kubernetes manifests mix in Deployments, ServiceAccounts...; Weft skips what it does not model yet.
    const message = `${kind} (${apiVersion}) is not supported yet and was skipped`;
    return { problems: [problem(base, ErrorCodes.CONFIG_UNKNOWN_KIND, message, undefined, 'warning')] };
  }

  const parsed = entry.schema.safeParse(obj, { reportInput: true });
  if (!parsed.success) return { problems: issueProblems(parsed.error.issues, base) };
  const resource = { ...parsed.data, ...(source ? { source } : {}) } as Resource;
  if (locate) rememberPositions(resource, locate);
  return { resource, problems: [] };
}

/** The same Kind/namespace/name twice in one load is an error; the first definition wins. */
function dedupe(r: LoadResult): LoadResult {
  const first = new Map<string, Resource>();
  const resources: Resource[] = [];
  const problems = [...r.problems];
  for (const res of r.resources) {
    const key = resourceKey(res);
    const prev = first.get(key);
    if (!prev) {
      first.set(key, res);
      resources.push(res);
      continue;
    }
    const where = prev.source ? ` at ${prev.source.file}:${prev.source.line}` : '';
    const message = `${res.kind} ${res.metadata.namespace}/${res.metadata.name} is defined twice; the first definition${where} is used`;
    problems.push(
      problem(
        { source: res.source, kind: res.kind, name: `${res.metadata.namespace}/${res.metadata.name}` },
        ErrorCodes.CONFIG_INVALID,
        message,
      ),
    );
  }
  return { resources, problems };
}
