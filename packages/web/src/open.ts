/**
 * Opening what the user gives the viewer: a local file (a `Blob`: read in
 * place, nothing uploaded) or a URL (range requests through the browser's
 * fetch). The scan comes first, so a file that is not safe is said to be so
 * before anything else; then the checkpoint or module is opened to be
 * described (globals outside torch's allowlist stay opaque objects, as
 * `torchwire inspect` shows them: nothing is ever executed).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Container from "@torchwire/core/Container"
import type { TorchwireError } from "@torchwire/core/Errors"
import * as HttpSource from "@torchwire/core/HttpSource"
import * as Module from "@torchwire/core/Module"
import * as Scan from "@torchwire/core/Scan"
import type { Tensor } from "@torchwire/core/Torch"
import * as Effect from "effect/Effect"
import { moduleNode, moduleTensors, type Node, once, valueNode } from "./tree.js"

/** An opened input: what it is, the scan's report, its tree and tensors, and the bytes read so far. */
export interface Opened {
  readonly name: string
  readonly size: number
  readonly format: string
  readonly facts: ReadonlyArray<string>
  readonly scan: Scan.Report
  readonly root: Node
  readonly tensors: ReadonlyArray<readonly [string, Tensor]>
  readonly bytesRead: () => number
}

/** Opens a source: recognized, scanned, then opened as a checkpoint or a module. */
const openSource = (source: ByteSource.ByteSource): Effect.Effect<Opened, TorchwireError> =>
  Effect.gen(function*() {
    const counted = ByteSource.counting(source)
    const container = yield* Container.open(counted.source)
    const scan = yield* Scan.scan(container)
    const base = { name: source.name, size: source.size, format: container.format, scan, bytesRead: counted.bytesRead }
    if (Container.isModuleFormat(container.format)) {
      const archive = yield* Module.open(container)
      return {
        ...base,
        facts: [`${archive.format} module`, `version ${archive.version}`, `${archive.module.type}`],
        root: { label: "", path: "", summary: "", children: once(() => [moduleNode("(root)", "", archive.module)]) },
        tensors: moduleTensors(archive.module)
      }
    }
    const checkpoint = yield* Checkpoint.open(container, { weightsOnly: false })
    return {
      ...base,
      facts: [
        `${checkpoint.format} checkpoint`,
        ...(checkpoint.version === undefined ? [] : [`version ${checkpoint.version}`]),
        `${checkpoint.byteOrder}-endian`,
        ...(checkpoint.metadata === undefined ? [] : [`metadata ${JSON.stringify(Object.fromEntries(checkpoint.metadata))}`])
      ],
      root: valueNode("", "", checkpoint.value),
      tensors: Checkpoint.tensors(checkpoint.value)
    }
  })

/**
 * Runs an effect to a promise that rejects with the typed error itself (its
 * message names the record and the offset), or with the defect.
 */
export const run = <A>(effect: Effect.Effect<A, TorchwireError>): Promise<A> =>
  Effect.runPromise(Effect.either(effect)).then((r) => (r._tag === "Right" ? r.right : Promise.reject(r.left)))

/** Opens a local file, read in place. */
export const openFile = (file: Blob & { readonly name?: string }): Promise<Opened> => run(openSource(ByteSource.fromBlob(file, file.name ?? "file")))

/** Opens a URL by range requests. */
export const openUrl = (url: string): Promise<Opened> => run(Effect.flatMap(HttpSource.fromUrl(url), openSource).pipe(Effect.provide(FetchHttpClient.layer)))
