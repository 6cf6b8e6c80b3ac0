/**
 * The streaming format against a Python peer running real torch 1.13 with
 * an emulation of torch 2.x's torch.distributed._serialization
 * (test-utils/python/stream_peer.py). Fails, never skips, without torch.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Streaming from "@torchwire/core/Streaming"
import type { Json } from "@torchwire/core/Summary"
import * as Summary from "@torchwire/core/Summary"
import { cli } from "./cliHarness.js"
import * as NodeStreaming from "@torchwire/node/NodeStreaming"
import { firstDifference, fixtureBytes, fixturePath, pythonDir, truthOf } from "@torchwire/test-utils"

const python = process.env.TORCHWIRE_PYTHON ?? "/usr/bin/python3"
const peer = join(pythonDir, "stream_peer.py")
const files = ["linear.pt", "training_checkpoint.pt", "dtypes.pt", "views.pt", "legacy.pt"]
const valueTruth = (file: string) => (truthOf(file) as { readonly value: Json }).value
const fixtureValue = (file: string) => Effect.map(Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(file)), { weightsOnly: false }), (c) => c.value)

/** Runs the peer's `receive` on a free port: the port, and the summary it prints once it has loaded a checkpoint. */
const pythonReceiver = () =>
  Effect.async<{ readonly port: number; readonly summary: Promise<Json> }, Error>((resume) => {
    const child = spawn(python, [peer, "receive", "127.0.0.1", "0"], { stdio: ["ignore", "pipe", "inherit"] })
    const lines = createInterface({ input: child.stdout })
    let resolveSummary: (j: Json) => void
    const summary = new Promise<Json>((r) => (resolveSummary = r))
    lines.on("line", (line) => {
      const msg = JSON.parse(line)
      if ("port" in msg) resume(Effect.succeed({ port: msg.port, summary }))
      else resolveSummary(msg.summary)
    })
    child.on("error", (e) => resume(Effect.fail(e)))
  })

describe("streaming interop with real torch", () => {
  beforeAll(() => {
    try {
      execFileSync(python, ["-c", "import torch"], { stdio: "pipe" })
    } catch (e) {
      throw new Error(`real torch is required (apt-get install -y python3-torch): ${String(e)}`)
    }
  })

  it.effect("torchwire encodes exactly the bytes the Python peer's _streaming_save writes", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-stream-"))
      for (const file of files.filter((f) => f !== "legacy.pt")) {
        const out = join(dir, `${file}.stream`)
        execFileSync(python, [peer, "save", fixturePath(file), out])
        const ours = Chunk.toReadonlyArray(yield* Stream.runCollect(Streaming.encode(yield* fixtureValue(file))))
        assert.isTrue(Buffer.concat(ours).equals(readFileSync(out)), file)
      }
      rmSync(dir, { recursive: true })
    }))

  it.live("Python → torchwire over loopback TCP", () =>
    Effect.scoped(Effect.gen(function*() {
      const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
      for (const file of files) {
        const sender = Effect.async<void, Error>((resume) => {
          const child = spawn(python, [peer, "send", "127.0.0.1", String(listener.address.port), fixturePath(file)], { stdio: "inherit" })
          child.on("exit", (code) => resume(code === 0 ? Effect.void : Effect.fail(new Error(`peer exited ${code}`))))
        })
        const [received] = yield* Effect.all([listener.receive({ weightsOnly: false }), sender], { concurrency: 2 })
        assert.strictEqual(firstDifference(yield* Summary.summarize(received.value), valueTruth(file)), undefined, file)
      }
    })))

  it.live("Python → torchwire straight to .pt files that torch.load reads, with valid CRCs and alignment", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-recv-"))
      const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
      const outputs: Array<string> = []
      for (const file of files) {
        const out = join(dir, file)
        const sender = Effect.async<void, Error>((resume) => {
          const child = spawn(python, [peer, "send", "127.0.0.1", String(listener.address.port), fixturePath(file)], { stdio: "inherit" })
          child.on("exit", (code) => resume(code === 0 ? Effect.void : Effect.fail(new Error(`peer exited ${code}`))))
        })
        yield* Effect.all([listener.receiveFile(out, { fsync: false }), sender], { concurrency: 2 })
        outputs.push(out)
      }
      const run = (cmd: string) => execFileSync(python, [join(pythonDir, "oracle.py"), cmd, ...outputs], { encoding: "utf8" }).trim().split("\n").map((l) => JSON.parse(l))
      for (const [i, line] of run("summarize").entries()) {
        assert.strictEqual(firstDifference(line.summary, { format: "zip", value: valueTruth(files[i]!) }), undefined, files[i])
      }
      for (const check of run("zipcheck")) {
        assert.isTrue(check.crc_ok && check.aligned, check.file)
        assert.strictEqual(check.names.at(-1).endsWith("/.data/serialization_id"), true)
      }
      rmSync(dir, { recursive: true })
    })))

  it.live("torchwire → Python over loopback TCP", () =>
    Effect.gen(function*() {
      for (const file of files) {
        const receiver = yield* pythonReceiver()
        yield* NodeStreaming.send(yield* fixtureValue(file), { host: "127.0.0.1", port: receiver.port })
        const summary = yield* Effect.promise(() => receiver.summary)
        assert.strictEqual(firstDifference(summary, { format: "zip", value: valueTruth(file) }), undefined, file)
      }
    }))

  it.live("Python fetches a checkpoint torchwire serves over HTTP", () =>
    Effect.scoped(Effect.gen(function*() {
      const address = yield* NodeStreaming.serveHttp(yield* fixtureValue("training_checkpoint.pt"), { host: "127.0.0.1", port: 0 })
      const output = yield* Effect.async<string, Error>((resume) => {
        const child = spawn(python, [peer, "fetch", `http://127.0.0.1:${address.port}/model`], { stdio: ["ignore", "pipe", "inherit"] })
        let text = ""
        child.stdout.on("data", (d) => (text += d))
        child.on("exit", (code) => resume(code === 0 ? Effect.succeed(text) : Effect.fail(new Error(`peer exited ${code}`))))
      })
      const summary = JSON.parse(output).summary as Json
      assert.strictEqual(firstDifference(summary, { format: "zip", value: valueTruth("training_checkpoint.pt") }), undefined)
    })))

  it.effect("convert writes .stream files the peer loads, and reads the peer's", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-stream-"))
      const ours = join(dir, "ours.stream")
      assert.strictEqual((yield* cli("convert", fixturePath("training_checkpoint.pt"), ours)).code, 0)
      const loaded = JSON.parse(execFileSync(python, [peer, "load", ours], { encoding: "utf8" }))
      assert.strictEqual(firstDifference(loaded.summary.value, valueTruth("training_checkpoint.pt")), undefined)
      const theirs = join(dir, "theirs.stream")
      execFileSync(python, [peer, "save", fixturePath("dtypes.pt"), theirs])
      const back = join(dir, "back.pt")
      assert.strictEqual((yield* cli("convert", theirs, back)).code, 0)
      const inspected = yield* cli("inspect", "--json", back)
      assert.strictEqual(inspected.code, 0)
      assert.strictEqual(firstDifference(JSON.parse(inspected.out).value, valueTruth("dtypes.pt")), undefined)
      rmSync(dir, { recursive: true })
    }))
})
