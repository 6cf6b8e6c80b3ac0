/**
 * The viewer end to end in a real browser: Debian's chromium (installed by
 * .ci/run) driven by playwright-core, the page built by Vite and served by a
 * real nginx with the fixtures and a 1 GiB checkpoint torch 1.13 writes for
 * the test. Screenshots of each case are kept in test-output/ (gitignored).
 * Fails, never skips, when chromium or nginx is missing.
 */
import { fixturePath, fixturesDir } from "@torchwire/test-utils"
import { type Nginx, startNginx } from "@torchwire/test-utils/nginx"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { build } from "vite"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const here = import.meta.dirname
const web = join(here, "..")
const output = join(web, "test-output")
const repo = join(web, "..", "..")

let browser: Browser
let nginx: Nginx
let page: Page
/** Where the generated checkpoint lies and its size. */
let bigFile = ""

beforeAll(async () => {
  mkdirSync(output, { recursive: true })
  await build({ root: web, logLevel: "error", configFile: join(web, "vite.config.ts") })
  const root = mkdtempSync(join(tmpdir(), "torchwire-web-"))
  symlinkSync(join(web, "dist"), join(root, "app"))
  symlinkSync(fixturesDir, join(root, "fixtures"))
  bigFile = join(root, "big.pt")
  execFileSync("/usr/bin/python3", [join(repo, "packages", "node", "bench", "make_checkpoint.py"), bigFile, "1024"], { stdio: "ignore" })
  // A truncated copy of a checkpoint: its end records are gone.
  writeFileSync(join(root, "truncated.pt"), readFileSync(fixturePath("training_checkpoint.pt")).subarray(0, 3000))
  nginx = await startNginx(root)
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] })
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
  await page.goto(`${nginx.url}/app/index.html`)
}, 240_000)

afterAll(async () => {
  await browser?.close()
  await nginx?.stop()
})

/** Opens a local file through the picker; resolves once it is shown (or its error is). */
const openFile = async (path: string) => {
  await page.setInputFiles("#file", path)
  await page.waitForFunction(() => document.getElementById("status")!.textContent!.startsWith("opened") || !document.getElementById("error")!.hidden)
}

/** Opens a URL through the URL field. */
const openUrl = async (url: string) => {
  await page.fill("#url", url)
  await page.click("#url-form button")
  await page.waitForFunction(() => document.getElementById("status")!.textContent!.startsWith("opened") || !document.getElementById("error")!.hidden)
}

const text = (selector: string) => page.textContent(selector).then((t) => t ?? "")
const shot = (name: string) => page.screenshot({ path: join(output, `${name}.png`) })

/** Clicks the tree row of `path` (scrolling the virtual list to it by searching when it is not in view). */
const clickRow = async (path: string) => {
  await page.fill("#search", path)
  await page.click(`.row[data-path="${path}"]`)
}

/** Computes the selected tensor's statistics; resolves with their table's text. */
const statistics = async () => {
  await page.click("#stats-button")
  await page.waitForSelector("#stats-table", { timeout: 60_000 })
  return text("#stats-table")
}

describe("the viewer in chromium", () => {
  it("opens the example checkpoint: verdict, tree, a tensor's layout, statistics and histogram", async () => {
    await openFile(join(repo, "examples", "checkpoint.pt"))
    assert.include(await text("#verdict"), "Safe")
    assert.include(await text("#facts"), "zip checkpoint")
    assert.isAbove(await page.locator(".row").count(), 2)
    await clickRow("model.0.weight")
    const details = await text("#details")
    assert.include(details, "float32")
    assert.include(details, "strides")
    const stats = await statistics()
    for (const k of ["min", "max", "mean", "std", "NaN", "zeros"]) assert.include(stats, k)
    assert.strictEqual(await page.locator("#histogram").count(), 1)
    await shot("example-checkpoint")
  })

  it("computes every tensor's statistics on request, one row each", async () => {
    await openFile(join(repo, "examples", "checkpoint.pt"))
    await page.click("#all")
    await page.waitForFunction(() => document.getElementById("all-status")?.textContent === "27 of 27 tensors", undefined, { timeout: 60_000 })
    // A header row and one row per tensor, each with its numbers.
    assert.strictEqual(await page.locator("#all-stats tr").count(), 28)
    assert.include(await text("#all-stats"), "model.0.weight")
    await shot("all-tensors")
  })

  it("opens a TorchScript model and a mobile module: submodules, parameters, methods and their source", async () => {
    await openFile(fixturePath("script_mobilenet_v2_small.pt"))
    assert.include(await text("#facts"), "torchscript module")
    // The root module is open from the start; selecting it shows its source.
    assert.include(await text("#tree"), "features")
    await page.click(".row >> nth=0")
    assert.include(await text("#details"), "def forward")
    await shot("torchscript-module")
    await openFile(fixturePath("mobile_sequential.ptl"))
    assert.include(await text("#facts"), "mobile module")
    await shot("mobile-module")
  })

  it("opens a file dropped on the page", async () => {
    // A File made in the page from a fixture's bytes, dropped as a drag from the desktop would drop it.
    const dataTransfer = await page.evaluateHandle(async (url) => {
      const bytes = await (await fetch(url)).arrayBuffer()
      const dt = new DataTransfer()
      dt.items.add(new File([bytes], "st_linear.safetensors"))
      return dt
    }, `${nginx.url}/fixtures/st_linear.safetensors`)
    await page.dispatchEvent("#drop", "drop", { dataTransfer })
    await page.waitForFunction(() => document.getElementById("facts")!.textContent!.startsWith("st_linear.safetensors"))
    assert.include(await text("#facts"), "safetensors checkpoint")
    assert.include(await text("#facts"), `metadata {"format":"pt"}`)
  })

  it("says a malicious pickle is dangerous before anything else", async () => {
    await openFile(join(fixturesDir, "malicious", "inst_os_system.pkl"))
    assert.strictEqual(await page.getAttribute("#verdict", "class"), "dangerous")
    assert.include(await text("#verdict"), "DANGEROUS")
    assert.include(await text("#verdict"), "os.system")
    await shot("malicious")
  })

  it("shows a truncated file's typed error with its record and offset", async () => {
    await openUrl(`${nginx.url}/truncated.pt`)
    assert.isFalse(await page.isHidden("#error"))
    // Nothing of the file shown before stays on screen.
    assert.isTrue(await page.isHidden("#main"))
    assert.match(await text("#error"), /(ZipError|CheckpointError|SourceError)\(\w+\)/)
    assert.match(await text("#error"), /byte \d+|\[.*\]/)
    await shot("truncated")
  })

  it("opens a 1 GiB checkpoint by URL in under a second, and one tensor's histogram reads that tensor alone", async () => {
    await openUrl(`${nginx.url}/big.pt`)
    const status = await text("#status")
    const seconds = Number(/opened in ([\d.]+) s/.exec(status)![1])
    assert.isBelow(seconds, 1, status)
    assert.match(await text("#facts"), /big\.pt: zip checkpoint, .*989\.3 MiB; 146 tensors/)
    await clickRow("layers.0.mlp.up.weight")
    const stats = await statistics()
    // The tensor is 16 MiB of a 1 GiB file: its read is all that was fetched for it.
    const read = /bytes read\s*([\d.]+) (\w+)/.exec(stats)!
    assert.strictEqual(`${read[1]} ${read[2]}`, "16.0 MiB", stats)
    await shot("one-gib")
  })

  it("statistics of a large tensor show progress and can be cancelled", async () => {
    await openUrl(`${nginx.url}/big.pt`)
    await clickRow("embed.weight")
    await page.click("#stats-button")
    await page.waitForSelector("#stats progress")
    await page.click("#stats button")
    assert.strictEqual(await text("#stats"), "cancelled")
    // The page goes on: another tensor's statistics come after the cancel.
    await clickRow("layers.1.norm1.weight")
    assert.include(await statistics(), "max")
  })

  it("the tree of thousands of entries stays in the hundreds of elements (virtualized), and search finds by dotted name", async () => {
    await openUrl(`${nginx.url}/big.pt`)
    assert.isBelow(await page.locator(".row").count(), 200)
    await page.fill("#search", "norm2.bias")
    const rows = await page.locator(".row").count()
    assert.isAbove(rows, 1)
    assert.isTrue((await page.locator(".row").allTextContents()).every((t) => t.includes("norm2.bias")))
  })
})
