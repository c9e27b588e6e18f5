// `weft dashboard`: prints the URL of the web dashboard the control plane serves and opens a browser
// (xdg-open / open / start, when there is one; never an error when there is none). With --port it also
// serves the dashboard on that local port, forwarding to the control plane, until Ctrl-C.
import type { Command } from 'commander';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';

const DASHBOARD_PATH = '/dashboard/';

function opener(): { cmd: string; args: string[] } | undefined {
  if (process.platform === 'darwin') return { cmd: 'open', args: [] };
  if (process.platform === 'win32') return { cmd: 'cmd', args: ['/c', 'start', ''] };
  const found = (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'xdg-open')));
  return found ? { cmd: 'xdg-open', args: [] } : undefined;
}

/** Opens the URL in a browser when the system has a way to; true when an opener was started. */
export function openBrowser(url: string): boolean {
  const o = opener();
  if (!o) return false;
  try {
    const child = spawn(o.cmd, [...o.args, url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** A local port that forwards everything to the control plane's admin port (SSE streams included). */
function forward(port: number, target: URL): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: target.host },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`control plane unreachable: ${e.message}\n`);
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** Tells the running control plane where the dashboard's numbers come from. */
async function setMetricsSource(client: MeshClient, url: string): Promise<void> {
  const r = await client.call<{ message?: string }>('POST', '/api/metrics-source', { prometheusUrl: url });
  if (r.status === 400)
    throw new WeftError(
      ErrorCodes.CONFIG_INVALID,
      `--prometheus-url: ${r.body.message ?? 'refused'}`,
      'give the base URL of a Prometheus server, e.g. http://127.0.0.1:9090',
    );
  if (r.status !== 200)
    throw new WeftError(
      ErrorCodes.MESH_UNREACHABLE,
      `the control plane at ${client.url} cannot switch the metrics source (HTTP ${r.status})`,
      'is the control plane as new as this CLI? `weft version` on both',
    );
  process.stderr.write(
    url
      ? `Golden metrics now come from Prometheus at ${url}\n`
      : 'Golden metrics now come from the proxies\n',
  );
}

export function registerDashboard(program: Command, mesh: () => MeshFlags): void {
  program
    .command('dashboard')
    .description('print the URL of the web dashboard (graph, golden metrics, tap, config) and open a browser')
    .option('--no-open', 'only print the URL')
    .option(
      '--port <port>',
      'also serve the dashboard on this local port (forwarding to the control plane) until Ctrl-C',
    )
    .option(
      '--prometheus-url <url>',
      "golden metrics from this Prometheus instead of the proxies ('' switches back); overrides WEFT_PROMETHEUS_URL",
    )
    .action(async (o: { open: boolean; port?: string; prometheusUrl?: string }) => {
      const client = await MeshClient.connect(mesh());
      const { status } = await client.call('GET', '/readyz');
      if (status !== 200)
        throw new WeftError(ErrorCodes.MESH_UNREACHABLE, `the control plane at ${client.url} is not ready`);
      if (o.prometheusUrl !== undefined) await setMetricsSource(client, o.prometheusUrl);
      let url = `${client.url}${DASHBOARD_PATH}`;
      let server: http.Server | undefined;
      if (o.port !== undefined) {
        const port = Number(o.port);
        server = await forward(port, new URL(client.url)).catch((e: Error) => {
          throw new WeftError(
            ErrorCodes.MESH_UNREACHABLE,
            `cannot listen on 127.0.0.1:${port}: ${e.message}`,
            'pick another --port, or leave it out to use the control plane port',
          );
        });
        const a = server.address() as { port: number };
        url = `http://127.0.0.1:${a.port}${DASHBOARD_PATH}`;
      }
      process.stdout.write(`Weft dashboard: ${url}\n`);
      if (o.open) {
        if (openBrowser(url)) process.stderr.write('Opening it in your browser…\n');
        else process.stderr.write('No browser opener found (xdg-open); open the URL yourself.\n');
      }
      if (server) {
        process.stderr.write('Serving the dashboard on that port; Ctrl-C to stop.\n');
        await new Promise<void>((resolve) => {
          const stop = () => server.close(() => resolve());
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }
    });
}
