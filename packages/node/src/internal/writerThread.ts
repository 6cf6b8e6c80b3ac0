/**
 * A file writer on a worker thread: the main thread copies each write's bytes
 * into a ring of shared slots and goes on; the worker makes blocking `pwrite`s
 * from the slots one after another. The event loop never blocks, and no write
 * waits for a round trip through the main thread: with libuv's thread pool,
 * each write ends with a wake-up of the main thread, which only then starts
 * the next (BENCHMARKS.md, (d)). The copy runs on the main thread while the
 * worker writes, and the worker writes from memory the cache still holds.
 *
 * One thread per process, leased by one file at a time and kept for 10 s
 * after: starting one took 50 to 70 ms on the benchmark's VM, and saves of
 * 32 to 256 MiB that each started (and ended) their own took two to four
 * times as long as on libuv's threads.
 *
 * The slots' protocol (counters in one shared `Int32Array`, `CONTROL`):
 * - the main thread waits until `lengths[i]` is 0, copies a write into slot
 *   `i`, sets `fds[i]` and `positions[i]`, then `lengths[i]`, and bumps
 *   `published`;
 * - the worker waits on `published` until `lengths[i]` is set, writes it
 *   (unless `failed` is set), clears `lengths[i]` and bumps `freed`;
 * - a failed write sets `failed` (1) with the failure's offset and text; the
 *   main thread sets it (2) to drop a file's remaining writes, and clears it
 *   once every published slot was freed;
 * - `closing` ends the worker's loop once the next slot is free.
 */
import { SourceError } from "@torchwire/core/Errors"
import { Worker } from "node:worker_threads"

/** Indices of the control counters. */
export const CONTROL = { published: 0, freed: 1, failed: 2, failureLength: 3, closing: 4 } as const

/** Bytes of a failure's text kept. */
const FAILURE_TEXT = 512

/** `Atomics.waitAsync` (ES2024, in Node since 16), typed for the ES2022 library torchwire compiles against. */
const waitAsync: (array: Int32Array, index: number, value: number) => { readonly async: false } | { readonly async: true; readonly value: Promise<unknown> } =
  (Atomics as unknown as { waitAsync: typeof waitAsync }).waitAsync.bind(Atomics)

/** What the worker is given: the shared memory of the ring. */
export interface WriterData {
  readonly slotSize: number
  readonly slots: SharedArrayBuffer
  /** Per slot: the bytes to write (0: free), the file, the file offset. */
  readonly lengths: SharedArrayBuffer
  readonly fds: SharedArrayBuffer
  readonly positions: SharedArrayBuffer
  readonly control: SharedArrayBuffer
  /** The first failed write's file offset (one float64) and its text (UTF-8). */
  readonly failureOffset: SharedArrayBuffer
  readonly failureText: SharedArrayBuffer
  readonly layout: typeof CONTROL
}

/** A ring of `slotCount` slots of `slotSize` bytes, all free. */
export const writerData = (slotSize: number, slotCount: number): WriterData => ({
  slotSize,
  slots: new SharedArrayBuffer(slotSize * slotCount),
  lengths: new SharedArrayBuffer(4 * slotCount),
  fds: new SharedArrayBuffer(4 * slotCount),
  positions: new SharedArrayBuffer(8 * slotCount),
  control: new SharedArrayBuffer(4 * Object.keys(CONTROL).length),
  failureOffset: new SharedArrayBuffer(8),
  failureText: new SharedArrayBuffer(FAILURE_TEXT),
  layout: CONTROL
})

/** The worker's loop, as called: `writerLoop(data, fs)`. */
export type WriterLoop = (
  data: WriterData,
  fs: { readonly writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number }
) => void

/**
 * The source of the worker's loop (a `WriterLoop`): writes the published
 * slots in turn, each to its file at its offset, and frees them. After a
 * failed write it records the failure and sets `failed`; while that is set it
 * frees the slots without writing them (the main thread clears it). Returns
 * once `closing` is set and the next slot is free.
 *
 * Plain JavaScript in a string, not a function's `toString()`: a compiler may
 * add helpers to a function (esbuild's `__name`, under tsx) that the worker's
 * context lacks. Tested on the main thread with a fake `fs`.
 */
export const writerLoopSource = `(data, fs) => {
  const layout = data.layout
  const control = new Int32Array(data.control)
  const lengths = new Int32Array(data.lengths)
  const fds = new Int32Array(data.fds)
  const positions = new Float64Array(data.positions)
  const slots = new Uint8Array(data.slots)
  const failureText = new Uint8Array(data.failureText)
  const fail = (offset, detail) => {
    const text = new TextEncoder().encode(detail).subarray(0, failureText.length)
    failureText.set(text)
    new Float64Array(data.failureOffset)[0] = offset
    Atomics.store(control, layout.failureLength, text.length)
    Atomics.store(control, layout.failed, 1)
  }
  for (let i = 0; ; i = (i + 1) % lengths.length) {
    let length = 0
    for (;;) {
      const published = Atomics.load(control, layout.published)
      length = Atomics.load(lengths, i)
      if (length !== 0) break
      if (Atomics.load(control, layout.closing) === 1) return
      Atomics.wait(control, layout.published, published)
    }
    if (Atomics.load(control, layout.failed) === 0) {
      const position = positions[i]
      try {
        const written = fs.writeSync(fds[i], slots, i * data.slotSize, length, position)
        if (written !== length) fail(position + written, "short write: " + written + " of " + length + " bytes (disk full, or a file size limit)")
      } catch (error) {
        fail(position, String(error))
      }
    }
    Atomics.store(lengths, i, 0)
    Atomics.add(control, layout.freed, 1)
    Atomics.notify(control, layout.freed)
  }
}`

/** The worker's source: the loop run on its `workerData`. */
const workerSource = `"use strict";
(${writerLoopSource})(require("node:worker_threads").workerData, require("node:fs"));`

/** Bytes per write of `NodeSave.writeAtomically`, and per slot of the ring: 1 MiB. */
export const WRITE_SIZE = 1 << 20

/** Slots in the ring. */
const SLOT_COUNT = 8

/** How long an idle writer thread is kept for the next save: 10 s. */
const IDLE_MILLIS = 10_000

/**
 * One file's use of the writer thread, from `acquireWriterThread`.
 */
export interface WriterLease {
  /**
   * Copies the `length` (≤ 1 MiB) bytes of `parts` into the next free slot,
   * to be written at file offset `position`. Returns `undefined` when done at
   * once (the parts may be reused), else a promise of it (when the slots are
   * full). Rejects with the `SourceError` of a failed write.
   */
  readonly write: (parts: ReadonlyArray<Uint8Array>, length: number, position: number) => Promise<void> | undefined
  /** Waits until every write is made; rejects with the `SourceError` of a failed one. */
  readonly finish: () => Promise<void>
  /**
   * Gives the thread back: writes not yet made are dropped, and it resolves
   * once none is in progress (the file may then be closed).
   */
  readonly release: () => Promise<void>
}

/** The process's writer thread and the main thread's side of its ring. */
interface Writer {
  readonly worker: Worker
  readonly online: Promise<boolean>
  readonly exited: Promise<void>
  readonly control: Int32Array
  readonly lengths: Int32Array
  readonly fds: Int32Array
  readonly positions: Float64Array
  readonly slots: Uint8Array
  readonly data: WriterData
  /** Slots published so far (all leases): the `freed` count at which none is pending. */
  published: number
  /** The next slot to fill. */
  next: number
  busy: boolean
  dead: boolean
  idle: ReturnType<typeof setTimeout> | undefined
}

/** The writer thread, once started (one per process, kept while in use and for a while after). */
let current: Writer | undefined

/** Starts the writer thread (unref'd: it keeps no process alive while idle). */
const startWriter = (): Writer => {
  const data = writerData(WRITE_SIZE, SLOT_COUNT)
  const worker = new Worker(workerSource, { eval: true, workerData: data })
  worker.unref()
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()))
  const writer: Writer = {
    worker,
    online: new Promise<boolean>((resolve) => {
      worker.once("online", () => resolve(true))
      void exited.then(() => resolve(false))
    }),
    exited,
    control: new Int32Array(data.control),
    lengths: new Int32Array(data.lengths),
    fds: new Int32Array(data.fds),
    positions: new Float64Array(data.positions),
    slots: new Uint8Array(data.slots),
    data,
    published: 0,
    next: 0,
    busy: true,
    dead: false,
    idle: undefined
  }
  worker.on("error", () => undefined) // the exit that follows ends it
  void exited.then(() => {
    writer.dead = true
    if (current === writer) current = undefined
  })
  return writer
}

/** Resolves once the worker freed a slot after `seen` were freed, or exited; `undefined` if it already did. */
const freedSince = (writer: Writer, seen: number): Promise<unknown> | undefined => {
  const wait = waitAsync(writer.control, CONTROL.freed, seen)
  return wait.async ? Promise.race([wait.value, writer.exited]) : undefined
}

/** Resolves once every published slot was freed (or the worker exited). */
const drained = async (writer: Writer): Promise<void> => {
  for (;;) {
    const freed = Atomics.load(writer.control, CONTROL.freed)
    if (freed === writer.published || writer.dead) return
    await freedSince(writer, freed)
  }
}

/** The recorded failure as a `SourceError` (file `path`), clearing it for the next lease. */
const takeFailure = (writer: Writer, path: string): SourceError => {
  const length = Atomics.load(writer.control, CONTROL.failureLength)
  const detail = new TextDecoder().decode(new Uint8Array(writer.data.failureText).slice(0, length))
  const offset = new Float64Array(writer.data.failureOffset)[0]!
  Atomics.store(writer.control, CONTROL.failed, 0)
  return new SourceError({ reason: "WriteFailed", source: path, offset, detail })
}

/** Fails with the worker's failure once it is safe to (nothing in progress), or because it exited. */
const failure = (writer: Writer, path: string): Promise<never> =>
  drained(writer).then(() =>
    Promise.reject(
      Atomics.load(writer.control, CONTROL.failed) !== 0
        ? takeFailure(writer, path)
        : new SourceError({ reason: "WriteFailed", source: path, offset: 0, detail: "the writer thread stopped" })
    )
  )

/** Ends an idle writer thread's loop (it then exits on its own); the next file starts another. */
const close = (writer: Writer) => {
  clearTimeout(writer.idle)
  if (current === writer) current = undefined
  Atomics.store(writer.control, CONTROL.closing, 1)
  Atomics.add(writer.control, CONTROL.published, 1)
  Atomics.notify(writer.control, CONTROL.published)
}

/** Closes an idle writer thread after a while. */
const retire = (writer: Writer) => {
  writer.idle = setTimeout(() => writer.busy || close(writer), IDLE_MILLIS)
  writer.idle.unref()
}

/** A lease of `writer` for the open file `fd` (`path` names it in errors). */
const lease = (writer: Writer, fd: number, path: string): WriterLease => {
  const copy = (parts: ReadonlyArray<Uint8Array>, length: number, position: number) => {
    const i = writer.next
    let at = i * WRITE_SIZE
    for (const part of parts) {
      writer.slots.set(part, at)
      at += part.length
    }
    writer.fds[i] = fd
    writer.positions[i] = position
    writer.published += 1
    writer.next = (i + 1) % SLOT_COUNT
    Atomics.store(writer.lengths, i, length)
    Atomics.add(writer.control, CONTROL.published, 1)
    Atomics.notify(writer.control, CONTROL.published)
  }
  const write = (parts: ReadonlyArray<Uint8Array>, length: number, position: number): Promise<void> | undefined => {
    for (;;) {
      const freed = Atomics.load(writer.control, CONTROL.freed)
      if (Atomics.load(writer.control, CONTROL.failed) !== 0 || writer.dead) return failure(writer, path)
      if (Atomics.load(writer.lengths, writer.next) === 0) return void copy(parts, length, position)
      const wait = freedSince(writer, freed)
      if (wait) return wait.then(() => write(parts, length, position))
    }
  }
  const finish = async () => {
    await drained(writer)
    if (Atomics.load(writer.control, CONTROL.failed) !== 0 || writer.dead) return failure(writer, path)
  }
  let released = false
  const release = async () => {
    if (released) return
    released = true
    if (Atomics.load(writer.control, CONTROL.freed) !== writer.published) Atomics.store(writer.control, CONTROL.failed, 2) // drop the rest
    await drained(writer)
    Atomics.store(writer.control, CONTROL.failed, 0)
    writer.busy = false
    writer.worker.unref()
    retire(writer)
  }
  return { write, finish, release }
}

/**
 * Leases the process's writer thread for writes to the open file `fd`
 * (`path` names it in errors), starting the thread if there is none; resolves
 * once it runs. Resolves `undefined` if another file has it, or if no thread
 * could be started: the caller writes without one.
 */
export const acquireWriterThread = (fd: number, path: string): Promise<WriterLease | undefined> => {
  if (current?.busy) return Promise.resolve(undefined)
  let writer: Writer
  try {
    writer = current ??= startWriter()
  } catch {
    return Promise.resolve(undefined)
  }
  writer.busy = true
  clearTimeout(writer.idle)
  writer.worker.ref()
  return writer.online.then((online) => {
    if (online && !writer.dead) return lease(writer, fd, path)
    writer.busy = false
    return undefined
  })
}

/** Ends the idle writer thread now, if there is one (for tests: each starts with none). */
export const retireWriterThread = async (): Promise<void> => {
  const writer = current
  if (writer === undefined || writer.busy) return
  close(writer)
  await writer.exited
}
