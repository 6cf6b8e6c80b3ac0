/**
 * A real nginx (Debian's, installed by .ci/run) serving a folder on
 * 127.0.0.1 for the HTTP tests, in the foreground under a temporary
 * configuration (not as the system's service). `nginx` fails the test,
 * never skips it, when nginx is missing.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A free port on 127.0.0.1 (the kernel's choice; nginx binds it a moment later). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })

/** A running nginx: its base URL, and `stop`. */
export interface Nginx {
  readonly url: string
  readonly stop: () => Promise<void>
}

/** Starts nginx serving `root` (ETag and Last-Modified on, as by default); resolves once it answers. */
export const startNginx = async (root: string): Promise<Nginx> => {
  const dir = mkdtempSync(join(tmpdir(), "torchwire-nginx-"))
  const port = await freePort()
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${join(dir, t)};`).join("\n  ")
  writeFileSync(join(dir, "nginx.conf"), `
${process.getuid?.() === 0 ? "user root;" : ""}
daemon off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")};
events {}
http {
  access_log ${join(dir, "access.log")};
  ${temp}
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`)
  const child = spawn("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr.on("data", (d) => (stderr += String(d)))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    const ok = await fetch(url + "/", { method: "HEAD" }).then(() => true, () => false)
    if (ok) return { url, stop: async () => void (child.kill("SIGQUIT"), await exited) }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill("SIGKILL")
  throw new Error(`nginx did not answer on ${url}: ${stderr}`)
}
