// Code a process loads only when its configuration needs it (the proxy: JWT and authorization engines,
// consistent-hash balancers, DNS resolution, span export). The load is awaited where configuration is
// applied, never per request; using the code before it was loaded is a programming error and says so.

export class LazyModule<T> {
  private module: T | undefined;

  /** `what` names the code in the error for a use before the load. */
  constructor(
    private readonly what: string,
    private readonly importer: () => Promise<T>,
  ) {}

  /** Starts the load if `needed` and not loaded yet; undefined when there is nothing to wait for. */
  load(needed: boolean): Promise<void> | undefined {
    if (!needed || this.module) return undefined;
    return this.importer().then((m) => {
      this.module = m;
    });
  }

  /** The loaded module; throws if it was not loaded. */
  get(): T {
    if (!this.module) throw new Error(`the ${this.what} code is not loaded`);
    return this.module;
  }
}

/** One promise for the loads under way, or undefined when there are none (so callers stay synchronous). */
export function whenLoaded(loads: ReadonlyArray<Promise<unknown> | undefined>): Promise<void> | undefined {
  const pending = loads.filter((p) => p !== undefined);
  return pending.length ? Promise.all(pending).then(() => undefined) : undefined;
}
