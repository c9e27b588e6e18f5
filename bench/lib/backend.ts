// Starts and stops the backend process (backend-server.ts) for the benchmark.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitExit } from './proc.js';

const SERVER = fileURLToPath(new URL('./backend-server.js', import.meta.url));

export interface Backend {
  port: number;
  stop(): Promise<void>;
}

export function startBackend(): Promise<Backend> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const fail = (e: Error) => reject(e);
    child.once('error', fail);
    child.once('exit', (code) => reject(new Error(`backend exited before listening (code ${code})`)));
    child.once('message', (m: { port: number }) => {
      child.removeAllListeners('exit');
      resolve({
        port: m.port,
        stop: async () => {
          child.kill('SIGTERM');
          await waitExit(child, 5000);
        },
      });
    });
  });
}
