/**
 * piscina worker: compresses one record-batch payload off the owner thread. The result is
 * copied into an exact-size ArrayBuffer of its own and moved (not cloned) back: zlib and
 * napi outputs can be views of shared pool memory that must not be transferred.
 */
import { move } from 'piscina';
import { compressSync, type CodecName } from './codec-impl.ts';

export interface CompressTask {
  codec: CodecName;
  data: Uint8Array;
}

/** Compresses `task.data`; the returned Uint8Array's buffer is transferred to the caller. */
export default function compress(task: CompressTask): unknown {
  const out = compressSync(task.codec, task.data);
  const owned = new Uint8Array(out.length);
  owned.set(out);
  return move(owned);
}
