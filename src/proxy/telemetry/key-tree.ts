// A map keyed by a fixed-length tuple, as nested Maps. The metrics hot path looks series up by several
// record fields; nesting avoids building (and hashing) one long string per request.
type Node = Map<unknown, unknown>;

export class KeyTree<V> {
  private root: Node = new Map();
  private count = 0;

  constructor(private readonly depth: number) {}

  get size(): number {
    return this.count;
  }

  get(key: readonly unknown[]): V | undefined {
    let node: Node | undefined = this.root;
    const last = this.depth - 1;
    for (let i = 0; i < last; i++) {
      node = node.get(key[i]) as Node | undefined;
      if (node === undefined) return undefined;
    }
    return node.get(key[last]) as V | undefined;
  }

  set(key: readonly unknown[], value: V): void {
    let node = this.root;
    const last = this.depth - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(key[i]) as Node | undefined;
      if (next === undefined) node.set(key[i], (next = new Map()));
      node = next;
    }
    if (!node.has(key[last])) this.count++;
    node.set(key[last], value);
  }

  clear(): void {
    this.root = new Map();
    this.count = 0;
  }
}
