/**
 * The built `torchwire` bin (`pnpm build`: dist/torchwire.cjs loading the
 * bundled CLI), run as a user runs it: exit statuses, signals, messages
 * without stack traces, and its compile cache.
 */
import { assert, describe, it } from "@effect/vitest"
import { fixtureBytes, fixturePath } from "@torchwire/test-utils"
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = join(import.meta.dirname, "..", "dist", "torchwire.cjs")
const example = join(import.meta.dirname, "..", "..", "..", "examples", "checkpoint.pt")

/** Runs the bin with its own compile-cache folder. */
const torchwire = (args: ReadonlyArray<string>, cache = mkdtempSync(join(tmpdir(), "torchwire-cache-"))) => {
  assert.isTrue(existsSync(bin), `${bin} is missing: run pnpm build`)
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, XDG_CACHE_HOME: cache } })
}

/** Starts `receive` and resolves with the process once it listens, and the port. */
const startReceive = (out: string) =>
  new Promise<{ child: ReturnType<typeof spawn>; port: number; stderr: () => string }>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "receive", "--listen", "127.0.0.1:0", "--out", out], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString()
      const m = /listening on [^:]+:(\d+)/.exec(stderr)
      if (m) resolve({ child, port: Number(m[1]), stderr: () => stderr })
    })
    child.on("error", reject)
  })

const exitOf = (child: ReturnType<typeof spawn>) => new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))

describe("torchwire bin", () => {
  it("prints its version and inspects the example checkpoint", () => {
    const version = torchwire(["--version"])
    assert.strictEqual(version.status, 0, version.stderr)
    assert.strictEqual(version.stdout, `${JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")).version}\n`)
    const inspected = torchwire(["inspect", example])
    assert.strictEqual(inspected.status, 0, inspected.stderr)
    assert.include(inspected.stdout, "27 tensors, 9,413 elements, 36.8 KiB of tensor data")
    assert.strictEqual(inspected.stderr, "", "no progress where stderr is not a TTY")
  })

  it("ends bad input with a message, never a stack trace: 1 for files, 2 for usage", () => {
    const dir = mkdtempSync(join(tmpdir(), "torchwire-bin-"))
    writeFileSync(join(dir, "bad.pt"), fixtureBytes("linear.pt").subarray(0, 300))
    const cases = [
      { args: ["inspect", join(dir, "bad.pt")], status: 1, says: /^torchwire: ZipError\(NotAZip\): .*\[record "end of central directory", byte \d+\]\n$/ },
      { args: ["inspect", join(dir, "missing.pt")], status: 1, says: /^torchwire: SourceError\(OpenFailed\)/ },
      { args: ["dis", fixturePath("linear.pt"), "--record", "nope.pkl"], status: 1, says: /MissingRecord/ },
      { args: ["convert", fixturePath("linear.pt"), join(dir, "out.xyz")], status: 2, says: /Usage: torchwire convert/ },
      { args: ["inspect", "--limit", "many", example], status: 2, says: /Usage: torchwire inspect/ }
    ]
    for (const c of cases) {
      const result = torchwire(c.args)
      assert.strictEqual(result.status, c.status, `${c.args.join(" ")}: ${result.stderr}`)
      assert.match(result.stderr, c.says)
      assert.notMatch(result.stderr, /\n\s+at /, "no stack trace")
    }
  })

  it("exits 130 after SIGINT and 143 after SIGTERM, leaving no file from the interrupted receive", async () => {
    const dir = mkdtempSync(join(tmpdir(), "torchwire-bin-"))
    const stream = join(dir, "whole.stream")
    assert.strictEqual(torchwire(["convert", fixturePath("training_checkpoint.pt"), stream]).status, 0)
    const bytes = readFileSync(stream)
    for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const out = join(dir, `${signal}.pt`)
      const { child, port } = await startReceive(out)
      const exited = exitOf(child)
      const peer = connect(port, "127.0.0.1")
      // Half a stream, then nothing: the receiver is mid-write when the signal comes.
      await new Promise<void>((resolve) => peer.write(bytes.subarray(0, bytes.length >> 1), () => resolve()))
      await new Promise((resolve) => setTimeout(resolve, 300))
      child.kill(signal)
      assert.strictEqual(await exited, status, signal)
      peer.destroy()
      assert.deepStrictEqual(readdirSync(dir), ["whole.stream"], `${signal}: no file, no temporary`)
    }
  })

  it("dies at SIGTERM even in the middle of a long synchronous step, when it holds no file to clean up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "torchwire-bin-"))
    // A list of 40,000,000 ints in batches of 1,000: seconds of unpickling in one synchronous call.
    const batch = Buffer.concat([Buffer.from("("), Buffer.alloc(2000, Buffer.from([0x4b, 0x01])), Buffer.from("e")])
    const file = join(dir, "ints.pkl")
    writeFileSync(file, Buffer.concat([Buffer.from([0x80, 0x02, 0x5d]), ...Array(40_000).fill(batch), Buffer.from(".")]))
    const child = spawn(process.execPath, [bin, "inspect", "--json", file], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)))
    await new Promise((resolve) => setTimeout(resolve, 1500))
    child.kill("SIGTERM")
    assert.strictEqual(await exited, "SIGTERM", "ended by the signal itself, not after the step by a handler")
    assert.strictEqual(stdout, "")
  })

  it("keeps V8's compiled code in its cache folder, and recovers from a damaged cache", () => {
    const cache = mkdtempSync(join(tmpdir(), "torchwire-cache-"))
    assert.strictEqual(torchwire(["--version"], cache).status, 0)
    const files = readdirSync(join(cache, "torchwire"))
    assert.strictEqual(files.length, 1)
    assert.match(files[0]!, new RegExp(`^cli-[0-9a-f]{32}-node${process.versions.node}-${process.arch}\\.v8$`))
    writeFileSync(join(cache, "torchwire", files[0]!), "not V8's cached data")
    const again = torchwire(["inspect", example], cache)
    assert.strictEqual(again.status, 0, again.stderr)
    assert.include(again.stdout, "27 tensors")
    assert.isAbove(readFileSync(join(cache, "torchwire", files[0]!)).length, 1000, "rewritten after V8 rejected it")
  })
})
