/**
 * Byte sources over HTTP(S): a remote file read by `Range` requests through
 * `@effect/platform`'s `HttpClient` (the caller provides it: `FetchHttpClient`
 * in browsers and Node, `NodeHttpClient`), so a checkpoint on a model hub or
 * an artifact server opens in one or two round trips instead of a download.
 *
 * - The first request asks for the file's first window (32 KiB) and learns
 *   its size from `Content-Range`; reads shorter than a window fetch a
 *   window around them, kept for the reads that follow (a zip's end records
 *   and central directory, data.pkl); longer reads fetch exactly their
 *   range. Neighbouring reads are merged by their callers (`Zip.readMany`).
 * - At most `concurrency` requests are in flight; connection failures, cut
 *   or short bodies and 5xx/429 answers are retried with exponential backoff.
 * - Every answer is checked against the first one (`ETag`, `Last-Modified`,
 *   size; later requests send `If-Match`): a file replaced while it is read
 *   fails with `SourceError(Changed)`, never with bytes of two versions.
 * - A server that ignores `Range` (200 with the whole body) is
 *   `SourceError(RangeUnsupported)`, unless `allowDownload` says to take the
 *   whole body (up to `maxDownloadBytes`) in one streamed download.
 * - Request headers (`Authorization`) are sent, never printed: the source's
 *   name is the URL without its user, password and query.
 *
 * Kept apart from `ByteSource` (whose constructors need nothing but Effect)
 * so that only programs that read URLs load the HTTP client.
 *
 * @since 0.3.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { type ByteSource, checkRange } from "./ByteSource.js"
import { SourceError } from "./Errors.js"
import { rangeFor, windowCache } from "./internal/source/rangeWindows.js"

/**
 * Options of `fromUrl`.
 *
 * @since 0.3.0
 * @category options
 */
export interface Options {
  /** Headers sent with every request (an `Authorization` bearer token); never printed. */
  readonly headers?: Readonly<Record<string, string>>
  /** Requests in flight at once (default 4). */
  readonly concurrency?: number
  /** Retries of a request after a connection failure, a cut or short body, or a 5xx/429 answer (default 4). */
  readonly retries?: number
  /** The first retry's delay, doubled for each next one (default 100 ms). */
  readonly retryDelay?: Duration.DurationInput
  /** How long to wait for an answer's headers before retrying (default 30 s). */
  readonly timeout?: Duration.DurationInput
  /** The smallest request, in bytes (default 32 KiB): shorter reads fetch this much around them. */
  readonly window?: number
  /** When the server ignores `Range`, take the whole body in one download instead of failing (default false). */
  readonly allowDownload?: boolean
  /** The largest body `allowDownload` takes (default 1 GiB). */
  readonly maxDownloadBytes?: number
  /** Called with the bytes of each body received, as they arrive: progress. */
  readonly onFetch?: (bytes: number) => void
}

/**
 * A source over a URL, with what it has cost so far.
 *
 * @since 0.3.0
 * @category models
 */
export interface HttpByteSource extends ByteSource {
  /** Requests made (retries included) and body bytes received. */
  readonly stats: () => { readonly requests: number; readonly bytes: number }
  /** True when the server ignored `Range` and the whole file was downloaded (`allowDownload`). */
  readonly downloaded: boolean
}

/** The URL as messages show it: no user, password or query (a signed URL's signature is a secret). */
export const displayName = (url: string): string => {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}${u.search === "" ? "" : "?…"}`
  } catch {
    return "(invalid URL)"
  }
}

/** What the first answer said about the file; later answers must agree. */
interface Identity {
  readonly size: number
  readonly etag: string | undefined
  readonly lastModified: string | undefined
}

/** A failure worth another try: the connection, a cut or short body, a timeout, a server's 5xx or 429. */
class Retryable extends Data.TaggedError("Retryable")<{ readonly error: SourceError }> {}

/** `bytes START-END/TOTAL` of a 206 answer (`*` for an unknown total), or undefined. */
const contentRange = (header: string | undefined): { readonly start: number; readonly end: number; readonly total: number | undefined } | undefined => {
  const m = header === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim())
  return m === null ? undefined : { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) }
}

/**
 * Opens a URL as a `ByteSource` (see the module's description): one
 * request, for the first window, before it returns. Fails with
 * `SourceError`: `OpenFailed` (refused, not found, unauthorized: the status
 * is said), `RangeUnsupported`, or, once retries are spent, the last failure.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromUrl = (url: string, options: Options = {}): Effect.Effect<HttpByteSource, SourceError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const name = displayName(url)
    const window = options.window ?? 32 << 10
    const semaphore = yield* Effect.makeSemaphore(options.concurrency ?? 4)
    const cache = windowCache(8)
    let requests = 0
    let received = 0
    let identity: Identity | undefined

    const fail = (reason: SourceError["reason"], offset: number, detail: string, cause?: unknown) =>
      new SourceError({ reason, source: name, offset, detail, ...(cause === undefined ? {} : { cause }) })

    const retrying = <A>(attempt: Effect.Effect<A, SourceError | Retryable>): Effect.Effect<A, SourceError> =>
      attempt.pipe(
        Effect.retry({
          schedule: Schedule.exponential(options.retryDelay ?? Duration.millis(100)),
          times: options.retries ?? 4,
          while: (e) => e instanceof Retryable
        }),
        Effect.catchAll((e) => Effect.fail(e instanceof Retryable ? e.error : e))
      )

    /** Sends one GET of `[start, end)` and waits for the answer's headers. */
    const send = (start: number, end: number) =>
      Effect.suspend(() => {
        requests++
        const headers: Record<string, string> = { ...options.headers, "accept-encoding": "identity", range: `bytes=${start}-${end - 1}` }
        if (identity?.etag !== undefined) headers["if-match"] = identity.etag
        return client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers))).pipe(
          Effect.timeoutFail({ duration: options.timeout ?? Duration.seconds(30), onTimeout: () => new Retryable({ error: fail("TimedOut", start, "no answer in time") }) }),
          Effect.mapError((e: HttpClientError.HttpClientError | Retryable) =>
            e instanceof Retryable ? e : e._tag === "RequestError" && e.reason === "InvalidUrl" ? fail("OpenFailed", 0, "not a valid URL") : new Retryable({ error: fail("ReadFailed", start, `request failed: ${e.reason}`, e) }))
        )
      })

    /**
     * The body of an answer, exactly `length` bytes, copied into one buffer
     * as it arrives (progress reported); a body longer or shorter is
     * `Truncated`, retried.
     */
    const body = (response: HttpClientResponse.HttpClientResponse, start: number, length: number, into?: Uint8Array) =>
      Effect.suspend(() => {
        const out = into ?? new Uint8Array(length)
        let n = 0
        return Stream.runForEach(
          Stream.mapError(response.stream, (e) => new Retryable({ error: fail("ReadFailed", start, "the connection broke during the body", e) })),
          (chunk) => {
            options.onFetch?.(chunk.length)
            received += chunk.length
            if (n + chunk.length > length) return Effect.fail(new Retryable({ error: fail("Truncated", start + length, `the server sent more than the ${length} bytes asked for`) }))
            out.set(chunk, n)
            n += chunk.length
            return Effect.void
          }
        ).pipe(Effect.flatMap((): Effect.Effect<Uint8Array, Retryable> =>
          n === length ? Effect.succeed(out) : Effect.fail(new Retryable({ error: fail("Truncated", start + n, `the server sent ${n} of ${length} bytes`) }))
        ))
      })

    /** Checks an answer against the file's identity: the same size, ETag and Last-Modified. */
    const sameFile = (response: HttpClientResponse.HttpClientResponse, start: number, total: number | undefined): SourceError | undefined => {
      const known = identity!
      const etag = response.headers["etag"]
      const modified = response.headers["last-modified"]
      const changed = (total !== undefined && total !== known.size)
        || (known.etag !== undefined && etag !== known.etag)
        || (known.lastModified !== undefined && modified !== undefined && modified !== known.lastModified)
      return changed ? fail("Changed", start, "the file changed on the server while it was read") : undefined
    }

    /** Fetches `[start, end)` of the file (into `into` when given), checked and retried. */
    const fetchRange = (start: number, end: number, into?: Uint8Array) =>
      retrying(Effect.scoped(Effect.gen(function*() {
        const response = yield* send(start, end)
        if (response.status === 412) return yield* fail("Changed", start, "the file changed on the server while it was read (412 to If-Match)")
        if (response.status === 200) return yield* fail("RangeUnsupported", start, "the server stopped answering Range requests (200 with the whole body)")
        if (response.status === 429 || response.status >= 500) return yield* new Retryable({ error: fail("ReadFailed", start, `the server answered ${response.status}`) })
        if (response.status !== 206) return yield* fail("ReadFailed", start, `the server answered ${response.status}`)
        const range = contentRange(response.headers["content-range"])
        if (range === undefined || range.start !== start || range.end !== end - 1) {
          return yield* fail("ReadFailed", start, `the server sent bytes ${response.headers["content-range"] ?? "(no Content-Range)"} for ${start}-${end - 1}`)
        }
        const changed = sameFile(response, start, range.total)
        if (changed !== undefined) return yield* changed
        return yield* body(response, start, end - start, into)
      })))

    /** The first request: the first window, the file's size and identity; a whole body when Range is ignored and that is allowed. */
    const first = retrying(Effect.scoped(Effect.gen(function*() {
      const response = yield* send(0, window)
      const stamp = { etag: response.headers["etag"], lastModified: response.headers["last-modified"] }
      if (response.status === 206) {
        const range = contentRange(response.headers["content-range"])
        if (range?.total === undefined || range.start !== 0) return yield* fail("OpenFailed", 0, `the server sent ${response.headers["content-range"] ?? "no Content-Range"} for bytes 0-${window - 1}`)
        identity = { size: range.total, ...stamp }
        return { whole: false, bytes: yield* body(response, 0, range.end + 1) }
      }
      if (response.status === 416) {
        // An empty file has no byte 0.
        const range = /^bytes \*\/0$/.test(response.headers["content-range"] ?? "")
        if (!range) return yield* fail("OpenFailed", 0, "the server answered 416 to a request for the first bytes")
        identity = { size: 0, ...stamp }
        return { whole: false, bytes: new Uint8Array(0) }
      }
      if (response.status === 200) {
        if (options.allowDownload !== true) {
          return yield* fail("RangeUnsupported", 0, "the server ignores Range requests (it answered 200 with the whole file); allow a download to read it anyway")
        }
        const length = Number(response.headers["content-length"] ?? NaN)
        const max = options.maxDownloadBytes ?? 1 << 30
        if (!(length <= max)) return yield* fail("RangeUnsupported", 0, `the server ignores Range requests and the file (${Number.isNaN(length) ? "of unknown size" : `${length} bytes`}) is over the ${max}-byte download limit`)
        identity = { size: length, ...stamp }
        return { whole: true, bytes: yield* body(response, 0, length) }
      }
      if (response.status === 429 || response.status >= 500) return yield* new Retryable({ error: fail("OpenFailed", 0, `the server answered ${response.status}`) })
      return yield* fail("OpenFailed", 0, `the server answered ${response.status}`)
    })))

    const opened = yield* first
    const size = identity!.size
    cache.add({ start: 0, bytes: opened.bytes })

    const read = (offset: number, length: number): Effect.Effect<Uint8Array, SourceError> =>
      Effect.flatMap(checkRange(source, offset, length), () => {
        const cached = cache.find(offset, length)
        if (cached !== undefined || opened.whole) return Effect.succeed(cached ?? opened.bytes.subarray(offset, offset + length))
        const { start, end } = rangeFor(offset, length, size, window)
        return semaphore.withPermits(1)(fetchRange(start, end)).pipe(Effect.map((bytes) => {
          if (length < window) cache.add({ start, bytes })
          return bytes.subarray(offset - start, offset - start + length)
        }))
      })
    // Long reads straight into the caller's buffer (a stream's recycled ones: fresh memory is slow to touch).
    const readInto = (offset: number, target: Uint8Array): Effect.Effect<void, SourceError> =>
      target.length < window || opened.whole
        ? Effect.map(read(offset, target.length), (bytes) => target.set(bytes))
        : Effect.flatMap(checkRange(source, offset, target.length), () => Effect.asVoid(semaphore.withPermits(1)(fetchRange(offset, offset + target.length, target))))
    const source: HttpByteSource = { name, size, read, readInto, stats: () => ({ requests, bytes: received }), downloaded: opened.whole }
    return source
  })
