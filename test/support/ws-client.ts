// A WebSocket conversation through a sidecar's outbound port: the server's greeting, then each reply
// sent after the message before it. Resolves with every message received (as strings).
import WebSocket from 'ws';

export function wsConversation(
  outbound: number,
  host: string,
  replies: Array<string | Buffer>,
): Promise<string[]> {
  const ws = new WebSocket(`ws://127.0.0.1:${outbound}/chat`, { headers: { host } });
  const messages: string[] = [];
  return new Promise<string[]>((resolve, reject) => {
    ws.on('message', (m) => {
      messages.push(m.toString());
      const next = replies[messages.length - 1];
      if (next !== undefined) return ws.send(next);
      ws.close();
      resolve(messages);
    });
    ws.on('error', reject);
  });
}
