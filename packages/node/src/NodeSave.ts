/**
 * Saving checkpoints to files, atomically: the archive is written to a
 * temporary file beside the destination and renamed over it only once
 * complete, so a failure never leaves a half-written file at the
 * destination (and removes the temporary one).
 *
 * @since 0.1.0
 */
import { bufferRing, StreamBufferRing } from "@torchwire/core/ByteSource"
import { SourceError, type TorchwireError } from "@torchwire/core/Errors"
import * as Save from "@torchwire/core/Save"
import type { PyValue } from "@torchwire/core/Value"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { open as openFile, rename, rm } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import * as zlib from "node:zlib"

/**
 * CRC-32 from Node's zlib (native) where this Node has it, else core's.
 *
 * @since 0.1.0
 * @category utils
 */
export const crc32: ((data: Uint8Array, crc: number) => number) | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === "function"
    ? (data, crc) => (zlib as unknown as { crc32: (d: Uint8Array, c: number) => number }).crc32(data, crc)
    : undefined

/**
 * Options of `save`.
 *
 * @since 0.1.0
 * @category options
 */
export interface NodeSaveOptions extends Omit<Save.SaveOptions, "readAhead"> {
  /** Called with the bytes written so far (for progress reports). */
  readonly onProgress?: (bytesWritten: number) => void
  /** fsync the file before renaming it into place (default true: durable across a crash). */
  readonly fsync?: boolean
}

const writeError = (path: string, cause: unknown) =>
  cause instanceof SourceError ? cause : new SourceError({ reason: "WriteFailed", source: path, offset: 0, detail: String(cause), cause })

/**
 * Fails unless a write of `length` bytes at file offset `start` wrote them
 * all. A regular file's write comes back short only when the disk or a limit
 * ran out (ENOSPC, EFBIG, a quota), and the next write would fail; the last
 * one has no next.
 */
const checkWritten = (path: string, start: number, length: number, bytesWritten: number) => {
  if (bytesWritten !== length) {
    throw new SourceError({ reason: "WriteFailed", source: path, offset: start + bytesWritten, detail: `short write: ${bytesWritten} of ${length} bytes (disk full, or a file size limit)` })
  }
}

/** Bytes per write: 1 MiB. */
const WRITE_SIZE = 1 << 20

/** Where writes are cut: one page past every MiB boundary (see `writeAtomically`). */
const CUT_OFFSET = 4096

/**
 * Writes a byte stream to `path` atomically, in writes of 1 MiB cut at the
 * file offsets k MiB + 4 KiB. One write is in flight while the stream
 * produces the bytes of the next, so CRC-32 and reading overlap the disk.
 * (Not two: the second, on another of libuv's threads, waits for the file's
 * lock, and made saves slower when measured.)
 *
 * Why there: Linux's page cache (ext4 with large folios) gives a write that
 * covers an aligned MiB a folio of 1 MiB; one that starts a page past it
 * gets folios that grow from one page to at most 512 KiB. On a VM that hands
 * its free memory back to its host, as the one torchwire is benchmarked on
 * does, those large allocations made the same writes two to three times slower
 * (BENCHMARKS.md, (d)).
 *
 * A chunk's tail stays pending until the next cut. A chunk of 1 MiB or more
 * reaches a cut, so such a chunk is written by the time the two such chunks
 * after it were taken in: a producer that recycles buffers for them needs
 * three. `save` reads two chunks of a source ahead (`Save.SaveOptions.readAhead`),
 * so its `StreamBufferRing` of 8 leaves room for the six alive at most.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeAtomically = <E>(
  bytes: Stream.Stream<Uint8Array, E>,
  path: string,
  options: { readonly onProgress?: (n: number) => void; readonly fsync?: boolean } = {}
): Effect.Effect<number, E | SourceError> =>
  Effect.gen(function*() {
    const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`)
    const handle = yield* Effect.tryPromise({ try: () => openFile(temp, "wx"), catch: (e) => writeError(temp, e) })
    /** Bytes queued so far: the file offset of the next byte. */
    let written = 0
    /** The file offset the pending write starts at. */
    let flushed = 0
    /** The file offset the pending write ends at. */
    let nextCut = CUT_OFFSET
    let pending: Array<Uint8Array> = []
    let inflight: Promise<unknown> = Promise.resolve()
    /** Waits for the write in flight; fails with its error. */
    const settle = Effect.tryPromise({ try: () => inflight, catch: (e) => writeError(temp, e) })
    /** Waits for the write in flight, then starts writing what is pending. */
    const flush = Effect.zipRight(settle, Effect.sync(() => {
      if (pending.length === 0) return
      const parts = pending
      pending = []
      const start = flushed
      flushed = written
      const length = written - start
      inflight = handle.writev(parts).then(({ bytesWritten }) => checkWritten(temp, start, length, bytesWritten))
      inflight.catch(() => undefined) // observed by the next settle
    }))
    /** Queues a chunk's pieces, flushing at every cut they reach. */
    const writeChunk = (chunk: Chunk.Chunk<Uint8Array>) => {
      const pieces = Chunk.toReadonlyArray(chunk)
      let i = 0
      let rest: Uint8Array | undefined
      const loop: Effect.Effect<void, SourceError> = Effect.suspend(() => {
        for (;;) {
          const piece = rest ?? pieces[i++]
          rest = undefined
          if (piece === undefined) break
          const room = nextCut - written
          if (piece.length < room) {
            if (piece.length > 0) pending.push(piece)
            written += piece.length
            continue
          }
          pending.push(piece.subarray(0, room))
          if (room < piece.length) rest = piece.subarray(room)
          written = nextCut
          nextCut += WRITE_SIZE
          return Effect.zipRight(flush, loop)
        }
        options.onProgress?.(written)
        return Effect.void
      })
      return loop
    }
    const body = Stream.runForEachChunk(bytes, writeChunk).pipe(
        Effect.zipRight(flush),
        Effect.zipRight(settle),
        Effect.zipRight(options.fsync === false ? Effect.void : Effect.tryPromise({ try: () => handle.sync(), catch: (e) => writeError(temp, e) }))
      )
    const cleanup = Effect.promise(() => inflight.catch(() => undefined).then(() => handle.close()).catch(() => undefined))
    yield* body.pipe(
      Effect.ensuring(cleanup),
      Effect.zipRight(Effect.tryPromise({ try: () => rename(temp, path), catch: (e) => writeError(path, e) })),
      Effect.onError(() => Effect.promise(() => rm(temp, { force: true })))
    )
    return written
  })

/**
 * Saves a value to a torch.save zip archive at `path`, atomically. The
 * archive folder defaults to the file name's stem, as torch.save names it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const save = (value: PyValue, path: string, options: NodeSaveOptions = {}): Effect.Effect<number, TorchwireError> =>
  writeAtomically(
    // Storages read from files are read two chunks ahead of the disk writes, into recycled buffers (no more: see
    // the ring's size); storages in memory are not read ahead (Save.SaveOptions.readAhead).
    Save.toStream(value, { prefix: Save.prefixFor(path), ...(crc32 ? { crc32 } : {}), ...options, readAhead: 2 }),
    path,
    options
  ).pipe(Effect.locally(StreamBufferRing, bufferRing(8)))
