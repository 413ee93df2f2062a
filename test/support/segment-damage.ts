/**
 * Damaging a log segment the way a disk does, for the data-loss tests: where each frame
 * starts, and one flipped byte.
 */
import { open } from 'node:fs/promises';

/**
 * File positions of every frame of a segment (a chain of length prefixes), up to its end
 * or to the zeros an active segment keeps written ahead of its last record.
 */
export async function framePositions(segment: string): Promise<number[]> {
  const fh = await open(segment, 'r');
  const size = (await fh.stat()).size;
  const positions: number[] = [];
  const len = Buffer.alloc(4);
  for (let pos = 0; pos < size; ) {
    await fh.read(len, 0, 4, pos);
    const n = len.readUInt32LE(0);
    if (n === 0) break;
    positions.push(pos);
    pos += n + 4;
  }
  await fh.close();
  return positions;
}

/** Flips one bit of the byte at `at` in `file`, in place. */
export async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] ^= 0x40;
  await fh.write(b, 0, 1, at);
  await fh.close();
}
