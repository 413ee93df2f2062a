/**
 * Entry point of every bench thread: loads the case module named in workerData and
 * runs its producer or consumer role. One entry for all cases keeps the wiring (and the
 * run protocol) in one place; the case modules stay plain libraries.
 */
import { workerData } from 'node:worker_threads';
import type { CaseModule, WorkerInit } from './protocol.ts';

const init = workerData as WorkerInit;
const mod = (await import(init.module)) as CaseModule;
await (init.role === 'producer' ? mod.producer(init) : mod.consumer(init));
