/**
 * Differential fuzzing against the readers torch.load uses: its own zip
 * reader (PyTorchStreamReader over miniz, in torch 1.13 and 2.13) and
 * Python's tarfile. Archives whose end records, central directory, headers
 * and names are mutated are read by both. Wherever torch's reader reads one
 * and torchwire reads it without a problem, both list the same records (and
 * the same data.pkl bytes): torchwire never reads a different archive than
 * torch without saying so. Fails, never skips, when a torch cannot run.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Container from "@torchwire/core/Container"
import { fixtureBytes, fixtures, pythonDir } from "@torchwire/test-utils"
import { differentials } from "@torchwire/test-utils/differentials"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const torches = {
  "torch 1.13": process.env.TORCHWIRE_PYTHON ?? "/usr/bin/python3",
  "torch 2.13": process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")
}

/** A small deterministic generator (mulberry32), so a failure names a mutant that can be made again. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** What a reader saw: the records and data.pkl (base64), or that it refused the file. */
type View = { readonly records: ReadonlyArray<string>; readonly data: string | null } | { readonly error: string }

/** torchwire's view, or undefined where it reads the file two ways (a problem) or refuses it. */
const torchwireView = (bytes: Uint8Array) =>
  Effect.gen(function*() {
    const container = yield* Container.open(ByteSource.fromUint8Array(bytes))
    if (container._tag !== "Zip" || Container.problems(container).length > 0) return undefined
    const entries = container.archive.entries
    const prefix = entries[0]!.name.slice(0, entries[0]!.name.indexOf("/") + 1)
    const records = entries.map((e) => e.name.slice(prefix.length)).sort()
    // Found as torch finds it, whatever its case.
    const data = records.some((r) => r.toLowerCase() === "data.pkl") ? Buffer.from((yield* Container.recordPickle(container)).bytes).toString("base64") : null
    return { records, data }
  }).pipe(Effect.orElseSucceed(() => undefined))

describe("zip archives read by torch's reader and by torchwire", () => {
  const dir = mkdtempSync(join(tmpdir(), "torchwire-zipdiff-"))
  /** How far from the end mutations reach (the last kilobyte: the central directory and the end records). */
  const span = Number(process.env.TORCHWIRE_ZIPDIFF_SPAN ?? 1024)
  const next = random(Number(process.env.TORCHWIRE_ZIPDIFF_SEED ?? 20261205))
  const bases = fixtures.filter((f) => f.format === "zip" && fixtureBytes(f.file).length < 64 << 10).map((f) => fixtureBytes(f.file))
  const files: Array<readonly [string, Uint8Array]> = differentials().filter((d) => d.file.endsWith(".pt")).map((d) => [d.file, d.bytes] as const)
  for (let i = 0; i < Number(process.env.TORCHWIRE_ZIPDIFF_RUNS ?? 1000); i++) {
    const bytes = bases[Math.floor(next() * bases.length)]!.slice()
    // One to four bytes of the last `span` bytes.
    for (let k = 1 + Math.floor(next() * 4); k > 0; k--) bytes[bytes.length - 1 - Math.floor(next() * Math.min(span, bytes.length))] = Math.floor(next() * 256)
    files.push([`mutant_${i}.pt`, bytes])
  }
  for (const [file, bytes] of files) writeFileSync(join(dir, file), bytes)

  for (const [label, python] of Object.entries(torches)) {
    it.effect(`${label}: where both read an archive, they read the same records and data.pkl`, () =>
      Effect.gen(function*() {
        const lines = execFileSync(python, [join(pythonDir, "torch_records.py"), ...files.map(([file]) => join(dir, file))], { encoding: "utf8", maxBuffer: 64 << 20 })
        const torch = new Map(lines.split("\n").filter((l) => l !== "").map((l) => {
          const { file, ...view } = JSON.parse(l) as { readonly file: string } & View
          return [file.slice(dir.length + 1), view as View] as const
        }))
        let agreed = 0
        for (const [file, bytes] of files) {
          const theirs = torch.get(file)!
          const ours = yield* torchwireView(bytes)
          if ("error" in theirs || ours === undefined) continue
          assert.deepStrictEqual(ours, { records: [...theirs.records].sort(), data: theirs.data }, `${file}: torch and torchwire read different archives`)
          agreed++
        }
        // Not vacuous: many mutants leave the archive readable to both.
        assert.isAtLeast(agreed, 50, `only ${agreed} files read by both`)
      }), 120_000)
  }
})

describe("tar files read by Python's tarfile and by torchwire", () => {
  const dir = mkdtempSync(join(tmpdir(), "torchwire-tardiff-"))
  const next = random(Number(process.env.TORCHWIRE_ZIPDIFF_SEED ?? 20261205))
  const base = fixtureBytes("tar_format.pt")
  const files: Array<readonly [string, Uint8Array]> = differentials().filter((d) => d.file.startsWith("tar_")).map((d) => [d.file, d.bytes] as const)
  for (let i = 0; i < Number(process.env.TORCHWIRE_ZIPDIFF_RUNS ?? 1000); i++) {
    const bytes = base.slice()
    // One to four bytes of the headers (names, sizes, types, magic), each header's checksum then made right again:
    // a header whose checksum fails is the end of the listing for both, which says little.
    const headers = [0, 1024, 2048, 3072]
    for (let k = 1 + Math.floor(next() * 4); k > 0; k--) {
      const header = headers[Math.floor(next() * headers.length)]!
      const at = Math.floor(next() * 512)
      if (at >= 148 && at < 156) continue
      bytes[header + at] = Math.floor(next() * 256)
      const block = bytes.subarray(header, header + 512)
      const sum = block.reduce((n, b, j) => n + (j >= 148 && j < 156 ? 32 : b), 0)
      block.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148)
    }
    files.push([`mutant_${i}.pt`, bytes])
  }
  for (const [file, bytes] of files) writeFileSync(join(dir, file), bytes)

  it.effect("where both read a tar file, they list the same members", () =>
    Effect.gen(function*() {
      const lines = execFileSync(torches["torch 1.13"], [join(pythonDir, "tar_members.py"), ...files.map(([file]) => join(dir, file))], { encoding: "utf8", maxBuffer: 64 << 20 })
      const tarfile = new Map(lines.split("\n").filter((l) => l !== "").map((l) => {
        const { file, ...view } = JSON.parse(l) as { readonly file: string; readonly members?: ReadonlyArray<readonly [string, number, number]> }
        return [file.slice(dir.length + 1), view.members] as const
      }))
      let agreed = 0
      const tally = { tarfileRefuses: 0, torchwireRefuses: 0, notTar: 0, problems: 0 }
      for (const [file, bytes] of files) {
        const theirs = tarfile.get(file)
        const probe = yield* Effect.either(Container.open(ByteSource.fromUint8Array(bytes)))
        if (theirs === undefined) tally.tarfileRefuses++
        else if (probe._tag === "Left") tally.torchwireRefuses++
        else if (probe.right._tag !== "Tar") tally.notTar++
        else if (Container.problems(probe.right).length > 0) tally.problems++
        const container = yield* Effect.option(Container.open(ByteSource.fromUint8Array(bytes)))
        if (theirs === undefined || container._tag === "None" || container.value._tag !== "Tar" || Container.problems(container.value).length > 0) continue
        // Bytes that are not UTF-8: tarfile keeps each as a lone surrogate, torchwire a U+FFFD per run; both name no record.
        const undecoded = (name: string) => name.replace(/[\udc80-\udcff\ufffd]+/g, "\ufffd")
        const ours = container.value.members.map((m) => [undecoded(m.name), m.offset, m.size])
        assert.deepStrictEqual(ours, theirs.map(([name, offset, size]) => [undecoded(name), offset, size]), `${file}: tarfile and torchwire list different members`)
        agreed++
      }
      assert.isAtLeast(agreed, 50, `only ${agreed} files read by both: ${JSON.stringify(tally)}`)
    }), 120_000)
})
