// Entry point of a data-plane worker process (forked by workers/pool.ts).
import { runWorker } from './worker.js';

runWorker();
