/**
 * The CLI's commands, exit statuses and messages.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Zip from "@torchwire/core/Zip"
import * as Cli from "@torchwire/node/Cli"
import * as NodeSource from "@torchwire/node/NodeSource"
import { firstDifference, fixtureBytes, fixturePath, type Json, truthOf } from "@torchwire/test-utils"

const run = (...args: Array<string>) =>
  Effect.gen(function*() {
    let out = ""
    let err = ""
    const code = yield* Cli.run(Cli.parse(args), (t) => void (out += t), (t) => void (err += t))
    return { code, out, err }
  })

describe("CLI", () => {
  it.effect("inspect prints the tree with dtypes, shapes, element counts and totals", () =>
    Effect.gen(function*() {
      const { code, out } = yield* run("inspect", fixturePath("linear.pt"))
      assert.strictEqual(code, 0)
      assert.include(out, "zip checkpoint")
      assert.include(out, "archive \"linear\", version 3, little-endian")
      assert.include(out, "collections.OrderedDict (2 items)  {_metadata}")
      assert.include(out, "├─ weight: tensor float32 [3, 4]  12 el, 48 B")
      assert.include(out, "└─ bias: tensor float32 [3]  3 el, 12 B")
      assert.include(out, "2 tensors, 15 elements, 60 B of tensor data")
    }))

  it.effect("inspect shows opaque objects by name and never refuses them", () =>
    Effect.gen(function*() {
      const { code, out } = yield* run("inspect", fixturePath("whole_module.pt"))
      assert.strictEqual(code, 0)
      assert.include(out, "torch.nn.modules.container.Sequential (opaque object)")
      assert.include(out, "torch.nn.modules.linear.Linear (opaque object)")
    }))

  it.effect("inspect --json prints the canonical summary", () =>
    Effect.gen(function*() {
      for (const file of ["training_checkpoint.pt", "legacy.pt", "tar_format.pt", "plain_protocol0.pkl", "dtypes.pt"]) {
        const { code, out } = yield* run("inspect", "--json", fixturePath(file))
        assert.strictEqual(code, 0)
        assert.strictEqual(firstDifference(JSON.parse(out), truthOf(file)), undefined, file)
      }
    }))

  it.effect("inspect shows TorchScript module trees; --json gives the module summary; code prints sources", () =>
    Effect.gen(function*() {
      const tree = yield* run("inspect", fixturePath("script_sequential.pt"))
      assert.strictEqual(tree.code, 0)
      assert.include(tree.out, "torchscript archive")
      assert.include(tree.out, "├─ 1: __torch__.torch.nn.modules.batchnorm.BatchNorm2d")
      assert.include(tree.out, "running_mean: buffer float32 [4]")
      const flat = yield* run("inspect", fixturePath("flatbuffer_custom.ff"))
      assert.include(flat.out, "flatbuffer module")
      assert.include(flat.out, "bytecode version 9: __torch__.fixture_classes.Custom.forward (")
      for (const file of ["script_custom.pt", "mobile_custom.ptl", "flatbuffer_sequential.ff"]) {
        const { code, out } = yield* run("inspect", "--json", fixturePath(file))
        assert.strictEqual(code, 0)
        assert.strictEqual(firstDifference(JSON.parse(out), truthOf(file)), undefined, file)
      }
      const source = yield* run("code", fixturePath("script_custom.pt"), "Inner")
      assert.strictEqual(source.code, 0)
      assert.match(source.out, /^# __torch__\.fixture_classes\.Inner\nclass Inner\(Module\):\n {2}__parameters__ = \[\]\n {2}__buffers__ = \["running", \]/)
      const missing = yield* run("code", fixturePath("script_custom.pt"), "Nope")
      assert.strictEqual(missing.code, 1)
      assert.include(missing.err, "classes: __torch__.fixture_classes.Custom")
    }))

  it.effect("dis disassembles data.pkl, other records, tar members and legacy pickles", () =>
    Effect.gen(function*() {
      const zip = yield* run("dis", fixturePath("linear.pt"))
      assert.strictEqual(zip.code, 0)
      assert.match(zip.out, /^ {4}0: \\x80 PROTO {6}2\n/)
      assert.include(zip.out, "highest protocol among opcodes = 2")
      const version = yield* run("dis", fixturePath("linear.pt"), "--record", "missing.pkl")
      assert.strictEqual(version.code, 1)
      assert.include(version.err, "MissingRecord")
      const tar = yield* run("dis", "--record", "tensors", fixturePath("tar_format.pt"))
      assert.strictEqual(tar.code, 0)
      const legacy = yield* run("dis", fixturePath("legacy.pt"))
      assert.include(legacy.out, "# magic number at byte 0")
      assert.include(legacy.out, "# storage keys at byte")
    }))

  it.effect("malformed files exit 1 with the record and offset", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      const bad = join(dir, "bad.pt")
      const bytes = fixtureBytes("linear.pt")
      writeFileSync(bad, bytes.subarray(0, 300))
      const { code, err, out } = yield* run("inspect", bad)
      assert.strictEqual(code, 1)
      assert.strictEqual(out, "")
      assert.match(err, /^torchwire: ZipError\(NotAZip\): .*\[record "end of central directory", byte \d+\]\n$/)
    }))

  it.effect("inspect --json reports hashing progress for large checkpoints only", () =>
    Effect.gen(function*() {
      let progress = ""
      const small = yield* Cli.run(Cli.parse(["inspect", "--json", fixturePath("linear.pt")]), () => {}, () => {}, (t) => void (progress += t))
      assert.strictEqual(small, 0)
      assert.strictEqual(progress, "", "no progress under 64 MiB")
      const lines: Array<string> = []
      const report = Cli.progressReporter((t) => lines.push(t), "hashing", 100)
      for (const done of [10, 11, 11, 50, 100]) report(done, 100)
      assert.deepStrictEqual(lines, [
        "\rhashing [##.......................] 10% (10 B of 100 B)",
        "\rhashing [##.......................] 11% (11 B of 100 B)",
        "\rhashing [############.............] 50% (50 B of 100 B)",
        "\rhashing [#########################] 100% (100 B of 100 B)\n"
      ])
    }))

  it.live("send and receive move a checkpoint over TCP; receive writes it as a .pt", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      const out = join(dir, "received.pt")
      const port = yield* Deferred.make<number>()
      const receiving = yield* Effect.fork(Cli.run(Cli.parse(["receive", "--listen", "127.0.0.1:0", "--out", out]), () => {}, (t) => {
        const m = /listening on [^:]+:(\d+)/.exec(t)
        if (m) Deferred.unsafeDone(port, Effect.succeed(Number(m[1])))
      }))
      const p = yield* Deferred.await(port)
      const sent = yield* run("send", fixturePath("training_checkpoint.pt"), "--to", `127.0.0.1:${p}`)
      assert.strictEqual(sent.code, 0, sent.err)
      assert.strictEqual(yield* Fiber.join(receiving), 0)
      const { out: json } = yield* run("inspect", "--json", out)
      assert.strictEqual(firstDifference(JSON.parse(json).value, (truthOf("training_checkpoint.pt") as { value: Json }).value), undefined)
      assert.strictEqual((yield* run("send", fixturePath("linear.pt"), "--to", "nowhere")).code, 2)
      assert.strictEqual((yield* run("send", fixturePath("linear.pt"), "--to", "127.0.0.1:1")).code, 1)
    }))

  it.effect("scan exits 0 safe, 1 dangerous or suspicious, 2 unreadable; --json has the documented shape", () =>
    Effect.gen(function*() {
      const safe = yield* run("scan", fixturePath("linear.pt"))
      assert.strictEqual(safe.code, 0)
      assert.match(safe.out, /SAFE \(0 dangerous, 0 unknown, 3 allowed\)/)
      const bad = yield* run("scan", "--json", fixturePath("malicious/reduce_posix_system_p0.pkl"))
      assert.strictEqual(bad.code, 1)
      const report = JSON.parse(bad.out)
      assert.strictEqual(report.verdict, "dangerous")
      assert.deepStrictEqual(report.globals, [{ module: "posix", name: "system", class: "dangerous", record: "pickle", offset: 0 }])
      assert.strictEqual((yield* run("scan", fixturePath("objects.pt"))).code, 1)
      const dir = mkdtempSync(join(tmpdir(), "torchwire-scan-"))
      writeFileSync(join(dir, "junk.bin"), "\x01\x02 not a checkpoint")
      assert.strictEqual((yield* run("scan", join(dir, "junk.bin"))).code, 2)
    }))

  it.effect("usage errors exit 2", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* run("inspect")).code, 2)
      assert.strictEqual((yield* run("frobnicate", "x")).code, 2)
      assert.strictEqual((yield* run("dis", "--record")).code, 2)
      assert.strictEqual((yield* run("inspect", "--no-crc32", fixturePath("linear.pt"))).code, 2)
      assert.strictEqual((yield* run("--help")).code, 0)
    }))

  it.effect("convert --no-crc32 writes every CRC as 0, and the archive reads back the same", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      const [withCrc, noCrc] = [join(dir, "a.pt"), join(dir, "b.pt")]
      assert.strictEqual((yield* run("convert", fixturePath("linear.pt"), withCrc)).code, 0)
      assert.strictEqual((yield* run("convert", "--no-crc32", fixturePath("linear.pt"), noCrc)).code, 0)
      const crcs = (path: string) =>
        Effect.scoped(Effect.map(Effect.flatMap(NodeSource.open(path), (s) => Zip.open(s)), (z) => z.entries.map((e) => e.crc32)))
      assert.isTrue((yield* crcs(withCrc)).every((c) => c !== 0))
      assert.isTrue((yield* crcs(noCrc)).every((c) => c === 0))
      assert.strictEqual((yield* run("inspect", "--json", noCrc)).out.replace(/"b"/g, '"a"'), (yield* run("inspect", "--json", withCrc)).out)
    }))

  it("runs as `pnpm torchwire` from the repository root", () => {
    const root = join(import.meta.dirname, "..", "..", "..")
    const result = spawnSync(join(root, "node_modules", ".bin", "tsx"), [join(root, "packages/node/src/bin.ts"), "inspect", fixturePath("linear.pt")], { encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.include(result.stdout, "2 tensors, 15 elements")
    const missing = spawnSync(join(root, "node_modules", ".bin", "tsx"), [join(root, "packages/node/src/bin.ts"), "inspect", "/nonexistent.pt"], { encoding: "utf8" })
    assert.strictEqual(missing.status, 1)
    assert.include(missing.stderr, "OpenFailed")
  })
})
