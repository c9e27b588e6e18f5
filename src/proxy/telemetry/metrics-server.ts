// The proxy's metrics listener: Istio's :15020/stats/prometheus, loopback only. Prometheus text 0.0.4 by
// default; OpenMetrics 1.0.0 when the scraper asks for it (Prometheus does), negotiated per scrape.
import http from 'node:http';
import { CONTENT_TYPES, negotiate, type ExpositionFormat } from './prom-text.js';

export const METRICS_PATH = '/stats/prometheus';

export function createMetricsServer(
  render: (format: ExpositionFormat) => string | Promise<string>,
): http.Server {
  return http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH && path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${METRICS_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET\n');
      return;
    }
    const format = negotiate(req.headers.accept);
    let body: string;
    try {
      body = await render(format);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot render metrics: ${String(e)}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[format],
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}
