/**
 * `<data-dir>/journal`: one fdatasync per commit, however many partitions it touches.
 *
 * Why: a group commit of records for three partitions used to cost three fdatasyncs, each a
 * round trip owner → libuv pool → owner and a block write of its own (README "Where the
 * time goes": 2.7–3 per commit at 1 metric per request). With the journal, the frames are
 * written to their segments without a sync and once more, all together, into this file,
 * which alone is synced before the records are acknowledged. The segments are synced
 * later, off the acknowledgement path, at a checkpoint; until then a power cut can take
 * their newest bytes, and recovery writes them back from the journal (replayJournal) before
 * it checks the segments against the commit marks.
 *
 * ```
 *  file:  [0, 32) header slot 0 · [512, 544) slot 1 · [4096, end) entries, wrapping to 4096
 *
 *  header slot (32 B, u32 little-endian each):
 *  +-------+-------+-------+-------+-------+-------+-------+-------+
 *  | magic | crc32 | gen   | epoch | start | seqLo | seqHi | 0     |
 *  +-------+-------+-------+-------+-------+-------+-------+-------+
 *   crc32  of bytes [8, 32)
 *   gen    checkpoints written so far: of the slots whose CRC checks, the higher gen rules
 *          (two slots in two sectors: a write torn by a power cut leaves the other)
 *   epoch  incremented at every open, so entries written before an open never count again
 *   start  file position of the oldest entry whose frames may not be durable in their
 *          segments yet; seqLo/Hi its sequence number
 *
 *  entry (32 B + 24 B per part + the parts' frames, in order):
 *  +-------+-------+-------+-------+-------+-------+-------+-------+
 *  | magic | crc32 | epoch | seqLo | seqHi | parts | bytes | 0     |   bytes: the whole entry
 *  +-------+-------+-------+-------+-------+-------+-------+-------+
 *  part:   | partition | baseLo | baseHi | position | length | count |
 *           segment `base` of `partition` holds the part's `length` bytes (`count` frames)
 *           at file `position`
 * ```
 *
 * The entry's crc32 covers [8, 32 + 24 · parts): its header and part table. The frames carry
 * their own CRC (record-frame.ts) and are checked one by one at replay, so the hot path
 * computes no second CRC over them. An entry counts at replay only if it is the next in
 * sequence (same epoch, seq one more than the last) and whole: a torn entry ends the
 * replay, and it was never acknowledged (its fdatasync had not returned).
 *
 * What may be stale: `start` lags the segments' real durability (it moves at checkpoints
 * only), which costs replay time, never correctness.
 */
import { statfsSync, writevSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { openOrCreate, writeAll } from './file-io.ts';
import { PREALLOCATE_MAX_BYTES, PreallocationPolicy, writeZerosSync } from './preallocation.ts';
import { checkFrame, FrameStatus } from './record-frame.ts';
import { fsyncDir, partitionDir, segmentLogPath } from './segment-files.ts';

export const JOURNAL_FILE = 'journal';
/** Default size the journal may grow to; it wraps there. */
export const DEFAULT_JOURNAL_BYTES = 16 * 1024 * 1024;
/** Smallest journal accepted (besides 0, no journal): room for a header and a few commits. */
export const MIN_JOURNAL_BYTES = 64 * 1024;

/** Named byte offsets of the file layout (see the diagram above). */
const SLOT_OFFSETS = [0, 512] as const;
const SLOT_BYTES = 32;
export const JOURNAL_HEADER_BYTES = 4096;
const ENTRY_HEAD_BYTES = 32;
const PART_BYTES = 24;
const HEADER_MAGIC = 0x4a48534d; // "MSHJ" read little-endian
const ENTRY_MAGIC = 0x4a45534d; // "MSEJ"
const TWO_32 = 0x1_0000_0000;

/** Path of the journal of a data dir. */
export function journalPath(dataDir: string): string {
  return path.join(dataDir, JOURNAL_FILE);
}

/** One partition's share of a commit. */
export interface JournalPart {
  partition: number;
  /** Base offset of the segment the frames were written to. */
  base: number;
  /** File position in that segment. */
  position: number;
  /** The encoded frames, exactly as written to the segment. */
  frames: Buffer;
  count: number;
}

interface Header {
  gen: number;
  epoch: number;
  start: number;
  seq: number;
}

/** What replaying the journal at open found and did (for the start-up log line). */
export interface JournalReplay {
  /** Commits whose frames were written back into their segments. */
  entries: number;
  records: number;
  bytes: number;
}

/**
 * Writes back into their segments the frames of every journal entry after the last
 * checkpoint, and fdatasyncs those segments. Idempotent: the frames land where they were
 * first written, byte for byte, so a crash during replay just means replaying again.
 * Parts whose segment file is gone (deleted by retention after it was sealed and synced)
 * are skipped. Returns the header found (null when there is no journal or it never got a
 * header, in which case no entry can have been acknowledged) and what was replayed.
 */
export async function replayJournal(dataDir: string, partitions: number): Promise<{ header: Header | null; replay: JournalReplay }> {
  const replay: JournalReplay = { entries: 0, records: 0, bytes: 0 };
  let fh: FileHandle;
  try {
    fh = await open(journalPath(dataDir), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { header: null, replay };
    throw err;
  }
  const segments = new Map<string, FileHandle | null>();
  try {
    const size = (await fh.stat()).size;
    const header = await readHeader(fh);
    if (header === null) return { header, replay };
    let pos = header.start;
    let seq = header.seq;
    let read = 0;
    // Bounded by the file: entries never overlap, so one lap holds all of them.
    while (read < size) {
      let entry = await readEntry(fh, pos, size, header.epoch, seq, partitions);
      if (entry === null && pos !== JOURNAL_HEADER_BYTES) {
        pos = JOURNAL_HEADER_BYTES; // the writer wrapped here
        entry = await readEntry(fh, pos, size, header.epoch, seq, partitions);
      }
      if (entry === null) break;
      for (const part of entry.parts) {
        const file = segmentLogPath(partitionDir(dataDir, part.partition), part.base);
        let seg = segments.get(file);
        if (seg === undefined) {
          seg = await open(file, 'r+').catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return null;
            throw err;
          });
          segments.set(file, seg);
        }
        if (seg === null) continue;
        writeAll(seg.fd, part.frames, part.position);
        replay.records += part.count;
        replay.bytes += part.frames.length;
      }
      replay.entries++;
      read += entry.bytes;
      pos += entry.bytes;
      seq++;
    }
    for (const seg of segments.values()) if (seg !== null) await seg.datasync();
    return { header, replay };
  } finally {
    for (const seg of segments.values()) await seg?.close().catch(() => {});
    await fh.close();
  }
}

/** Removes the journal (a data dir opened without one, after its replay). */
export async function removeJournal(dataDir: string): Promise<void> {
  try {
    await unlink(journalPath(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fsyncDir(dataDir);
}

/**
 * The write side. Not for concurrent write() calls: the log's appends are serial. A
 * checkpoint may run in the background meanwhile.
 */
export class CommitJournal {
  readonly #dataDir: string;
  readonly #capacity: number;
  readonly #prealloc: PreallocationPolicy;
  /** Makes every partition's segments durable up to what they hold now (the checkpoint's step). */
  readonly #syncSegments: () => Promise<void>;
  #fh: FileHandle;
  readonly #epoch: number;
  #gen: number;
  /** Bytes of the file that exist (written zeros ahead of the entries, like a segment's). */
  #allocated: number;
  /**
   * Where the entries of this lap end: the capacity, or the file's end when the disk had no
   * room to spare for it to grow (#grow), so that the journal wraps inside what it has.
   */
  #end: number;
  /** Free bytes the journal leaves its disk when it grows (#grow). */
  readonly #reserve: number;
  /** Where the next entry goes and its sequence number. */
  #writePos = JOURNAL_HEADER_BYTES;
  #seq = 0;
  /** The header's start: the oldest entry not known durable in its segments. */
  #start = JOURNAL_HEADER_BYTES;
  #startSeq = 0;
  /** A write or fdatasync failed at this position: its entry must be erased first. */
  #repairAt = -1;
  #checkpointing: Promise<void> | null = null;
  /** Reused head + part table of an entry. */
  #head: Buffer;
  /** Told when a checkpoint fails (err) or works again after failing (null). */
  onProblem: ((err: Error | null) => void) | null = null;
  #checkpointFailing = false;

  private constructor(dataDir: string, fh: FileHandle, capacity: number, epoch: number, gen: number, allocated: number, prealloc: PreallocationPolicy, syncSegments: () => Promise<void>, partitions: number) {
    this.#dataDir = dataDir;
    this.#fh = fh;
    this.#capacity = capacity;
    this.#epoch = epoch;
    this.#gen = gen;
    this.#allocated = allocated;
    this.#end = capacity;
    this.#reserve = partitions * PREALLOCATE_MAX_BYTES;
    this.#prealloc = prealloc;
    this.#syncSegments = syncSegments;
    this.#head = Buffer.alloc(ENTRY_HEAD_BYTES + PART_BYTES * partitions);
  }

  /**
   * Starts a new epoch in `dataDir`'s journal (creating it if needed) after replayJournal
   * put everything it held into the segments: writes and syncs a header whose start is the
   * first entry position, so nothing written before counts again.
   */
  static async create(
    dataDir: string,
    capacity: number,
    previous: Header | null,
    partitions: number,
    prealloc: PreallocationPolicy,
    syncSegments: () => Promise<void>,
  ): Promise<CommitJournal> {
    const { fh, created } = await openOrCreate(journalPath(dataDir));
    try {
      const epoch = ((previous?.epoch ?? 0) + 1) >>> 0;
      const gen = (previous?.gen ?? 0) + 1;
      let size = (await fh.stat()).size;
      if (size < JOURNAL_HEADER_BYTES) {
        writeAll(fh.fd, Buffer.alloc(JOURNAL_HEADER_BYTES - size), size);
        size = JOURNAL_HEADER_BYTES;
      }
      writeAll(fh.fd, encodeHeader({ gen, epoch, start: JOURNAL_HEADER_BYTES, seq: 0 }), SLOT_OFFSETS[gen % 2]);
      if (size > capacity) {
        await fh.truncate(capacity);
        size = capacity;
      }
      await fh.datasync();
      if (created) await fsyncDir(dataDir);
      return new CommitJournal(dataDir, fh, capacity, epoch, gen, size, prealloc, syncSegments, partitions);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Whether an entry of `parts` parts and `frameBytes` bytes of frames goes through the journal. */
  fits(parts: number, frameBytes: number): boolean {
    // A quarter of the room: after a checkpoint any such entry fits without waiting twice.
    return ENTRY_HEAD_BYTES + PART_BYTES * parts + frameBytes <= (this.#end - JOURNAL_HEADER_BYTES) / 4;
  }

  /**
   * Writes one entry holding `parts` (whose frames are already written, unsynced, to their
   * segments) and fdatasyncs the journal: when it resolves, every part is durable. Waits for
   * a checkpoint first when the live entries leave no room. Rejects when the write, the
   * fdatasync or that checkpoint failed; the entry is then erased before the next write
   * (which rejects too while that fails), so a replay can never resurrect it.
   */
  async write(parts: JournalPart[]): Promise<void> {
    await this.repaired();
    let bytes = ENTRY_HEAD_BYTES + PART_BYTES * parts.length;
    for (const part of parts) bytes += part.frames.length;
    // Almost always the entry goes after the last one, in bytes the file has: no await then.
    const next = this.#placeFor(bytes, this.#capacity);
    const at = next >= 0 && next + bytes <= this.#allocated ? next : await this.#place(bytes);
    const head = this.#encodeEntryHead(parts, bytes);
    try {
      const buffers = [head, ...parts.map((p) => p.frames)];
      const done = writevSync(this.#fh.fd, buffers, at);
      // A short writev (rare: a signal, a disk that wants blocks for an overwrite): finish it plainly.
      if (done < bytes) writeAll(this.#fh.fd, Buffer.concat(buffers).subarray(done), at + done);
      await this.#fh.datasync();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') this.#prealloc.noSpace();
      this.#repairAt = at;
      await this.#repair().catch(() => {});
      throw err;
    }
    this.#writePos = at + bytes;
    this.#seq++;
    if (this.#liveBytes() >= (this.#end - JOURNAL_HEADER_BYTES) / 2 && this.#checkpointing === null) {
      // In the background; a failure is reported (onProblem) and the next write tries again.
      this.checkpoint().catch(() => {});
    }
  }

  /**
   * Makes every entry written so far unnecessary: syncs all partitions' segments, then
   * moves the header's start past those entries. One at a time: a call while one runs waits
   * for it and then runs its own (the running one may have started before the latest
   * entries).
   */
  async checkpoint(): Promise<void> {
    while (this.#checkpointing !== null) await this.#checkpointing.catch(() => {});
    if (this.#seq === this.#startSeq) return;
    const run = this.#runCheckpoint();
    this.#checkpointing = run;
    try {
      await run;
      if (this.#checkpointFailing) this.onProblem?.(null);
      this.#checkpointFailing = false;
    } catch (err) {
      this.#checkpointFailing = true;
      this.onProblem?.(err as Error);
      throw err;
    } finally {
      this.#checkpointing = null;
    }
  }

  async #runCheckpoint(): Promise<void> {
    const start = this.#writePos;
    const seq = this.#seq;
    await this.#syncSegments();
    const gen = this.#gen + 1;
    const fh = this.#fh;
    writeAll(fh.fd, encodeHeader({ gen, epoch: this.#epoch, start, seq }), SLOT_OFFSETS[gen % 2]);
    await fh.datasync();
    this.#gen = gen;
    this.#start = start;
    this.#startSeq = seq;
  }

  /**
   * Resolves once no entry of a failed write is left to erase (erasing it now if one is);
   * rejects while erasing fails. Every commit must wait for it, also those that do not
   * write to the journal: a failed entry may have reached the disk all the same, and if it
   * stayed, a replay would write its records (answered 503) over the ones committed after
   * it at the same positions.
   */
  async repaired(): Promise<void> {
    if (this.#repairAt >= 0) await this.#repair();
  }

  /** A final checkpoint (nothing left to replay at the next open), then closes the file. */
  async close(): Promise<void> {
    try {
      await this.repaired();
      await this.checkpoint();
    } finally {
      await this.#fh.close();
    }
  }

  /** Bytes from the header's start to the next entry's place, a tail skipped at the wrap included. */
  #liveBytes(): number {
    if (this.#seq === this.#startSeq) return 0;
    if (this.#start < this.#writePos) return this.#writePos - this.#start;
    return this.#end - this.#start + (this.#writePos - JOURNAL_HEADER_BYTES);
  }

  /**
   * Where the next entry of `bytes` goes, the file grown to hold it: after the last entry,
   * or back at the first place (a wrap) when it does not fit before the capacity, or before
   * the file's end when the disk has no room to spare for the file to grow. Checkpoints
   * first when the live entries leave no room.
   */
  async #place(bytes: number): Promise<number> {
    for (let end = this.#capacity; ; end = this.#allocated) {
      let at = this.#placeFor(bytes, end);
      if (at < 0) {
        await this.checkpoint();
        at = this.#placeFor(bytes, end);
        if (at < 0) {
          const err = new Error(`no room for an entry of ${bytes} bytes in ${end} bytes of journal after a checkpoint`);
          // The disk would not let the file grow to the capacity: it is the disk that is full.
          throw end < this.#capacity ? Object.assign(err, { code: 'ENOSPC' }) : err;
        }
      }
      if (at + bytes <= this.#allocated) return at;
      if (this.#grow(at + bytes)) {
        this.#end = this.#capacity;
        return at;
      }
      // The next turn places it before the file's end, which the disk's room left where it is.
      this.#end = this.#allocated;
    }
  }

  /** Where an entry of `bytes` can go now, before `end`, without overwriting a live one; -1 if nowhere. */
  #placeFor(bytes: number, end: number): number {
    const empty = this.#seq === this.#startSeq;
    const fitsHere = this.#writePos + bytes <= end;
    const at = fitsHere ? this.#writePos : JOURNAL_HEADER_BYTES;
    if (empty) return at + bytes <= end ? at : -1;
    if (this.#start < this.#writePos) {
      // Live: [start, writePos). Past it up to the end is free, and before start.
      return fitsHere ? at : at + bytes <= this.#start ? at : -1;
    }
    // Live wraps: [start, end) and [HEADER, writePos). Free: [writePos, start).
    return fitsHere && this.#writePos + bytes <= this.#start ? at : -1;
  }

  #encodeEntryHead(parts: JournalPart[], bytes: number): Buffer {
    const head = this.#head.subarray(0, ENTRY_HEAD_BYTES + PART_BYTES * parts.length);
    head.writeUInt32LE(ENTRY_MAGIC, 0);
    head.writeUInt32LE(this.#epoch, 8);
    head.writeUInt32LE(this.#seq >>> 0, 12);
    head.writeUInt32LE(Math.floor(this.#seq / TWO_32), 16);
    head.writeUInt32LE(parts.length, 20);
    head.writeUInt32LE(bytes, 24);
    head.writeUInt32LE(0, 28);
    let at = ENTRY_HEAD_BYTES;
    for (const part of parts) {
      head.writeUInt32LE(part.partition, at);
      head.writeUInt32LE(part.base >>> 0, at + 4);
      head.writeUInt32LE(Math.floor(part.base / TWO_32), at + 8);
      head.writeUInt32LE(part.position, at + 12);
      head.writeUInt32LE(part.frames.length, at + 16);
      head.writeUInt32LE(part.count, at + 20);
      at += PART_BYTES;
    }
    head.writeUInt32LE(crc32(head.subarray(8)), 4);
    return head;
  }

  /**
   * Grows the file with zeros to `to` at least, and further ahead as a segment does (the
   * preallocation policy's bytes, none while it is paused after a full disk; within the
   * capacity), so that an entry is only ever written over bytes that exist: a write that
   * extends a file is the one a full disk refuses. Returns false, growing the file no
   * further than the disk spares, when that leaves the disk less than #reserve free. The
   * journal is a fixed overhead that would keep whatever it takes: grown into the last free
   * bytes of a disk that a filler or retention frees bit by bit, it left the segments no
   * room to roll into, and the log refused every commit for good (soak:disk-full, seed 9).
   */
  #grow(to: number): boolean {
    const target = Math.min(this.#capacity, to + this.#prealloc.bytes, this.#allocated + this.#spareBytes());
    const at = writeZerosSync(this.#fh.fd, this.#allocated, target);
    if (at < target) this.#prealloc.noSpace();
    this.#allocated = at;
    return at >= to;
  }

  /** Bytes the disk can give the journal: its free space less #reserve; unbounded when statfs cannot tell. */
  #spareBytes(): number {
    try {
      const fs = statfsSync(this.#dataDir);
      return fs.blocks > 0 ? fs.bavail * fs.bsize - this.#reserve : Infinity;
    } catch {
      return Infinity;
    }
  }

  /**
   * Erases the entry a failed write or fdatasync left at #repairAt, through a fresh handle
   * (after a failed fdatasync the old one's pages are in an unknown state), and syncs it.
   */
  async #repair(): Promise<void> {
    const fh = await open(journalPath(this.#dataDir), 'r+');
    try {
      // Only over bytes that exist: a write that failed for want of space wrote none past
      // the end, and erasing must not need space either (its magic alone suffices).
      const size = (await fh.stat()).size;
      const erase = Math.min(ENTRY_HEAD_BYTES, size - this.#repairAt);
      if (erase > 0) writeAll(fh.fd, Buffer.alloc(erase), this.#repairAt);
      await fh.datasync();
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    const old = this.#fh;
    this.#fh = fh;
    this.#repairAt = -1;
    await old.close().catch(() => {});
  }
}

function encodeHeader(h: Header): Buffer {
  const buf = Buffer.alloc(SLOT_BYTES);
  buf.writeUInt32LE(HEADER_MAGIC, 0);
  buf.writeUInt32LE(h.gen >>> 0, 8);
  buf.writeUInt32LE(h.epoch >>> 0, 12);
  buf.writeUInt32LE(h.start, 16);
  buf.writeUInt32LE(h.seq >>> 0, 20);
  buf.writeUInt32LE(Math.floor(h.seq / TWO_32), 24);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

/** The header slot that rules: of those whose magic and CRC check, the higher gen. */
async function readHeader(fh: FileHandle): Promise<Header | null> {
  let best: Header | null = null;
  for (const at of SLOT_OFFSETS) {
    const buf = Buffer.alloc(SLOT_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SLOT_BYTES, at);
    if (bytesRead < SLOT_BYTES || buf.readUInt32LE(0) !== HEADER_MAGIC) continue;
    if (crc32(buf.subarray(8)) !== buf.readUInt32LE(4)) continue;
    const h = { gen: buf.readUInt32LE(8), epoch: buf.readUInt32LE(12), start: buf.readUInt32LE(16), seq: buf.readUInt32LE(20) + buf.readUInt32LE(24) * TWO_32 };
    if (best === null || h.gen > best.gen) best = h;
  }
  return best;
}

/** The entry at `pos` if it is whole and the one expected (epoch, seq); else null. */
async function readEntry(
  fh: FileHandle,
  pos: number,
  size: number,
  epoch: number,
  seq: number,
  partitions: number,
): Promise<{ bytes: number; parts: JournalPart[] } | null> {
  if (pos + ENTRY_HEAD_BYTES > size) return null;
  const head = Buffer.alloc(ENTRY_HEAD_BYTES);
  await fh.read(head, 0, ENTRY_HEAD_BYTES, pos);
  if (head.readUInt32LE(0) !== ENTRY_MAGIC || head.readUInt32LE(8) !== epoch) return null;
  if (head.readUInt32LE(12) + head.readUInt32LE(16) * TWO_32 !== seq) return null;
  const n = head.readUInt32LE(20);
  const bytes = head.readUInt32LE(24);
  const table = ENTRY_HEAD_BYTES + PART_BYTES * n;
  if (n < 1 || n > partitions || bytes < table || pos + bytes > size) return null;
  const entry = Buffer.alloc(bytes);
  const { bytesRead } = await fh.read(entry, 0, bytes, pos);
  if (bytesRead < bytes || crc32(entry.subarray(8, table)) !== entry.readUInt32LE(4)) return null;
  const parts: JournalPart[] = [];
  const sizeOut = new Int32Array(1);
  let at = table;
  for (let i = 0; i < n; i++) {
    const t = ENTRY_HEAD_BYTES + PART_BYTES * i;
    const length = entry.readUInt32LE(t + 16);
    const count = entry.readUInt32LE(t + 20);
    if (at + length > bytes) return null;
    const frames = entry.subarray(at, at + length);
    // Every frame whole: a torn entry (its fdatasync never returned) is not replayed.
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (checkFrame(frames, p, length, sizeOut) !== FrameStatus.ok) return null;
      p += sizeOut[0];
    }
    if (p !== length) return null;
    const partition = entry.readUInt32LE(t);
    if (partition >= partitions) return null;
    parts.push({
      partition,
      base: entry.readUInt32LE(t + 4) + entry.readUInt32LE(t + 8) * TWO_32,
      position: entry.readUInt32LE(t + 12),
      frames,
      count,
    });
    at += length;
  }
  if (at !== bytes) return null;
  return { bytes, parts };
}
