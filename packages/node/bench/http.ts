/**
 * Checkpoints over HTTP (issue 29), against a real nginx on loopback serving
 * the 1.7 GiB state_dict of safetensors.ts (generated on the fly):
 *   (l) keys and shapes: the requests made and bytes received (in process), and the whole
 *       `torchwire inspect URL` against the same of the file;
 *   (m) reading every tensor over HTTP, streamed through recycled buffers (as convert and send read)
 *       and read whole (as Checkpoint.arrays), against `curl` downloading the file to /dev/null and a
 *       plain node:http loop of 4 MiB ranges (the floor of any Node program); each the best of
 *       TORCHWIRE_BENCH_ROUNDS (default 3).
 * Prints a Markdown table (BENCHMARKS.md). Needs `pnpm build`, .venv-torch and nginx.
 */
import { startNginx } from "@torchwire/test-utils/nginx"
import { execFileSync } from "node:child_process"
import { statSync } from "node:fs"
import { basename, join } from "node:path"
import { bundleWorker } from "./bundle.js"
import { best, bin, log, mib, rounds, secs, stateDict, timed, work, type Measured } from "./processes.js"


const pt = stateDict()
const name = basename(pt)
const size = statSync(pt).size
const worker = await bundleWorker("read_url", join(work, "bundle"))
const plainHttp = await bundleWorker("plain_http", join(work, "bundle"))
const nginx = await startNginx(work)
try {
  const url = `${nginx.url}/${name}`
  log("(l) keys and shapes over HTTP ...")
  const keys = JSON.parse(execFileSync(process.execPath, [worker, "keys", url], { encoding: "utf8" })) as { tensors: number; requests: number; bytes: number; seconds: number }
  const inspectUrl = best(() => timed(process.execPath, [bin, "inspect", "--limit", "1", url]))
  const inspectFile = best(() => timed(process.execPath, [bin, "inspect", "--limit", "1", pt]))
  log("(m) every tensor over HTTP ...")
  const streamed = best(() => timed(process.execPath, [worker, "stream", url]))
  const whole = best(() => timed(process.execPath, [worker, "read", url]))
  const wholeFile = best(() => timed(process.execPath, [worker, "read", pt]))
  const counts = JSON.parse(execFileSync(process.execPath, [worker, "stream", url], { encoding: "utf8" })) as { requests: number; bytes: number }
  const curl = best(() => timed("curl", ["-s", "-o", "/dev/null", url]))
  const plain = best(() => timed(process.execPath, [plainHttp, url, String(size)]))
  const rate = (m: Measured) => `${(size / 2 ** 20 / m.seconds).toFixed(0)} MiB/s`
  process.stdout.write([
    `| over HTTP (nginx on loopback), ${(size / 2 ** 30).toFixed(2)} GiB (best of ${rounds}, whole processes) | torchwire | alternative | ratio |`,
    "| --- | --- | --- | --- |",
    `| (l) keys and shapes: requests, bytes received | ${keys.requests} requests, ${(keys.bytes / 1024).toFixed(0)} KiB (${keys.tensors} tensors, ${keys.seconds.toFixed(2)} s in process) | | |`,
    `| (l) \`torchwire inspect\` | URL: ${secs(inspectUrl)}, ${mib(inspectUrl)} | the file: ${secs(inspectFile)}, ${mib(inspectFile)} | ${((100 * inspectUrl.seconds) / inspectFile.seconds).toFixed(0)}% of the file's time |`,
    `| (m) every tensor, streamed | ${secs(streamed)} (${rate(streamed)}), ${mib(streamed)}; ${counts.requests} requests, ${(counts.bytes / 2 ** 30).toFixed(2)} GiB | curl to /dev/null: ${secs(curl)} (${rate(curl)}); plain node:http, 4 MiB ranges: ${secs(plain)} (${rate(plain)}) | ${((100 * curl.seconds) / streamed.seconds).toFixed(0)}% of curl's throughput, ${((100 * plain.seconds) / streamed.seconds).toFixed(0)}% of plain Node's |`,
    `| (m) every tensor, read whole | ${secs(whole)} (${rate(whole)}), ${mib(whole)} | the same from the file: ${secs(wholeFile)}, ${mib(wholeFile)} | ${((100 * curl.seconds) / whole.seconds).toFixed(0)}% of curl's throughput |`
  ].join("\n") + "\n")
} finally {
  await nginx.stop()
}
