/**
 * The CLI's commands, exit statuses and messages.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Scan from "@torchwire/core/Scan"
import * as Zip from "@torchwire/core/Zip"
import * as Inspect from "@torchwire/node/Inspect"
import * as NodeSource from "@torchwire/node/NodeSource"
import { firstDifference, fixtureBytes, fixturePath, type Json, truthOf } from "@torchwire/test-utils"
import { countReporter, progressReporter } from "../src/cli/progress.js"
import { cli as run, runCli } from "./cliHarness.js"

describe("CLI", () => {
  it.effect("inspect --json and dis read a zip's end record and central directory once", () =>
    Effect.gen(function*() {
      for (const file of ["linear.pt", "mobile_sequential.ptl", "script_sequential.pt"]) {
        const bytes = fixtureBytes(file)
        const inner = ByteSource.fromUint8Array(bytes, file)
        let tailReads = 0
        const source: ByteSource.ByteSource = {
          name: file,
          size: bytes.length,
          read: (offset, length) => Effect.suspend(() => ((tailReads += offset + length > bytes.length - 22 ? 1 : 0), inner.read(offset, length)))
        }
        const once = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
          Effect.map(effect, () => {
            assert.strictEqual(tailReads, 1, `${file}: ${what}`)
            tailReads = 0
          })
        yield* once("inspect --json", Inspect.json(source))
        yield* once("dis", Inspect.dis(source))
        yield* once("dis --json", Inspect.disJson(source))
      }
    }))

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

  it.effect("dis and scan find a legacy file's five pickles when a read window ends at an opcode's end inside one", () =>
    Effect.gen(function*() {
      const legacy = fixtureBytes("legacy.pt")
      const [magic, protocol, sysInfo, main] = yield* Inspect.picklesToDisassemble(ByteSource.fromUint8Array(legacy))
      // The fixture's first three pickles, then a list of 100,000 Nones (one-byte opcodes: every window ends at
      // an opcode's end), then an empty list of storage keys.
      const nones = new Uint8Array(100_000).fill(0x4e)
      const bytes = new Uint8Array([...legacy.subarray(0, main!.start), 0x80, 0x02, 0x5d, 0x28, ...nones, 0x65, 0x2e, 0x80, 0x02, 0x5d, 0x2e])
      const pickles = yield* Inspect.picklesToDisassemble(ByteSource.fromUint8Array(bytes))
      const starts = [magic, protocol, sysInfo, main].map((p) => p!.start)
      assert.deepStrictEqual(pickles.map((p) => p.start), [...starts, main!.start + 100_006])
      const report = yield* Scan.scan(ByteSource.fromUint8Array(bytes))
      assert.deepStrictEqual([report.verdict, report.unreadable], ["safe", []])
    }))

  it("the tree reads only the items it shows of a list of millions", () => {
    const list = Array<number>(5_000_000).fill(1)
    let reads = 0
    const counted = new Proxy(list, {
      get: (target, key, receiver) => {
        if (typeof key === "string" && /^\d+$/.test(key)) reads++
        return Reflect.get(target, key, receiver)
      }
    })
    const lines = Inspect.renderTree(counted, { maxItems: 3 })
    assert.deepStrictEqual(lines, ["list (5,000,000 items)", "├─ [0]: 1", "├─ [1]: 1", "├─ [2]: 1", "└─ ... 4,999,997 more"])
    assert.strictEqual(reads, 3)
  })

  it.effect("safetensors: inspect shows the metadata, scan says it holds no code, convert goes there and back unchanged", () =>
    Effect.gen(function*() {
      const file = fixturePath("st_linear.safetensors")
      const inspected = yield* run("inspect", file)
      assert.include(inspected.out, "safetensors checkpoint")
      assert.include(inspected.out, `metadata: {"format":"pt"}`)
      const scanned = yield* run("scan", file)
      assert.strictEqual(scanned.code, 0)
      assert.include(scanned.out, "a safetensors file: a JSON header and tensor bytes, nothing that runs")
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      assert.strictEqual((yield* run("convert", file, join(dir, "x.pt"))).code, 0)
      assert.strictEqual((yield* run("convert", join(dir, "x.pt"), join(dir, "back.safetensors"))).code, 0)
      assert.isTrue(readFileSync(join(dir, "back.safetensors")).equals(readFileSync(file)))
    }))

  it.effect("distributed checkpoints: inspect, scan and convert take the folder", () =>
    Effect.gen(function*() {
      const folder = fixturePath(join("dcp", "dcp_2rank"))
      const inspected = yield* run("inspect", folder)
      assert.strictEqual(inspected.code, 0, inspected.err)
      assert.include(inspected.out, "dcp checkpoint, 2 data files (__0_0.distcp, __1_0.distcp), DCP version 1.0.0")
      assert.include(inspected.out, "rows: tensor float32 [6, 4]")
      const scanned = yield* run("scan", "--json", folder)
      assert.strictEqual(scanned.code, 0, scanned.out)
      const report = JSON.parse(scanned.out) as { verdict: string; files: Array<{ file: string; globals: Array<{ record: string }> }> }
      assert.deepStrictEqual(report.files.map((f) => f.file.slice(folder.length + 1)), [".metadata", "__0_0.distcp", "__1_0.distcp"])
      // Every item of a data file is scanned: its findings name the item's offset.
      assert.include(report.files[2]!.globals.map((g) => g.record), "@2522/archive/data.pkl")
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      assert.strictEqual((yield* run("convert", folder, join(dir, "x.pt"))).code, 0)
      mkdirSync(join(dir, "again"))
      // An existing folder is written as a distributed checkpoint, with or without the final slash.
      const written = yield* run("convert", "--json", join(dir, "x.pt"), join(dir, "again"))
      assert.strictEqual(written.code, 0, written.err)
      assert.deepStrictEqual(readdirSync(join(dir, "again")).sort(), [".metadata", "__0_0.distcp"])
      assert.strictEqual(JSON.parse(written.out).to, "dcp")
    }))

  it.effect("distributed checkpoints: a .metadata that names os.system is dangerous to scan and refused to load", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      writeFileSync(join(dir, ".metadata"), Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", "latin1"))
      const scanned = yield* run("scan", dir)
      assert.strictEqual(scanned.code, 1)
      assert.include(scanned.out, "DANGEROUS")
      assert.include(scanned.out, "os.system")
      assert.include(scanned.out, "the items were not scanned")
      const inspected = yield* run("inspect", dir)
      assert.strictEqual(inspected.code, 1)
      assert.include(inspected.err, "ForbiddenGlobal")
    }))

  it.effect("convert to an index that fails part way leaves none of its shards", () =>
    Effect.gen(function*() {
      const dir = join(mkdtempSync(join(tmpdir(), "torchwire-cli-")), "out")
      // views.pt's meta tensor has no bytes: the first shard is written before the failure.
      const failed = yield* run("convert", fixturePath("views.pt"), join(dir, "model.safetensors.index.json"), "--max-shard-size", "100", "--drop-non-tensors")
      assert.strictEqual(failed.code, 1)
      assert.include(failed.err, "meta tensor")
      assert.deepStrictEqual(readdirSync(dir), [])
      const usage = yield* run("convert", fixturePath("linear.pt"), join(dir, "x.safetensors"), "--max-shard-size", "100")
      assert.strictEqual(usage.code, 2)
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
      const small = yield* runCli(["inspect", "--json", fixturePath("linear.pt")], { tty: true })
      assert.strictEqual(small.code, 0)
      assert.strictEqual(small.progress, "", "no progress under 64 MiB")
      const lines: Array<string> = []
      const report = progressReporter((t) => lines.push(t), "hashing", 100)
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
      const receiving = yield* Effect.fork(runCli(["receive", "--listen", "127.0.0.1:0", "--out", out, "--json"], {
        onErr: (t) => {
          const m = /listening on [^:]+:(\d+)/.exec(t)
          if (m) Deferred.unsafeDone(port, Effect.succeed(Number(m[1])))
        }
      }))
      const p = yield* Deferred.await(port)
      const sent = yield* run("send", fixturePath("training_checkpoint.pt"), `--to=127.0.0.1:${p}`)
      assert.strictEqual(sent.code, 0, sent.err)
      assert.match(sent.out, /training_checkpoint\.pt: sent to 127\.0\.0\.1:\d+, \d+\.\d KiB\n$/)
      const received = yield* Fiber.join(receiving)
      assert.strictEqual(received.code, 0, received.err)
      assert.deepStrictEqual(Object.keys(JSON.parse(received.out)), ["output", "bytes"])
      const { out: json } = yield* run("inspect", "--json", out)
      assert.strictEqual(firstDifference(JSON.parse(json).value, (truthOf("training_checkpoint.pt") as { value: Json }).value), undefined)
      const usage = yield* run("send", fixturePath("linear.pt"), "--to", "nowhere")
      assert.strictEqual(usage.code, 2)
      assert.include(usage.err, '--to takes HOST:PORT, not "nowhere"')
      assert.include(usage.err, "Usage: torchwire send --to HOST:PORT")
      const refused = yield* run("send", fixturePath("linear.pt"), "--to", "127.0.0.1:1")
      assert.strictEqual(refused.code, 1)
      assert.strictEqual(refused.err, "torchwire: cannot connect to 127.0.0.1:1: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:1)\n")
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
      assert.deepStrictEqual(report.files, [{
        file: fixturePath("malicious/reduce_posix_system_p0.pkl"),
        verdict: "dangerous",
        format: "pickle",
        globals: [{ module: "posix", name: "system", class: "dangerous", record: "pickle", offset: 0 }],
        unreadable: [],
        problems: []
      }])
      assert.strictEqual((yield* run("scan", fixturePath("objects.pt"))).code, 1)
      const dir = mkdtempSync(join(tmpdir(), "torchwire-scan-"))
      writeFileSync(join(dir, "junk.bin"), "\x01\x02 not a checkpoint")
      assert.strictEqual((yield* run("scan", join(dir, "junk.bin"))).code, 2)
    }))

  it.effect("usage errors exit 2 with the subcommand's usage", () =>
    Effect.gen(function*() {
      const missing = yield* run("inspect")
      assert.strictEqual(missing.code, 2)
      assert.strictEqual(missing.out, "")
      assert.strictEqual(missing.err, "Missing argument <FILE>\n\nUsage: torchwire inspect [--header 'NAME: VALUE'...] [--json] [--limit N] [--all] <FILE>\nRun 'torchwire inspect --help' for its options.\n")
      const unknown = yield* run("frobnicate", "x")
      assert.strictEqual(unknown.code, 2)
      assert.include(unknown.err, "use one of 'inspect', 'dis', 'code', 'scan', 'convert', 'send', 'receive'")
      assert.strictEqual((yield* run("dis", fixturePath("linear.pt"), "--record")).code, 2)
      assert.strictEqual((yield* run("inspect", "--no-crc32", fixturePath("linear.pt"))).code, 2)
      assert.strictEqual((yield* run("convert", "--protocol", "9", fixturePath("linear.pt"), "x.pt")).code, 2)
      assert.strictEqual((yield* run("inspect", "--limit", "0", fixturePath("linear.pt"))).code, 2)
      assert.strictEqual((yield* run("inspect", "--limit", "3", "--all", fixturePath("linear.pt"))).code, 2)
      assert.strictEqual((yield* run("inspect", "--json", "--all", fixturePath("linear.pt"))).code, 2)
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      const extension = yield* run("convert", fixturePath("linear.pt"), join(dir, "out.txt"))
      assert.strictEqual(extension.code, 2)
      assert.include(extension.err, "out.txt: the extension names no format torchwire writes (use .pt, .pth, .bin, .ckpt, .stream or .safetensors, DIR/ for a distributed checkpoint's folder, or .ptl or .ff for a mobile module)")
      assert.include(extension.err, "Usage: torchwire convert [--header 'NAME: VALUE'...] [--protocol N] [--no-crc32] [--drop-non-tensors] [--max-shard-size SIZE] [--json] <IN> <OUT>")
      const receive = yield* run("receive", "--listen", "127.0.0.1:0", "--out", join(dir, "x.npy"))
      assert.strictEqual(receive.code, 2)
      // receive writes a zip or the stream itself; a name for another format is not written as a mislabeled zip.
      for (const other of ["x.safetensors", "x.ff", "x.ptl"]) {
        const refused = yield* run("receive", "--listen", "127.0.0.1:0", "--out", join(dir, other))
        assert.strictEqual(refused.code, 2, other)
        assert.include(refused.err, "receive writes a torch.save archive")
      }
      const overview = yield* run()
      assert.strictEqual(overview.code, 0)
      assert.include(overview.out, "scan PATH... [--json]")
    }))

  it.effect("every subcommand has --help; --version; shell completions", () =>
    Effect.gen(function*() {
      for (const command of ["inspect", "dis", "code", "scan", "convert", "send", "receive"]) {
        const help = yield* run(command, "--help")
        assert.strictEqual(help.code, 0, command)
        assert.match(help.out, new RegExp(`USAGE\\n\\n\\$ ${command} `), command)
        assert.notInclude(help.out, "\x1b[", "no color when not a TTY")
      }
      const version = yield* run("--version")
      assert.strictEqual(version.code, 0)
      const manifest = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8"))
      assert.strictEqual(version.out, `${manifest.version}\n`)
      const bash = yield* run("--completions", "bash")
      assert.strictEqual(bash.code, 0)
      assert.include(bash.out, "complete -F")
      assert.include(bash.out, "receive")
    }))

  it.effect("options take --opt value and --opt=value, before or after the arguments", () =>
    Effect.gen(function*() {
      const spaced = yield* run("inspect", "--limit", "1", fixturePath("linear.pt"))
      const joined = yield* run("inspect", fixturePath("linear.pt"), "--limit=1")
      assert.strictEqual(spaced.code, 0)
      assert.strictEqual(joined.out, spaced.out)
      assert.include(spaced.out, "└─ ... 1 more")
      const record = yield* run("dis", "--record=data.pkl", fixturePath("linear.pt"))
      assert.strictEqual(record.code, 0, record.err)
      assert.include(record.out, "highest protocol among opcodes")
    }))

  it.effect("inspect --limit N and --all set how many items a container shows", () =>
    Effect.gen(function*() {
      const file = fixturePath("mobilenet_v2_w025.pt")
      const byDefault = yield* run("inspect", file)
      assert.match(byDefault.out, /└─ \.\.\. [\d,]+ more\n/)
      const all = yield* run("inspect", "--all", file)
      assert.notMatch(all.out, /\.\.\. [\d,]+ more/)
      assert.isAbove(all.out.split("\n").length, byDefault.out.split("\n").length)
      const two = yield* run("inspect", "--limit", "2", file)
      assert.isBelow(two.out.split("\n").length, byDefault.out.split("\n").length)
    }))

  it.effect("dis, code and convert have --json", () =>
    Effect.gen(function*() {
      const dis = JSON.parse((yield* run("dis", "--json", fixturePath("linear.pt"))).out)
      assert.strictEqual(dis.pickles.length, 1)
      assert.strictEqual(dis.pickles[0].record, "linear/data.pkl")
      assert.deepStrictEqual(dis.pickles[0].opcodes[0], { offset: 0, name: "PROTO", arg: 2 })
      assert.deepStrictEqual(dis.pickles[0].opcodes[1], { offset: 2, name: "GLOBAL", arg: ["collections", "OrderedDict"] })
      const legacy = JSON.parse((yield* run("dis", "--json", fixturePath("legacy.pt"))).out)
      assert.deepStrictEqual(legacy.pickles.map((p: { record: string }) => p.record), ["magic number", "protocol version", "sys_info", "pickle", "storage keys"])
      assert.deepStrictEqual(legacy.pickles[0].opcodes[1], { offset: 2, name: "LONG1", arg: { int: "119547037146038801333356" } })
      const code = JSON.parse((yield* run("code", "--json", fixturePath("script_custom.pt"), "Inner")).out)
      assert.deepStrictEqual(Object.keys(code.classes), ["__torch__.fixture_classes.Inner"])
      assert.match(code.classes["__torch__.fixture_classes.Inner"], /^class Inner\(Module\):/)
      const all = JSON.parse((yield* run("code", "--json", fixturePath("script_custom.pt"))).out)
      assert.isTrue(Object.keys(all.code).every((path) => path.startsWith("code/") || path.includes("/code/")), Object.keys(all.code).join())
      const dir = mkdtempSync(join(tmpdir(), "torchwire-cli-"))
      const converted = JSON.parse((yield* run("convert", "--json", fixturePath("legacy.pt"), join(dir, "out.stream"))).out)
      assert.deepStrictEqual({ ...converted, bytes: typeof converted.bytes }, { input: fixturePath("legacy.pt"), output: join(dir, "out.stream"), from: "legacy", to: "stream", bytes: "number" })
    }))

  it.effect("scan takes many files and folders, recursively; --json includes what could not be read", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-scan-"))
      mkdirSync(join(dir, "deep", "er"), { recursive: true })
      writeFileSync(join(dir, "deep", "er", "evil.pkl"), fixtureBytes("malicious/reduce_posix_system_p0.pkl"))
      writeFileSync(join(dir, "model.pt"), fixtureBytes("linear.pt"))
      writeFileSync(join(dir, "notes.txt"), "not scanned: no checkpoint extension")
      writeFileSync(join(dir, "junk.bin"), "\x01\x02 not a checkpoint")
      const scanned = yield* run("scan", "--json", dir, fixturePath("linear.pt"))
      assert.strictEqual(scanned.code, 1)
      const report = JSON.parse(scanned.out)
      assert.strictEqual(report.verdict, "dangerous")
      assert.deepStrictEqual(report.files.map((f: { file: string; verdict: string }) => [f.file, f.verdict]), [
        [join(dir, "deep", "er", "evil.pkl"), "dangerous"],
        [join(dir, "junk.bin"), "unreadable"],
        [join(dir, "model.pt"), "safe"],
        [fixturePath("linear.pt"), "safe"]
      ])
      assert.include(report.files[1].error, "CheckpointError(UnknownFormat)")
      const text = yield* run("scan", dir)
      assert.include(text.out, "3 files: 1 dangerous, 1 unreadable, 1 safe")
      assert.include(text.err, "junk.bin")
      const unreadableOnly = yield* run("scan", join(dir, "junk.bin"), join(dir, "model.pt"), join(dir, "missing.pt"))
      assert.strictEqual(unreadableOnly.code, 2)
      assert.include(unreadableOnly.err, "missing.pt")
      const safe = yield* run("scan", join(dir, "model.pt"), fixturePath("linear.pt"))
      assert.strictEqual(safe.code, 0)
    }))

  it.effect("progress goes to a TTY only: receive counts, then shows the total once the header says it", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const counter = countReporter((t) => lines.push(t), "receiving", 100)
      counter.report(150)
      counter.report(180)
      counter.setTotal(1000)
      counter.report(500)
      counter.report(1200)
      counter.finish()
      assert.deepStrictEqual(lines, [
        "\rreceiving 150 B",
        "\rreceiving [############.............] 50% (500 B of 1000 B)",
        "\rreceiving [#########################] 100% (1000 B of 1000 B)\n"
      ])
      const piped = yield* runCli(["inspect", "--json", fixturePath("linear.pt")])
      assert.strictEqual(piped.progress, "")
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

})
