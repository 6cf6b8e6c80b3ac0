/**
 * Files built so that a reader that sees them differently from torch would
 * miss a payload (issue 25's differentials): each pairs the bytes with
 * whether real torch.load (weights_only=False) runs the payload, which
 * `python/executes.py` checks. The payload is harmless: `posix.mkdir("pwned")`
 * in the loader's working directory.
 */
import { constants, crc32, deflateRawSync } from "node:zlib"

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0))

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

/** A protocol 0 pickle calling `posix.mkdir("pwned")`. */
export const payload = latin1("cposix\nmkdir\n(S'pwned'\ntR.")

/** A harmless pickle: an empty dict. */
export const emptyDict = Uint8Array.of(0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e)

const u16 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff)
const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff)

type Entries = ReadonlyArray<readonly [string, Uint8Array]>

/** The fields local and central headers share, for a STORED entry. */
const headerFields = (name: Uint8Array, data: Uint8Array) =>
  [u16(20), u16(0), u16(0), u16(0), u16(0), u32(crc32(data) >>> 0), u32(data.length), u32(data.length), u16(name.length), u16(0)]

/** Local headers and data of STORED entries placed from byte `start`, and where each header is. */
const localsOf = (entries: Entries, start: number): { readonly bytes: Uint8Array; readonly offsets: Array<number> } => {
  const parts: Array<Uint8Array> = []
  const offsets: Array<number> = []
  let at = start
  for (const [name, data] of entries) {
    const n = latin1(name)
    const local = concat([u32(0x04034b50), ...headerFields(n, data), n, data])
    offsets.push(at)
    parts.push(local)
    at += local.length
  }
  return { bytes: concat(parts), offsets }
}

/** A central directory of the entries, their local headers at `offsets`. */
const centralOf = (entries: Entries, offsets: ReadonlyArray<number>): Uint8Array =>
  concat(entries.map(([name, data], i) => {
    const n = latin1(name)
    return concat([u32(0x02014b50), u16(20), ...headerFields(n, data), u16(0), u16(0), u16(0), u32(0), u32(offsets[i]!), n])
  }))

/** An end of central directory record. */
const endRecord = (count: number, cdSize: number, cdOffset: number, commentLength = 0): Uint8Array =>
  concat([u32(0x06054b50), u16(0), u16(0), u16(count), u16(count), u32(cdSize), u32(cdOffset), u16(commentLength)])

/** A zip archive of STORED entries, in order (names as given, duplicates and all). */
export const zipOf = (entries: Entries): Uint8Array => {
  const locals = localsOf(entries, 0)
  const cd = centralOf(entries, locals.offsets)
  return concat([locals.bytes, cd, endRecord(entries.length, cd.length, locals.bytes.length)])
}

/** Two sets of entries one after the other (`first` from byte 0), with a central directory of each. */
const twoArchives = (first: Entries, second: Entries) => {
  const a = localsOf(first, 0)
  const b = localsOf(second, a.bytes.length)
  return { locals: concat([a.bytes, b.bytes]), firstCd: centralOf(first, a.offsets), secondCd: centralOf(second, b.offsets) }
}

/**
 * A zip bomb: 1 MiB whose `archive/data.pkl` declares 100 bytes (local
 * header and central directory alike) and inflates to 1 GiB (64 full-flushed
 * DEFLATE blocks of 16 MiB of zeros, then an empty final block).
 */
export const zipBomb = (): Uint8Array => {
  const block = deflateRawSync(new Uint8Array(16 << 20), { finishFlush: constants.Z_FULL_FLUSH })
  const stream = new Uint8Array(block.length * 64 + 2)
  for (let i = 0; i < 64; i++) stream.set(block, i * block.length)
  stream.set([0x03, 0x00], block.length * 64)
  const archive = zipOf([["archive/data.pkl", stream], ["archive/version", latin1("3\n")]])
  const view = new DataView(archive.buffer)
  const central = archive.length - 22 - (46 + 16) - (46 + 15)
  for (const [header, method] of [[0, 8], [central, 10]] as const) {
    view.setUint16(header + method, 8, true)
    view.setUint32(header + method + 14, 100, true)
  }
  return archive
}

/**
 * Two archives' entries in one file: the end record's stored offset names
 * the directory of `stored` (which torch reads), and a directory of `decoy`
 * lies right before the end record (where a reader that assumes the
 * directory precedes it looks).
 */
const twoDirectories = (stored: Entries, decoy: Entries): Uint8Array => {
  const { locals, firstCd: decoyCd, secondCd: storedCd } = twoArchives(decoy, stored)
  return concat([locals, storedCd, decoyCd, endRecord(stored.length, storedCd.length, locals.length)])
}

/**
 * Two end records: the first's comment runs to the end of the file and
 * holds the second (followed by one byte, so its own comment does not
 * reach the end). torch takes the last signature, the second, whose
 * directory lists `last`; a reader that wants a comment reaching the end
 * takes the first, whose directory lists `first`.
 */
const twoEndRecords = (last: Entries, first: Entries): Uint8Array => {
  const { locals, firstCd, secondCd: lastCd } = twoArchives(first, last)
  const inner = concat([endRecord(last.length, lastCd.length, locals.length + firstCd.length), Uint8Array.of(0)])
  return concat([locals, firstCd, lastCd, endRecord(first.length, firstCd.length, locals.length, inner.length), inner])
}

/** A ustar header for a member of `size` bytes, its checksum right (or off by one). */
const tarHeader = (name: string, size: number, checksumRight = true): Uint8Array => {
  const h = new Uint8Array(512)
  h.set(latin1(name), 0)
  h.set(latin1("0000644\0"), 100)
  h.set(latin1("0000000\0"), 108)
  h.set(latin1("0000000\0"), 116)
  h.set(latin1(size.toString(8).padStart(11, "0") + "\0"), 124)
  h.set(latin1("00000000000\0"), 136)
  h[156] = 0x30
  h.set(latin1("ustar\0"), 257)
  h.set(latin1("00"), 263)
  h.fill(0x20, 148, 156)
  const sum = h.reduce((a, b) => a + b, 0) + (checksumRight ? 0 : 1)
  h.set(latin1(sum.toString(8).padStart(6, "0") + "\0 "), 148)
  return h
}

/** A tar archive of the members, in order. */
export const tarOf = (members: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array =>
  concat([
    ...members.flatMap(([name, data]) => [tarHeader(name, data.length), data, new Uint8Array((512 - (data.length % 512)) % 512)]),
    new Uint8Array(1024)
  ])

/** The legacy magic number pickle (protocol 2), with `extra` pushed and popped before it. */
const legacyMagic = (extra: string): Uint8Array =>
  concat([Uint8Array.of(0x80, 0x02, 0x58), u32(extra.length), latin1(extra), latin1("0"), Uint8Array.of(0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e)])

/** One differential: its bytes, and whether torch.load (weights_only=False) runs its payload. */
export interface Differential {
  readonly file: string
  readonly bytes: Uint8Array
  /** true: torch runs the payload (checked by the interop test); undefined: torch's choice is not asserted. */
  readonly torchExecutes: boolean | undefined
  readonly note: string
}

/** Every differential case. */
export const differentials = (): ReadonlyArray<Differential> => {
  const version = latin1("3\n")
  const tarHeaderNoChecksum = tarHeader("pickle", 0, false)
  const badChecksumTar = new Uint8Array(1024)
  badChecksumTar.set(tarHeaderNoChecksum)
  badChecksumTar.set(payload, 0) // the payload where the name would be: "ustar" at 257, a wrong checksum
  return [
    {
      file: "upper_case_data_pkl.pt",
      bytes: zipOf([["archive/DATA.PKL", payload], ["archive/version", version]]),
      torchExecutes: true,
      note: "data.pkl named in upper case: torch's reader folds case"
    },
    {
      file: "case_collision.pt",
      bytes: zipOf([["archive/data.pkl", emptyDict], ["archive/Data.pkl", payload], ["archive/version", version]]),
      torchExecutes: undefined,
      note: "data.pkl twice, in two cases: which one a reader takes is the reader's choice"
    },
    {
      file: "duplicate_data_pkl.pt",
      bytes: zipOf([["archive/data.pkl", emptyDict], ["archive/data.pkl", payload], ["archive/version", version]]),
      torchExecutes: undefined,
      note: "data.pkl twice under one name"
    },
    {
      file: "ptmf_pickle.pt",
      bytes: concat([Uint8Array.of(0x80, 0x02, 0x55, 0x04), latin1("PTMF0"), payload]),
      torchExecutes: true,
      note: "a pickle with PTMF at bytes 4-8: a flatbuffer module's signature, but torch.load unpickles it"
    },
    {
      file: "legacy_stream_marker.pt",
      bytes: concat([legacyMagic("torch.distributed._serialization"), payload]),
      torchExecutes: true,
      note: "a legacy file whose magic-number pickle names the stream marker: its second pickle is the payload"
    },
    {
      file: "protocol4_no_proto.pkl",
      bytes: concat([latin1("\x8c\x05posix\x8c\x05mkdir\x93\x8c\x05pwned\x85R.")]),
      torchExecutes: true,
      note: "a protocol 4 pickle without PROTO"
    },
    {
      file: "tar_storages_payload.pt",
      bytes: tarOf([["sys_info", emptyDict], ["storages", payload], ["tensors", emptyDict], ["pickle", emptyDict]]),
      torchExecutes: true,
      note: "a tar checkpoint whose storages member holds the payload"
    },
    {
      file: "tar_bad_checksum.pt",
      bytes: badChecksumTar,
      torchExecutes: true,
      note: "ustar at byte 257 with a bad header checksum: not a tar file to tarfile, so torch unpickles it"
    },
    {
      file: "tar_bad_later_header.pt",
      bytes: concat([tarHeader("storages", payload.length), payload, new Uint8Array(512 - payload.length), tarHeader("tensors", 0, false), new Uint8Array(1024)]),
      torchExecutes: true,
      note: "a tar file whose second header is invalid: tarfile stops listing there and torch still unpickles the storages member"
    },
    {
      file: "two_directories.pt",
      bytes: twoDirectories([["archive/data.pkl", payload], ["archive/version", version]], [["archive/data.pkl", emptyDict], ["archive/version", version]]),
      torchExecutes: true,
      note: "two central directories: torch reads the one at the stored offset, the payload's"
    },
    {
      file: "two_end_records.pt",
      bytes: twoEndRecords([["archive/data.pkl", payload], ["archive/version", version]], [["archive/data.pkl", emptyDict], ["archive/version", version]]),
      torchExecutes: true,
      note: "two end records: torch takes the last signature, whose directory lists the payload"
    }
  ]
}
