/**
 * Where the CLI's commands read from: a file, or an `http://` / `https://`
 * URL read by range requests (`HttpSource`, through the fetch client), with
 * the bytes fetched shown on a TTY and the `--header` lines sent with every
 * request (never printed).
 *
 * @internal
 */
import type { ByteSource } from "@torchwire/core/ByteSource"
import type { SourceError } from "@torchwire/core/Errors"
import * as HttpSource from "@torchwire/core/HttpSource"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as NodeDirectory from "../NodeDirectory.js"
import * as NodeSource from "../NodeSource.js"
import { CliIo, UsageError } from "./io.js"
import { countReporter } from "./progress.js"

/**
 * The HTTP client of the CLI: node:http with a keep-alive agent (a range
 * read is a request: a connection each took longer; fetch took 1.7× as long
 * reading a 1.7 GiB file in 4 MiB ranges on loopback, BENCHMARKS.md (m)).
 * Loaded when a URL is first read: the HTTP stack is large, and files need none of it.
 */
const httpClient = Layer.unwrapEffect(Effect.map(
  Effect.promise(() => import("@effect/platform-node/NodeHttpClient")),
  (NodeHttpClient) => NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true })))
))

/** Whether a command's argument is a URL rather than a path. @internal */
export const isUrl = (path: string): boolean => /^https?:\/\//i.test(path)

/** Whether a command's argument names a folder (a distributed checkpoint's): never a URL. @internal */
export const isFolder = (path: string): Effect.Effect<boolean> =>
  Effect.promise(async () => !isUrl(path) && await NodeDirectory.isDirectoryPath(path))

/**
 * `--header 'Name: value'` lines as request headers; a line without a colon
 * or a name is a usage error (which says the name, never the value).
 *
 * @internal
 */
export const parseHeaders = (lines: ReadonlyArray<string>): Effect.Effect<Readonly<Record<string, string>>, UsageError> => {
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(":")
    const name = colon < 0 ? "" : line.slice(0, colon).trim()
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      return Effect.fail(new UsageError({ detail: `--header takes 'Name: value'${name === "" ? "" : `, not a header named ${JSON.stringify(name)}`}` }))
    }
    headers[name.toLowerCase()] = line.slice(colon + 1).trim()
  }
  return Effect.succeed(headers)
}

/**
 * Opens a command's input: a URL over HTTP(S) (progress of the bytes
 * fetched on a TTY), or a file. Closed with the scope.
 *
 * @internal
 */
export const openSource = (path: string, headers: Readonly<Record<string, string>> = {}): Effect.Effect<ByteSource, SourceError, Scope.Scope | CliIo> =>
  isUrl(path)
    ? Effect.flatMap(CliIo, (io) => {
      const progress = io.progress === undefined ? undefined : countReporter(io.progress, "fetched")
      let fetched = 0
      return HttpSource.fromUrl(path, { headers, ...(progress === undefined ? {} : { onFetch: (n) => progress.report((fetched += n)) }) }).pipe(
        Effect.tap(() => Effect.addFinalizer(() => Effect.sync(() => progress?.finish()))),
        Effect.provide(httpClient)
      )
    })
    : NodeSource.open(path)
