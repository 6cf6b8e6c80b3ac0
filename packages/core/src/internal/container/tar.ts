/**
 * A minimal reader for the POSIX/PAX tar archives PyTorch 0.1.x wrote:
 * member names (ustar prefix, PAX `path`, GNU long names), sizes (octal,
 * base-256, PAX `size`) and data offsets.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { ByteSource } from "../../ByteSource.js"
import { attempt, CheckpointError, type SourceError } from "../../Errors.js"

/** A tar member. @internal */
export interface TarMember {
  readonly name: string
  readonly offset: number
  readonly size: number
}

const decoder = new TextDecoder()
const cstring = (b: Uint8Array, at: number, length: number): string => {
  const field = b.subarray(at, at + length)
  const nul = field.indexOf(0)
  return decoder.decode(nul < 0 ? field : field.subarray(0, nul))
}

/**
 * A numeric header field as `tarfile`'s `nti` reads it: base-256 after a
 * 0x80 (or, negative, 0xFF) byte; else ASCII octal up to the first NUL,
 * whitespace around it ignored, empty being 0 (`int(s, 8)` also takes a
 * sign, a `0o` prefix and underscores between digits). Undefined where
 * tarfile would call the header invalid.
 */
const tarfileNumber = (b: Uint8Array, at: number, length: number): number | undefined => {
  if (b[at] === 0x80 || b[at] === 0xff) {
    let v = 0
    for (let i = 1; i < length; i++) v = v * 256 + b[at + i]!
    return b[at] === 0xff ? v - 256 ** (length - 1) : v
  }
  const field = b.subarray(at, at + length)
  const nul = field.indexOf(0)
  const raw = nul < 0 ? field : field.subarray(0, nul)
  if (raw.some((x) => x >= 0x80)) return undefined
  const s = decoder.decode(raw).trim()
  if (s === "") return 0
  const m = /^([+-]?)(?:0o)?([0-7](?:_?[0-7])*)$/i.exec(s)
  return m === null ? undefined : (m[1] === "-" ? -1 : 1) * parseInt(m[2]!.replaceAll("_", ""), 8)
}

/** The numeric fields `tarfile` parses in every header: mode, uid, gid, size, mtime, checksum, devmajor, devminor. */
const NUMERIC_FIELDS: ReadonlyArray<readonly [number, number]> = [[100, 8], [108, 8], [116, 8], [124, 12], [136, 12], [148, 8], [329, 8], [337, 8]]

const number = (b: Uint8Array, at: number, length: number, where: number): number => {
  const n = tarfileNumber(b, at, length)
  if (n === undefined || n < 0) throw new CheckpointError({ reason: "BadRecord", offset: where + at, record: "tar header", detail: `invalid number ${JSON.stringify(cstring(b, at, length))}` })
  return n
}

/**
 * True when a 512-byte block is a tar header as Python's `tarfile` (which
 * torch.load uses) takes one: not all zeros, every numeric field readable
 * (`tarfileNumber`), and its checksum equal to the sum of its bytes with the
 * checksum field as spaces, unsigned or signed. The `ustar` magic is not required (v7 headers
 * have none); a block with the magic and a bad checksum is not a header.
 *
 * @internal
 */
export const isTarHeader = (head: Uint8Array): boolean => {
  if (head.length < 512 || head.subarray(0, 512).every((x) => x === 0)) return false
  if (NUMERIC_FIELDS.some(([at, length]) => tarfileNumber(head, at, length) === undefined)) return false
  const declared = tarfileNumber(head, 148, 8)!
  let unsigned = 256
  let signed = 256
  for (let i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue
    unsigned += head[i]!
    signed += head[i]! < 128 ? head[i]! : head[i]! - 256
  }
  return declared === unsigned || declared === signed
}

const parsePax = (b: Uint8Array): Map<string, string> => {
  const out = new Map<string, string>()
  const s = decoder.decode(b)
  let p = 0
  while (p < s.length) {
    const space = s.indexOf(" ", p)
    if (space < 0) break
    const length = Number(s.slice(p, space))
    if (!Number.isInteger(length) || length <= 0) break
    const record = s.slice(space + 1, p + length - 1)
    const eq = record.indexOf("=")
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1))
    p += length
  }
  return out
}

/**
 * Lists the members of a tar archive, reading one header per member, as
 * Python's `tarfile` (torch's reader) does: an invalid header after the
 * first ends the listing (`stoppedAt` says where) instead of failing.
 *
 * @internal
 */
export const listTarMembers = (source: ByteSource, maxMembers = 10_000): Effect.Effect<{ readonly members: Array<TarMember>; readonly stoppedAt?: number }, CheckpointError | SourceError> =>
  Effect.gen(function*() {
    const members: Array<TarMember> = []
    let at = 0
    let pax = new Map<string, string>()
    let longName: string | undefined
    while (at + 512 <= source.size && members.length < maxMembers) {
      const h = yield* source.read(at, 512)
      if (h.every((x) => x === 0)) break
      if (!isTarHeader(h)) {
        if (at === 0) return yield* new CheckpointError({ reason: "BadRecord", offset: at, record: "tar header", detail: "not a tar header (its checksum does not hold)" })
        return { members, stoppedAt: at }
      }
      const size = yield* attempt(() => number(h, 124, 12, at), CheckpointError)
      const type = String.fromCharCode(h[156]!)
      const dataAt = at + 512
      const realSize = pax.has("size") ? Number(pax.get("size")) : size
      if (!Number.isSafeInteger(realSize) || dataAt + realSize > source.size) {
        return yield* new CheckpointError({ reason: "BadRecord", offset: at, record: "tar header", detail: `member of ${realSize} bytes runs past the end of the file` })
      }
      const next = dataAt + Math.ceil(realSize / 512) * 512
      if (type === "x" || type === "L") {
        if (realSize > 1 << 20) return yield* new CheckpointError({ reason: "BadRecord", offset: at, record: "tar header", detail: "extended header over 1 MiB" })
        const data = yield* source.read(dataAt, realSize)
        if (type === "x") pax = parsePax(data)
        else longName = cstring(data, 0, data.length)
      } else if (type !== "g") {
        const prefix = cstring(h, 345, 155)
        const name = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${cstring(h, 0, 100)}` : cstring(h, 0, 100))
        if (type === "0" || type === "\0") members.push({ name, offset: dataAt, size: realSize })
        pax = new Map()
        longName = undefined
      }
      at = next
    }
    return { members }
  })

/**
 * Lists the members of a tar archive (`listTarMembers`' members).
 *
 * @internal
 */
export const listTar = (source: ByteSource, maxMembers = 10_000): Effect.Effect<Array<TarMember>, CheckpointError | SourceError> =>
  Effect.map(listTarMembers(source, maxMembers), (l) => l.members)

/**
 * The members whose name an earlier member already has (Python's `tarfile`
 * reads the last of them, a first-match reader the first).
 *
 * @internal
 */
export const repeatedMembers = (members: ReadonlyArray<TarMember>): Array<TarMember> => {
  const seen = new Set<string>()
  return members.filter((m) => seen.has(m.name) || (seen.add(m.name), false))
}
