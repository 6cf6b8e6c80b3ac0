/**
 * The floor of reading a file over HTTP in Node, for http.ts: a plain
 * node:http loop (a keep-alive agent) fetching 4 MiB ranges one after another
 * into one recycled buffer, nothing else. Prints the bytes received.
 *
 * Usage: node plain_http.mjs URL SIZE
 */
import http from "node:http"

const [url, sizeText] = process.argv.slice(2) as [string, string]
const size = Number(sizeText)
const chunk = 4 << 20
const agent = new http.Agent({ keepAlive: true })
const buffer = Buffer.allocUnsafe(chunk)
let received = 0
for (let at = 0; at < size; at += chunk) {
  const end = Math.min(size, at + chunk) - 1
  received += await new Promise<number>((resolve, reject) =>
    http.get(url, { agent, headers: { range: `bytes=${at}-${end}` } }, (res) => {
      let n = 0
      res.on("data", (d: Buffer) => void (n += d.copy(buffer, n)))
      res.on("end", () => resolve(n))
      res.on("error", reject)
    }).on("error", reject))
}
agent.destroy()
process.stdout.write(`${received}\n`)
