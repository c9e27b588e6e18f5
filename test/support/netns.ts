// A host of its own for tests that need a peer to vanish: a network namespace joined to this one by a
// veth pair, a /30 with one address each side. Removing the namespace's address makes every packet to it
// vanish without an answer, a FIN or a RST, as a host that lost power or a NAT that forgot the flow.
// Needs CAP_NET_ADMIN (root) and iproute2: `NetnsHost.create` says why not instead of throwing.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class NetnsHost {
  private readonly children: ChildProcess[] = [];

  private constructor(
    readonly name: string,
    private readonly veth: string,
    /** The namespace's address. */
    readonly address: string,
  ) {}

  /** A new namespace, or the reason there cannot be one here. */
  static async create(): Promise<NetnsHost | string> {
    const id = `${process.pid % 10_000}${Math.floor(Math.random() * 100)}`;
    const name = `weft-t${id}`;
    const veth = `wt${id}`;
    const net = `10.213.${Math.floor(Math.random() * 250)}.${4 * Math.floor(Math.random() * 60)}`;
    const [a, b] = [1, 2].map((i) => net.replace(/\d+$/, (x) => String(Number(x) + i)));
    const host = new NetnsHost(name, veth, b!);
    try {
      await run('ip', ['netns', 'add', name]);
    } catch (e) {
      return `no network namespace (${(e as Error).message.trim().split('\n').pop()})`;
    }
    try {
      for (const args of [
        ['link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`],
        ['link', 'set', `${veth}b`, 'netns', name],
        ['addr', 'add', `${a}/30`, 'dev', `${veth}a`],
        ['link', 'set', `${veth}a`, 'up'],
        ['netns', 'exec', name, 'ip', 'addr', 'add', `${b}/30`, 'dev', `${veth}b`],
        ['netns', 'exec', name, 'ip', 'link', 'set', `${veth}b`, 'up'],
      ])
        await run('ip', args);
    } catch (e) {
      await host.destroy();
      return `could not wire the namespace (${(e as Error).message.trim().split('\n').pop()})`;
    }
    return host;
  }

  /** Runs `command` inside the namespace; stopped by `destroy`. */
  spawn(command: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...command], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    return child;
  }

  /** From now on nothing sent to `address` is answered. */
  async vanish(): Promise<void> {
    await run('ip', [
      'netns',
      'exec',
      this.name,
      'ip',
      'addr',
      'del',
      `${this.address}/30`,
      'dev',
      `${this.veth}b`,
    ]);
  }

  async destroy(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    await run('ip', ['link', 'del', `${this.veth}a`]).catch(() => {}); // takes its peer with it
    await run('ip', ['netns', 'del', this.name]).catch(() => {});
  }
}
