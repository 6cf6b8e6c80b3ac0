/**
 * Checkpoints over HTTP (HttpSource, and the CLI's URLs): against a real
 * nginx (Debian's, started here on 127.0.0.1) every fixture reads as from
 * its file, in a counted number of requests; against servers made here to
 * misbehave (no range support, a connection cut mid-body, a 503, a file
 * replaced mid-read, a short body), typed errors or retried success.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as HttpSource from "@torchwire/core/HttpSource"
import * as Summary from "@torchwire/core/Summary"
import { fixtureBytes, fixtures, fixturesDir } from "@torchwire/test-utils"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli } from "./cliHarness.js"
import { type Nginx, startNginx } from "@torchwire/test-utils/nginx"

/** Runs `f` with nginx serving the fixtures. */
const withNginx = <A, E>(f: (nginx: Nginx) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(Effect.promise(() => startNginx(fixturesDir)), f, (n) => Effect.promise(() => n.stop()))

/** A server on 127.0.0.1 answering with `handle`; resolves its URL and a stop. */
const serve = (handle: (req: IncomingMessage, res: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly url: string; readonly server: ReturnType<typeof createServer> }>((resolve) => {
        const server = createServer(handle)
        server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }))
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))))
  )

/** `bytes=START-END` of a request, or undefined. */
const rangeOf = (req: IncomingMessage): readonly [number, number] | undefined => {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "")
  return m === null ? undefined : [Number(m[1]), Number(m[2])]
}

/** Answers a range of `body` as nginx does (206, Content-Range, ETag). */
const sendRange = (req: IncomingMessage, res: ServerResponse, body: Uint8Array, etag = "\"v1\"") => {
  const [start, end0] = rangeOf(req) ?? [0, body.length - 1]
  const end = Math.min(end0, body.length - 1)
  res.writeHead(206, { "content-range": `bytes ${start}-${end}/${body.length}`, "content-length": end - start + 1, etag })
  res.end(body.subarray(start, end + 1))
}

/** Opens a URL and summarizes it, with the source's request counts. */
const summarizeUrl = (url: string, options: HttpSource.Options = {}) =>
  Effect.gen(function*() {
    const source = yield* HttpSource.fromUrl(url, { retryDelay: "1 millis", ...options })
    const summary = yield* Effect.flatMap(Checkpoint.open(source, { weightsOnly: false }), (c) => Summary.ofCheckpoint(c))
    return { summary, stats: source.stats(), source }
  }).pipe(Effect.provide(FetchHttpClient.layer))

const linear = fixtureBytes("linear.pt")
// Windows of 256 bytes: linear.pt (1,059 bytes) then takes several requests, for the servers below to disrupt.
const small = { window: 256 }

describe("checkpoints over HTTP", () => {
  it.scopedLive("against nginx, inspect --json of every fixture's URL is its file's", () =>
    withNginx((nginx) =>
      Effect.gen(function*() {
        for (const f of fixtures) {
          const fromFile = yield* cli("inspect", "--json", join(fixturesDir, f.file))
          const fromUrl = yield* cli("inspect", "--json", `${nginx.url}/${f.file}`)
          assert.strictEqual(fromUrl.code, fromFile.code, `${f.file}: ${fromUrl.err}`)
          assert.strictEqual(fromUrl.out, fromFile.out, f.file)
        }
        const dis = yield* cli("dis", `${nginx.url}/linear.pt`)
        assert.strictEqual(dis.code, 0)
        assert.include(dis.out, "GLOBAL")
        const scanned = yield* cli("scan", `${nginx.url}/linear.pt`, `${nginx.url}/malicious/inst_os_system.pkl`)
        assert.strictEqual(scanned.code, 1)
        assert.include(scanned.out, "/linear.pt: SAFE")
        assert.include(scanned.out, "/malicious/inst_os_system.pkl: DANGEROUS")
      })), 120_000)

  it.scopedLive("against nginx, opening a torch.save zip takes two requests of one window each; tensors one request each", () =>
    withNginx((nginx) =>
      Effect.gen(function*() {
        const { stats, summary } = yield* summarizeUrl(`${nginx.url}/linear.pt`)
        assert.isAtMost(stats.requests, 3)
        assert.isAtMost(stats.bytes, linear.length + (32 << 10))
        assert.deepStrictEqual(summary, yield* summarizeFile("linear.pt"))
        const keysOnly = yield* Effect.gen(function*() {
          const source = yield* HttpSource.fromUrl(`${nginx.url}/mobilenet_v2_w025.pt`)
          const checkpoint = yield* Checkpoint.open(source)
          return { tensors: Checkpoint.tensors(checkpoint.value).length, ...source.stats() }
        }).pipe(Effect.provide(FetchHttpClient.layer))
        assert.isAbove(keysOnly.tensors, 100)
        // The first and last windows, and data.pkl (43,081 bytes: longer than a window, fetched exactly).
        assert.strictEqual(keysOnly.requests, 3)
        assert.isAtMost(keysOnly.bytes, (64 << 10) + 43_081 + 128)
      })), 60_000)

  it.scopedLive("a server that ignores Range is RangeUnsupported, or one download when allowed", () =>
    Effect.gen(function*() {
      const { url } = yield* serve((_req, res) => res.end(linear))
      const refused = yield* Effect.flip(summarizeUrl(`${url}/linear.pt`))
      assert.strictEqual(refused._tag, "SourceError")
      assert.include(refused.message, "RangeUnsupported")
      const allowed = yield* summarizeUrl(`${url}/linear.pt`, { allowDownload: true })
      assert.isTrue(allowed.source.downloaded)
      assert.deepStrictEqual(allowed.stats, { requests: 1, bytes: linear.length })
      assert.deepStrictEqual(allowed.summary, yield* summarizeFile("linear.pt"))
      const cli1 = yield* cli("inspect", `${url}/linear.pt`)
      assert.strictEqual(cli1.code, 1)
      assert.include(cli1.err, "RangeUnsupported")
    }))

  it.scopedLive("a connection cut mid-body and a 503 are retried", () =>
    Effect.gen(function*() {
      let requests = 0
      const { url } = yield* serve((req, res) => {
        requests++
        if (requests === 2) {
          // The second request (the end of the file): headers, half the body, then the connection cut.
          const [start, end] = rangeOf(req)!
          res.writeHead(206, { "content-range": `bytes ${start}-${end}/${linear.length}`, "content-length": end - start + 1, etag: "\"v1\"" })
          res.write(linear.subarray(start, start + 100))
          setTimeout(() => res.destroy(), 10)
          return
        }
        if (requests === 3) return void res.writeHead(503).end()
        sendRange(req, res, linear)
      })
      const { summary, stats } = yield* summarizeUrl(`${url}/linear.pt`, small)
      assert.deepStrictEqual(summary, yield* summarizeFile("linear.pt"))
      assert.isAtLeast(stats.requests, 4)
      assert.strictEqual(stats.requests, requests)
    }))

  for (const honoursIfMatch of [true, false]) {
    it.scopedLive(`a file replaced while it is read is Changed, never bytes of two versions (${honoursIfMatch ? "412 to If-Match" : "a new ETag"})`, () =>
      Effect.gen(function*() {
        let requests = 0
        const replaced = linear.slice().reverse()
        const { url } = yield* serve((req, res) => {
          requests++
          if (requests === 1) return sendRange(req, res, linear, "\"v1\"")
          if (honoursIfMatch && req.headers["if-match"] === "\"v1\"") return void res.writeHead(412).end()
          sendRange(req, res, replaced, "\"v2\"")
        })
        const error = yield* Effect.flip(summarizeUrl(`${url}/linear.pt`, small))
        assert.strictEqual(error._tag === "SourceError" && error.reason, "Changed", error.message)
        assert.strictEqual(requests, 2)
      }))
  }

  it.scopedLive("against nginx, a file replaced after opening is Changed (nginx answers If-Match with 412)", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "torchwire-http-"))
      const file = join(root, "model.pt")
      writeFileSync(file, fixtureBytes("mobilenet_v2_w025.pt"))
      const nginx = yield* Effect.acquireRelease(Effect.promise(() => startNginx(root)), (n) => Effect.promise(() => n.stop()))
      const error = yield* Effect.flip(Effect.gen(function*() {
        const source = yield* HttpSource.fromUrl(`${nginx.url}/model.pt`)
        const checkpoint = yield* Checkpoint.open(source)
        // Another version lands (a new size and modification time: a new ETag) before the tensors are read.
        writeFileSync(file, fixtureBytes("views.pt"))
        return yield* Checkpoint.arrays(checkpoint.value)
      }).pipe(Effect.provide(FetchHttpClient.layer)))
      assert.strictEqual(error._tag === "SourceError" && error.reason, "Changed", error.message)
    }))

  it.scopedLive("a short body is retried, then Truncated", () =>
    Effect.gen(function*() {
      const { url } = yield* serve((req, res) => {
        const [start, end] = rangeOf(req)!
        const stop = Math.min(end, linear.length - 1)
        if (start === 0) return sendRange(req, res, linear)
        // Says the whole range, sends a part and ends the body.
        res.writeHead(206, { "content-range": `bytes ${start}-${stop}/${linear.length}`, etag: "\"v1\"" })
        res.end(linear.subarray(start, start + 10))
      })
      const error = yield* Effect.flip(summarizeUrl(`${url}/linear.pt`, { ...small, retries: 2 }))
      assert.strictEqual(error._tag === "SourceError" && error.reason, "Truncated")
    }))

  it.scopedLive("--header is sent with every request and never printed; a URL's query is not printed either", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      const big = fixtureBytes("mobilenet_v2_w025.pt")
      const { url } = yield* serve((req, res) => {
        seen.push(req.headers.authorization)
        if (req.headers.authorization !== "Bearer s3cret") return void res.writeHead(401).end()
        sendRange(req, res, big)
      })
      const ok = yield* cli("inspect", "--header", "Authorization: Bearer s3cret", `${url}/mobilenet_v2_w025.pt`)
      assert.strictEqual(ok.code, 0, ok.err)
      assert.strictEqual(seen.length, 3)
      assert.isTrue(seen.every((h) => h === "Bearer s3cret"))
      const refused = yield* cli("inspect", "--header", "Authorization: Bearer wrong", `${url}/linear.pt?token=hidden`)
      assert.strictEqual(refused.code, 1)
      assert.include(refused.err, "answered 401")
      assert.notInclude(refused.err + refused.out, "wrong")
      assert.notInclude(refused.err + refused.out, "hidden")
      const usage = yield* cli("inspect", "--header", "no colon", `${url}/linear.pt`)
      assert.strictEqual(usage.code, 2)
    }))

  it.scopedLive("onFetch reports every body byte received", () =>
    withNginx((nginx) =>
      Effect.gen(function*() {
        let fetched = 0
        const { stats } = yield* summarizeUrl(`${nginx.url}/mobilenet_v2_w025.pt`, { onFetch: (n) => void (fetched += n) })
        assert.strictEqual(fetched, stats.bytes)
        // The summary hashes every tensor: nearly the whole file came.
        assert.isAtLeast(fetched, 0.9 * fixtureBytes("mobilenet_v2_w025.pt").length)
      })))
})

/** A fixture file's summary, opened from memory. */
const summarizeFile = (file: string) =>
  Effect.flatMap(Checkpoint.open({ name: file, size: fixtureBytes(file).length, read: (o, n) => Effect.succeed(fixtureBytes(file).subarray(o, o + n)) }, { weightsOnly: false }), (c) => Summary.ofCheckpoint(c))
