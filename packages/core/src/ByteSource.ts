/**
 * Random-access byte sources: a size and a positional read. Everything that
 * parses a file reads through this interface, so a 10 GB checkpoint on disk,
 * a Blob in a browser and a buffer in memory are handled alike, and only the
 * bytes that are needed are ever read.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { SourceError } from "./Errors.js"
import { isRangeWithin } from "./internal/bytes.js"

/**
 * A random-access source of bytes.
 *
 * `read(offset, length)` returns exactly `length` bytes or fails with
 * `SourceError`; implementations must be safe under concurrent reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface ByteSource {
  /** A name for error messages (a path, "memory", ...). */
  readonly name: string
  /** Total size in bytes. */
  readonly size: number
  /** Reads exactly `length` bytes at `offset`. */
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, SourceError>
  /**
   * Optionally, fills `target` with the `target.length` bytes at `offset`
   * (sources that copy anyway, like files, offer it so streams can reuse
   * their buffers; see `StreamBufferRing`).
   */
  readonly readInto?: (offset: number, target: Uint8Array) => Effect.Effect<void, SourceError>
}

/**
 * A fixed set of buffers handed out in turn: `take(n)` returns a view of
 * the next one (grown to `n` bytes if needed), overwriting what it held
 * `count` takes ago.
 *
 * @since 0.1.0
 * @category models
 */
export interface BufferRing {
  readonly take: (length: number) => Uint8Array
}

/**
 * A ring of `count` reusable buffers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bufferRing = (count: number): BufferRing => {
  const buffers: Array<Uint8Array> = []
  let next = 0
  return {
    take: (length) => {
      const i = next++ % count
      if (buffers[i] === undefined || buffers[i].length < length) buffers[i] = new Uint8Array(length)
      return buffers[i].subarray(0, length)
    }
  }
}

/**
 * The smallest chunk a stream reads into a `StreamBufferRing` buffer (1 MiB):
 * smaller ones are cheap to allocate, and consumers may hold many of them.
 *
 * @since 0.1.0
 * @category constants
 */
export const ringChunkMinimum = 1 << 20

/**
 * Buffers that streams of a source's bytes (`Zip.stream` of STORED
 * entries) read chunks of `ringChunkMinimum` bytes or more into, instead
 * of allocating one per chunk; none by default. With a ring of `n`, each
 * such chunk is overwritten `n` such chunks later, so set it (with
 * `Effect.locally`) only around a consumer that is done with every chunk
 * of that size before it pulls `n - 1` more, such as a socket writer.
 * It spares the allocation and garbage collection of every byte streamed,
 * which dominate sending a large checkpoint.
 *
 * @since 0.1.0
 * @category references
 */
export const StreamBufferRing: FiberRef.FiberRef<BufferRing | undefined> = FiberRef.unsafeMake<BufferRing | undefined>(undefined)

/**
 * Fails with `Truncated` unless `[offset, offset + length)` lies inside the
 * source. Call before allocating anything sized by a length read from a file.
 *
 * @since 0.1.0
 * @category utils
 */
export const checkRange = (source: ByteSource, offset: number, length: number): Effect.Effect<void, SourceError> =>
  isRangeWithin(offset, length, source.size)
    ? Effect.void
    : Effect.fail(
      new SourceError({
        reason: "Truncated",
        source: source.name,
        offset,
        detail: `read of ${length} bytes at ${offset} is outside the ${source.size}-byte source`
      })
    )

/**
 * A source over bytes already in memory. Reads return zero-copy views.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUint8Array = (bytes: Uint8Array, name = "memory"): ByteSource => {
  const source: ByteSource = {
    name,
    size: bytes.byteLength,
    read: (offset, length) => Effect.as(checkRange(source, offset, length), bytes.subarray(offset, offset + length))
  }
  return source
}

/**
 * A source over a `Blob` (or `File`) as found in browsers and Node.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBlob = (blob: Blob, name = "blob"): ByteSource => {
  const source: ByteSource = {
    name,
    size: blob.size,
    read: (offset, length) =>
      Effect.flatMap(checkRange(source, offset, length), () =>
        Effect.tryPromise({
          try: async () => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
          catch: (cause) =>
            new SourceError({ reason: "ReadFailed", source: name, offset, detail: String(cause), cause })
        }))
  }
  return source
}

/**
 * Wraps a source and counts the bytes read through it: the way to check that
 * opening a checkpoint reads kilobytes, not gigabytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const counting = (source: ByteSource): { readonly source: ByteSource; readonly bytesRead: () => number } => {
  let total = 0
  return {
    bytesRead: () => total,
    source: {
      name: source.name,
      size: source.size,
      read: (offset, length) => Effect.tap(source.read(offset, length), (b) => void (total += b.byteLength)),
      ...(source.readInto === undefined ? {} : {
        readInto: (offset: number, target: Uint8Array) => Effect.tap(source.readInto!(offset, target), () => void (total += target.byteLength))
      })
    }
  }
}

/**
 * The `length` bytes of `source` at `offset`, as a source of their own
 * (offsets from 0), named `name`: one member of a file that holds many, as
 * each item of a distributed checkpoint's `.distcp` file. Fails with
 * `Truncated` unless the range lies inside `source`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const slice = (source: ByteSource, offset: number, length: number, name = `${source.name}[${offset}:${offset + length}]`): Effect.Effect<ByteSource, SourceError> =>
  Effect.as(checkRange(source, offset, length), {
    name,
    size: length,
    read: (at: number, n: number) =>
      isRangeWithin(at, n, length)
        ? source.read(offset + at, n)
        : Effect.fail(new SourceError({ reason: "Truncated", source: name, offset: at, detail: `read of ${n} bytes at ${at} is outside the ${length}-byte source` })),
    ...(source.readInto === undefined ? {} : {
      readInto: (at: number, target: Uint8Array) =>
        isRangeWithin(at, target.length, length)
          ? source.readInto!(offset + at, target)
          : Effect.fail(new SourceError({ reason: "Truncated", source: name, offset: at, detail: `read of ${target.length} bytes at ${at} is outside the ${length}-byte source` }))
    })
  })
