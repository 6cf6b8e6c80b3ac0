/**
 * File sources: positional reads, concurrency, offsets past 4 GiB, and the
 * handle's release with its Scope on every exit path.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Torch from "@torchwire/core/Torch"
import * as NodeSource from "@torchwire/node/NodeSource"
import { fixturePath } from "@torchwire/test-utils"

const openFds = () => readdirSync("/proc/self/fd").length

describe("NodeSource", () => {
  it.effect("reads exactly the requested ranges, concurrently, from one handle", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-"))
      const path = join(dir, "data.bin")
      const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) & 255)
      writeFileSync(path, data)
      yield* Effect.scoped(Effect.gen(function*() {
        const source = yield* NodeSource.open(path)
        assert.strictEqual(source.size, data.length)
        const ranges = Array.from({ length: 200 }, (_, i) => [(i * 104729) % (data.length - 5000), 1 + ((i * 31) % 4999)] as const)
        const reads = yield* Effect.forEach(ranges, ([at, n]) => source.read(at, n), { concurrency: "unbounded" })
        ranges.forEach(([at, n], i) => assert.deepStrictEqual(reads[i], data.subarray(at, at + n)))
        const past = yield* Effect.flip(source.read(data.length - 2, 4))
        assert.strictEqual(past.reason, "Truncated")
      }))
      rmSync(dir, { recursive: true })
    }))

  it.effect("reads at offsets beyond 4 GiB (sparse file)", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-"))
      const path = join(dir, "sparse.bin")
      const fd = openSync(path, "w")
      const at = 5 * 2 ** 30 + 12345
      writeSync(fd, new TextEncoder().encode("torchwire"), 0, 9, at)
      closeSync(fd)
      const text = yield* Effect.scoped(Effect.flatMap(NodeSource.open(path), (s) => s.read(at, 9)))
      assert.strictEqual(new TextDecoder().decode(text), "torchwire")
      rmSync(dir, { recursive: true })
    }))

  it.effect("closes the file when the Scope closes, on success and on failure", () =>
    Effect.gen(function*() {
      const before = openFds()
      const scope = yield* Scope.make()
      const source = yield* Scope.extend(NodeSource.open(fixturePath("linear.pt")), scope)
      const checkpoint = yield* Checkpoint.open(source)
      assert.strictEqual(openFds(), before + 1)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(openFds(), before)
      const [, weight] = Checkpoint.tensors(checkpoint.value)[0]!
      const late = yield* Effect.flip(Torch.bytes(weight))
      assert.strictEqual(late._tag === "SourceError" && late.reason, "Closed")

      const failed = yield* Effect.exit(Effect.scoped(Effect.flatMap(NodeSource.open(fixturePath("linear.pt.truth.json")), (s) => Checkpoint.open(s))))
      assert.isTrue(Exit.isFailure(failed))
      assert.strictEqual(openFds(), before)
    }))

  it.effect("a missing file is a typed OpenFailed error", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Effect.scoped(NodeSource.open("/nonexistent/model.pt")))
      assert.strictEqual(e.reason, "OpenFailed")
      assert.include(e.message, "/nonexistent/model.pt")
    }))
})
