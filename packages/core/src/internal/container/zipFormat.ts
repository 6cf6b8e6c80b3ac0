/**
 * Pure parsers for the zip structures torch archives use: the end of
 * central directory record, the zip64 locator and end record, central
 * directory entries (with zip64 extras) and local headers.
 *
 * @internal
 */
import { ZipError } from "../../Errors.js"

/** Signatures. @internal */
export const SIG = {
  local: 0x04034b50,
  central: 0x02014b50,
  end: 0x06054b50,
  zip64End: 0x06064b50,
  zip64Locator: 0x07064b50,
  descriptor: 0x08074b50
} as const

/** One central-directory entry. @internal */
export interface CentralEntry {
  readonly name: string
  readonly flags: number
  readonly method: number
  readonly crc32: number
  readonly compressedSize: number
  readonly uncompressedSize: number
  /** Offset of the local header in the source (archive-prefix shift applied). */
  readonly localHeaderOffset: number
  /** Offset of this entry's central-directory record in the source. */
  readonly centralOffset: number
  /** Whether the entry is marked as a directory (a name ending in `/`, or the DOS directory attribute, 0x10). */
  readonly isDirectory: boolean
}

/** What the end records say. @internal */
export interface EndRecord {
  readonly entries: number
  readonly cdOffset: number
  readonly cdSize: number
  /** Source offset of the end of central directory record. */
  readonly eocdOffset: number
  /** Bytes found before the archive (self-extracting or concatenated files). */
  readonly shift: number
}

const u64 = (view: DataView, p: number, what: string, at: number): number => {
  const v = view.getBigUint64(p, true)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ZipError({ reason: "BadEndRecord", record: "zip64 end of central directory", offset: at, detail: `${what} ${v} is beyond 2^53` })
  }
  return Number(v)
}

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)

/**
 * Every end of central directory signature in the last bytes of a file
 * (`tail`), each with its 22 bytes within `tail`, the last first: torch's
 * reader (miniz) takes the last one in the file, whatever its comment
 * length says. Returns their offsets in `tail`.
 *
 * @internal
 */
export const findEocds = (tail: Uint8Array): Array<number> => {
  const view = viewOf(tail)
  const found: Array<number> = []
  for (let p = tail.length - 22; p >= 0; p--) if (view.getUint32(p, true) === SIG.end) found.push(p)
  return found
}

/** Fields of the classic end record at `p` in `b`. @internal */
export const parseEocd = (b: Uint8Array, p: number) => {
  const view = viewOf(b)
  return {
    disk: view.getUint16(p + 4, true),
    entries: view.getUint16(p + 10, true),
    cdSize: view.getUint32(p + 12, true),
    cdOffset: view.getUint32(p + 16, true)
  }
}

/** The zip64 end-record offset from a locator at `p`, or undefined. @internal */
export const parseZip64Locator = (b: Uint8Array, p: number, at: number): number | undefined => {
  if (p < 0) return undefined
  const view = viewOf(b)
  if (view.getUint32(p, true) !== SIG.zip64Locator) return undefined
  return u64(view, p + 8, "zip64 end record offset", at)
}

/** Fields of a zip64 end record (56 bytes at `b[0]`). @internal */
export const parseZip64End = (b: Uint8Array, at: number) => {
  const view = viewOf(b)
  if (b.length < 56 || view.getUint32(0, true) !== SIG.zip64End) {
    throw new ZipError({ reason: "BadEndRecord", record: "zip64 end of central directory", offset: at, detail: "zip64 locator points at no zip64 end record" })
  }
  return {
    entries: u64(view, 32, "entry count", at),
    cdSize: u64(view, 40, "central directory size", at),
    cdOffset: u64(view, 48, "central directory offset", at)
  }
}

const utf8 = new TextDecoder("utf-8")

/**
 * Parses `count` central-directory entries from `cd`, which was read at
 * source offset `cdAt`. `shift` is added to every local-header offset.
 *
 * @internal
 */
export const parseCentralDirectory = (cd: Uint8Array, cdAt: number, count: number, shift: number): Array<CentralEntry> => {
  const view = viewOf(cd)
  const out: Array<CentralEntry> = []
  let p = 0
  for (let i = 0; i < count; i++) {
    const at = cdAt + p
    const bad = (detail: string): never => {
      throw new ZipError({ reason: "BadCentralDirectory", record: `central directory entry ${i}`, offset: at, detail })
    }
    if (p + 46 > cd.length) bad("central directory ends early")
    if (view.getUint32(p, true) !== SIG.central) bad("bad central directory signature")
    const flags = view.getUint16(p + 8, true)
    const method = view.getUint16(p + 10, true)
    const crc = view.getUint32(p + 16, true)
    let compressedSize = view.getUint32(p + 20, true)
    let uncompressedSize = view.getUint32(p + 24, true)
    const nameLength = view.getUint16(p + 28, true)
    const extraLength = view.getUint16(p + 30, true)
    const commentLength = view.getUint16(p + 32, true)
    let localHeaderOffset = view.getUint32(p + 42, true)
    const end = p + 46 + nameLength + extraLength + commentLength
    if (end > cd.length) bad("name, extra or comment runs past the central directory")
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLength))
    // zip64 extra: the fields whose 32-bit value is 0xFFFFFFFF, in order.
    let e = p + 46 + nameLength
    const extraEnd = e + extraLength
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true)
      const size = view.getUint16(e + 2, true)
      if (e + 4 + size > extraEnd) bad("extra field runs past its entry")
      if (id === 0x0001) {
        let q = e + 4
        const take = (what: string): number => {
          if (q + 8 > e + 4 + size) bad(`zip64 extra lacks the ${what}`)
          const v = view.getBigUint64(q, true)
          q += 8
          if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${what} ${v} is beyond 2^53`)
          return Number(v)
        }
        if (uncompressedSize === 0xffffffff) uncompressedSize = take("uncompressed size")
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size")
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take("local header offset")
      }
      e += 4 + size
    }
    out.push({
      name,
      flags,
      method,
      crc32: crc,
      compressedSize,
      uncompressedSize,
      localHeaderOffset: localHeaderOffset + shift,
      centralOffset: at,
      isDirectory: name.endsWith("/") || (view.getUint32(p + 38, true) & 0x10) !== 0
    })
    p = end
  }
  return out
}

/** Name and extra lengths from a 30-byte local header, checked against its entry. @internal */
export const parseLocalHeader = (b: Uint8Array, entry: CentralEntry): number => {
  const view = viewOf(b)
  if (view.getUint32(0, true) !== SIG.local) {
    throw new ZipError({ reason: "BadLocalHeader", offset: entry.localHeaderOffset, record: entry.name, detail: "bad local header signature" })
  }
  return 30 + view.getUint16(26, true) + view.getUint16(28, true)
}
