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
export interface NodeSaveOptions extends Save.SaveOptions {
  /** Called with the bytes written so far (for progress reports). */
  readonly onProgress?: (bytesWritten: number) => void
  /** fsync the file before renaming it into place (default true: durable across a crash). */
  readonly fsync?: boolean
}

const writeError = (path: string, cause: unknown) =>
  new SourceError({ reason: "WriteFailed", source: path, offset: 0, detail: String(cause), cause })

/**
 * Writes a byte stream to `path` atomically, coalescing small chunks into
 * writes of at least 1 MiB, one per stream chunk. One write is in flight
 * while the stream produces the next batch, so CRC-32 and reading overlap
 * the disk.
 *
 * A stream chunk holding a piece of 1 MiB or more is written when it ends,
 * and when the next such chunk is pulled no earlier one is still being
 * written. Streams of a source's bytes (`Zip.stream`) emit one read per
 * chunk, so a `StreamBufferRing` (whose buffers serve only such reads) of
 * 8 leaves room for a read-ahead of 2 chunks (`Stream.bufferChunks`).
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
    let written = 0
    let pending: Array<Uint8Array> = []
    let pendingBytes = 0
    let inflight: Promise<unknown> = Promise.resolve()
    /** Waits for the write in flight; fails with its error. */
    const settle = Effect.tryPromise({ try: () => inflight, catch: (e) => writeError(temp, e) })
    /** Waits for the write in flight, then starts writing what is pending. */
    const flush = Effect.zipRight(settle, Effect.sync(() => {
      if (pendingBytes === 0) return
      const parts = pending
      pending = []
      pendingBytes = 0
      inflight = handle.writev(parts)
      inflight.catch(() => undefined) // observed by the next settle
    }))
    /**
     * Queues a chunk's pieces, and flushes at its end if 1 MiB or more is pending. A chunk (one pull of an
     * archive, about 4 MiB) often ends one record and begins the next: flushing at every MiB wrote it in two
     * writes, each a round trip through the event loop. A chunk of many small records is flushed every 16 MiB.
     */
    const writeChunk = (chunk: Chunk.Chunk<Uint8Array>) => {
      const pieces = Chunk.toReadonlyArray(chunk)
      let i = 0
      const loop: Effect.Effect<void, SourceError> = Effect.suspend(() => {
        while (i < pieces.length) {
          const piece = pieces[i++]!
          pending.push(piece)
          pendingBytes += piece.length
          written += piece.length
          if (pendingBytes >= 16 << 20) return Effect.zipRight(flush, loop)
        }
        options.onProgress?.(written)
        return pendingBytes >= 1 << 20 ? flush : Effect.void
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
    // Storages read from files are read two chunks ahead of the disk writes, into recycled buffers.
    Save.toStream(value, { prefix: Save.prefixFor(path), ...(crc32 ? { crc32 } : {}), ...options }).pipe(Stream.bufferChunks({ capacity: 2 })),
    path,
    options
  ).pipe(Effect.locally(StreamBufferRing, bufferRing(8)))
