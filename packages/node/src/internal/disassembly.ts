/**
 * What `dis` shows: the pickles of a file (one record, or a legacy file's
 * five), disassembled as `pickletools.dis` prints them or as JSON in pieces.
 * Re-exported by `Inspect`.
 *
 * @internal
 */
import type { ByteSource } from "@torchwire/core/ByteSource"
import * as Container from "@torchwire/core/Container"
import { attempt, type TorchwireError } from "@torchwire/core/Errors"
import * as Pickle from "@torchwire/core/Pickle"
import * as Effect from "effect/Effect"
import { MAX_JSON_CHARS, pickleJson } from "./json.js"

/**
 * A pickle `dis` shows: its record, the bytes it lies in, and where in them
 * it starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface PickleAt {
  readonly record: string
  readonly bytes: Uint8Array
  readonly start: number
}

/** The names of the legacy format's five pickles, in file order. */
const LEGACY_PICKLES = ["magic number", "protocol version", "sys_info", "pickle", "storage keys"]

/**
 * The pickles `dis` shows (`Container.recordPickle`). For zip archives the
 * record (default `data.pkl`); for tar files the member (default `pickle`);
 * for legacy files every pickle before the storages, each on its own; for
 * bare pickles the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const picklesToDisassemble = (input: ByteSource | Container.Container, record?: string): Effect.Effect<Array<PickleAt>, TorchwireError> =>
  Effect.gen(function*() {
    const { record: name, bytes, count } = yield* Effect.flatMap(Container.fromInput(input), (c) => Container.recordPickle(c, record))
    if (count === 1) return [{ record: name, bytes, start: 0 }]
    const pickles: Array<PickleAt> = []
    let at = 0
    for (const pickleName of LEGACY_PICKLES) {
      pickles.push({ record: pickleName, bytes, start: at })
      at = yield* pickleEnd({ record: pickleName, bytes, start: at })
    }
    return pickles
  })

/** Where a pickle ends (just past its STOP), its opcodes decoded one at a time and none kept. */
const pickleEnd = (p: PickleAt) =>
  attempt(() => {
    let end = p.start
    for (const op of Pickle.unsafeIterateOpcodes(p.bytes, { record: p.record, start: p.start })) end = op.offset + 1
    return end
  })

/**
 * `dis`: disassembles the pickles of `picklesToDisassemble` as
 * `pickletools.dis` prints them (several pickles each under a heading).
 *
 * @since 0.1.0
 * @category constructors
 */
export const dis = (input: ByteSource | Container.Container, record?: string): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(picklesToDisassemble(input, record), (pickles) =>
    Effect.forEach(pickles, (p) =>
      attempt(() => Pickle.unsafeDisassemble(p.bytes, { record: p.record, start: p.start })).pipe(
        Effect.map((text) => (pickles.length === 1 ? text : `# ${p.record} at byte ${p.start}\n${text}`))
      )).pipe(Effect.map((texts) => texts.join("\n"))))

/**
 * `dis --json`: every opcode of the pickles of `picklesToDisassemble`, with
 * its byte offset and argument (summarized as in the JSON summary: big
 * integers as `{"int": digits}`, bytes as `{"bytes": base64}`, non-finite
 * floats as `{"float": "nan"}`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const disJson = (input: ByteSource | Container.Container, record?: string): Effect.Effect<string, TorchwireError> =>
  Effect.map(disJsonChunks(input, record), (chunks) => chunks.join(""))

/**
 * `disJson`'s text in pieces of a few thousand opcodes each, to be written
 * one after another: the CLI never holds the whole text in one string (a
 * million opcodes' JSON is about 100 MB).
 *
 * @since 0.1.0
 * @category constructors
 */
export const disJsonChunks = (input: ByteSource | Container.Container, record?: string): Effect.Effect<Array<string>, TorchwireError> =>
  Effect.flatMap(picklesToDisassemble(input, record), (pickles) =>
    attempt(() => {
      const budget = { left: MAX_JSON_CHARS }
      const chunks = ["{\n  \"pickles\": [\n"]
      pickles.forEach((p, i) => chunks.push(...(i === 0 ? [] : [",\n"]), ...pickleJson(p, budget)))
      chunks.push("\n  ]\n}\n")
      return chunks
    }))

