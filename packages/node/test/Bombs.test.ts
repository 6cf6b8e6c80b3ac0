/**
 * Bombs against the built `torchwire` bin, each run in its own process whose
 * peak resident memory is measured: every one ends (a typed error or a
 * report, never a crash) under 512 MiB, on `inspect`, `scan` and `dis` (text
 * and JSON each).
 */
import { assert, describe, it } from "@effect/vitest"
import { zipBomb } from "@torchwire/test-utils/differentials"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = join(import.meta.dirname, "..", "dist", "torchwire.cjs")
const dir = mkdtempSync(join(tmpdir(), "torchwire-bombs-"))
/** Reports the process's peak resident memory (KiB) on stderr as it exits. */
const preload = join(dir, "maxrss.cjs")
writeFileSync(preload, `process.on("exit", () => require("node:fs").writeSync(2, "\\nmaxrss=" + process.resourceUsage().maxRSS + "\\n"))\n`)

/** A pickle of `levels` lists, each holding ten references to the one before: 10^levels items when expanded. */
const billionLaughs = (levels: number): Uint8Array => {
  const parts: Array<number> = [0x80, 0x02, 0x5d, 0x71, 0x00] // [] memo 0
  for (let level = 1; level <= levels; level++) {
    parts.push(0x28) // MARK
    for (let i = 0; i < 10; i++) parts.push(0x68, level - 1) // BINGET level-1
    parts.push(0x6c, 0x71, level) // LIST, BINPUT level
  }
  parts.push(0x2e)
  return Uint8Array.from(parts)
}

/** A pickle pushing one list `n` times (the stack bomb). */
const stackBomb = (n: number): Uint8Array => {
  const bytes = new Uint8Array(5 + 2 * n + 1)
  bytes.set([0x80, 0x02, 0x5d, 0x71, 0x00])
  for (let i = 0; i < n; i++) bytes.set([0x68, 0x00], 5 + 2 * i)
  bytes[bytes.length - 1] = 0x2e
  return bytes
}

/** A million nested lists: `(` a million times, then `l` a million times. */
const nesting = (n: number): Uint8Array => {
  const bytes = new Uint8Array(2 * n + 1).fill(0x28, 0, n).fill(0x6c, n, 2 * n)
  bytes[2 * n] = 0x2e
  return bytes
}

/** A list of `batches` thousand empty dicts: 4 MB of pickle would be 800 MB of V8 Maps. */
const dictFlood = (batches: number): Uint8Array => {
  const batch = [0x28, ...Array<number>(1000).fill(0x7d), 0x65] // MARK, EMPTY_DICT x 1000, APPENDS
  return Uint8Array.from([0x80, 0x02, 0x5d, ...Array.from({ length: batches }, () => batch).flat(), 0x2e])
}

/** A million ints in a list nested `depth` lists deep: pretty JSON would indent each by 2 x depth spaces (1.8 GB). */
const deepJson = (depth: number): Uint8Array => {
  const ints = [0x28, ...Array.from({ length: 1000 }, () => [0x4b, 0x01]).flat(), 0x65] // MARK, BININT1 1 x 1000, APPENDS
  return Uint8Array.from([
    0x80, 0x02,
    ...Array.from({ length: depth }, () => [0x5d, 0x28]).flat(), // EMPTY_LIST, MARK
    0x5d, ...Array.from({ length: 1000 }, () => ints).flat(),
    ...Array<number>(depth).fill(0x65), // APPENDS
    0x2e
  ])
}

const bombs: ReadonlyArray<readonly [string, () => Uint8Array]> = [
  ["zip_bomb.pt", zipBomb],
  ["billion_laughs.pkl", () => billionLaughs(30)],
  ["stack_bomb.pkl", () => stackBomb(12_000_000)],
  ["nesting.pkl", () => nesting(1 << 20)],
  ["dict_flood.pkl", () => dictFlood(4000)],
  ["deep_json.pkl", () => deepJson(900)]
]

/**
 * Runs node with `args`, without blocking the test worker's event loop (a
 * synchronous spawn of a 15-second run starves vitest's messages): its
 * status, signal and stderr.
 */
const torchwire = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly status: number | null; readonly signal: NodeJS.Signals | null; readonly stderr: string }>((resolve) => {
    const child = execFile(process.execPath, args, { encoding: "utf8", maxBuffer: 512 << 20, timeout: 120_000 }, (_error, _stdout, stderr) =>
      resolve({ status: child.exitCode, signal: child.signalCode, stderr }))
  })

describe("bombs, each in its own process", () => {
  for (const [file, make] of bombs) {
    const path = join(dir, file)
    writeFileSync(path, make())
    for (const command of ["inspect", "inspect --json", "scan", "dis", "dis --json"]) {
      it(`torchwire ${command} ${file} ends under 512 MiB`, async () => {
        assert.isTrue(existsSync(bin), `${bin} is missing: run pnpm build`)
        const run = await torchwire(["--require", preload, bin, ...command.split(" "), path])
        assert.include([0, 1, 2], run.status, `${command} ${file}: status ${run.status}, signal ${run.signal}\n${run.stderr.slice(-2000)}`)
        assert.notInclude(run.stderr, "internal error", run.stderr.slice(-2000))
        const peak = Number(/maxrss=(\d+)/.exec(run.stderr)?.[1])
        assert.isBelow(peak, 512 * 1024, `${command} ${file}: peak RSS ${peak} KiB`)
      }, 130_000)
    }
  }
})
