/**
 * Sequential, chunked reading of frames from a segment file: shared by recovery (find
 * the last good frame) and the reader (return records). Reads big chunks and checks
 * frames synchronously inside each, so there is one syscall per chunk, not per record.
 */
import type { FileHandle } from 'node:fs/promises';
import { checkFrame, F_KEY, F_MAGIC, FRAME_MAGIC, FRAME_OVERHEAD, frameOffset, FrameStatus } from './record-frame.ts';

/** Why a scan stopped. */
export type ScanStop =
  /** No byte at all after the last good frame: the file ends on a frame boundary. */
  | 'end'
  /** Some bytes of a frame are there but not all: a torn tail or a write in progress. */
  | 'incomplete'
  /** The bytes there are not a good frame (bad length, CRC, header). */
  | 'corrupt'
  /** The visitor asked to stop before a (good) frame. */
  | 'visitor';

/** Where and why scanFrames stopped. */
export interface ScanResult {
  /** File position of the first frame not consumed (after the last good, accepted frame). */
  position: number;
  stop: ScanStop;
}

/**
 * Called for each good frame at `pos` of `buf` (the frame's file position is
 * `filePosition`). Return false to stop before this frame; it is then not consumed.
 * `buf` is freshly allocated per chunk and never reused, so views into it may be kept.
 */
export type FrameVisitor = (buf: Buffer, pos: number, size: number, filePosition: number) => boolean;

const DEFAULT_CHUNK = 256 * 1024;

/**
 * Visits the consecutive good frames of `fh` from `position` until the end of the file as
 * it is now, a bad or incomplete frame, or the visitor stops. The file may grow while we
 * read (a writer appending): what we see is a prefix, and an incomplete last frame is
 * reported as such, never returned.
 */
export async function scanFrames(
  fh: FileHandle,
  position: number,
  visit: FrameVisitor,
  chunkBytes: number = DEFAULT_CHUNK,
): Promise<ScanResult> {
  const sizeOut = new Int32Array(1);
  let filePos = position;
  let want = chunkBytes;
  for (;;) {
    const chunk = Buffer.allocUnsafe(want);
    const { bytesRead: n } = await fh.read(chunk, 0, want, filePos);
    // A short pread on a regular file means end of file (as of now).
    const atEof = n < want;
    let p = 0;
    for (;;) {
      const status = checkFrame(chunk, p, n, sizeOut);
      if (status === FrameStatus.ok) {
        const size = sizeOut[0];
        if (!visit(chunk, p, size, filePos + p)) return { position: filePos + p, stop: 'visitor' };
        p += size;
        continue;
      }
      if (status === FrameStatus.corrupt) return { position: filePos + p, stop: 'corrupt' };
      // Incomplete within this chunk.
      if (atEof) return { position: filePos + p, stop: p === n ? 'end' : 'incomplete' };
      if (p === 0 && sizeOut[0] <= want) {
        // Unreachable (a full chunk that holds the whole frame cannot find it incomplete);
        // guards the loop below against re-reading the same bytes forever.
        return { position: filePos, stop: 'corrupt' };
      }
      filePos += p;
      want = Math.max(chunkBytes, sizeOut[0]);
      break;
    }
  }
}

/** Offset of the good frame at file position `pos`, or -1 if there is no good frame there. */
export async function offsetOfFrameAt(fh: FileHandle, pos: number): Promise<number> {
  let offset = -1;
  await scanFrames(
    fh,
    pos,
    (buf, p) => {
      offset = frameOffset(buf, p);
      return false;
    },
    4096,
  );
  return offset;
}

/** A good frame found after damage. */
export interface ResyncPoint {
  position: number;
  offset: number;
}

const RESYNC_CHUNK = 1024 * 1024;

/**
 * Finds where good frames resume after damage: the first position after `damagedAt` (the
 * file position of the bad frame, which should have carried offset `expected`) holding a
 * frame whose CRC checks and whose offset can follow: above `expected`, and no more
 * records skipped than bytes allow (every frame takes at least FRAME_OVERHEAD bytes).
 * Returns null when no such frame exists before the end of the file. Reads 1 MiB chunks
 * and tests every byte position; runs only where damage was found, never on the hot path.
 */
export async function findNextFrame(fh: FileHandle, damagedAt: number, expected: number): Promise<ResyncPoint | null> {
  const sizeOut = new Int32Array(1);
  let at = damagedAt + 1;
  for (;;) {
    const chunk = Buffer.allocUnsafe(RESYNC_CHUNK);
    const { bytesRead: n } = await fh.read(chunk, 0, RESYNC_CHUNK, at);
    if (n === 0) return null;
    for (let q = 0; q < n; q++) {
      const status = checkFrame(chunk, q, n, sizeOut);
      let offset = -1;
      if (status === FrameStatus.ok) {
        offset = frameOffset(chunk, q);
      } else if (status === FrameStatus.incomplete && n === RESYNC_CHUNK && sizeOut[0] > 0 && q + F_KEY <= n && chunk[q + F_MAGIC] === FRAME_MAGIC) {
        // A candidate frame crossing the chunk's end: read it whole.
        const one = Buffer.allocUnsafe(sizeOut[0]);
        const { bytesRead } = await fh.read(one, 0, one.length, at + q);
        if (checkFrame(one, 0, bytesRead, sizeOut) === FrameStatus.ok) offset = frameOffset(one, 0);
      }
      if (offset > expected && offset - expected <= Math.floor((at + q - damagedAt) / FRAME_OVERHEAD)) {
        return { position: at + q, offset };
      }
    }
    if (n < RESYNC_CHUNK) return null;
    at += n;
  }
}
