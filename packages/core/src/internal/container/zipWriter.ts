/**
 * Pure builders for the zip structures torch's writer (PyTorchStreamWriter
 * over miniz) emits: local headers with the `FB` alignment extra, data
 * descriptors, central-directory entries and the three end records.
 * Facts from shared/spec/format-facts.md §5.
 *
 * @internal
 */
import { ByteWriter } from "../byteWriter.js"
import { SIG } from "./zipFormat.js"

const MAX32 = 0xffffffff
const utf8 = new TextEncoder()

/** What the central directory needs to know of a written record. @internal */
export interface WrittenEntry {
  readonly name: Uint8Array
  readonly size: number
  readonly crc: number
  readonly headerOffset: number
}

/** True when a record needs a zip64 extra (and a 24-byte descriptor). @internal */
export const needsZip64 = (size: number, headerOffset: number): boolean => size >= MAX32 || headerOffset >= MAX32

/**
 * The local header of a STORED record whose header starts at `cursor`,
 * padded so its data starts at a multiple of `alignment`.
 *
 * @internal
 */
export const localHeader = (cursor: number, name: string, size: number, alignment: number): { readonly bytes: Uint8Array; readonly name: Uint8Array } => {
  const nameBytes = utf8.encode(name)
  const bigSize = size >= MAX32
  const bigOffset = cursor >= MAX32
  const zip64Length = bigSize || bigOffset ? 4 + (bigSize ? 16 : 0) + (bigOffset ? 8 : 0) : 0
  const start = cursor + 30 + nameBytes.length + 4 + zip64Length
  const padding = (alignment - (start % alignment)) % alignment
  const w = new ByteWriter(30 + nameBytes.length + zip64Length + 4 + padding)
  w.u32(SIG.local).u16(0).u16(size > 0 ? 0x0808 : 0x0800).u16(0).u16(0).u16(0)
  w.u32(0).u32(0).u32(0).u16(nameBytes.length).u16(zip64Length + 4 + padding)
  w.bytes(nameBytes)
  if (zip64Length > 0) {
    w.u16(0x0001).u16(zip64Length - 4)
    if (bigSize) w.u64(size).u64(size)
    if (bigOffset) w.u64(cursor)
  }
  w.u16(0x4246).u16(padding)
  for (let i = 0; i < padding; i++) w.byte(0x5a)
  return { bytes: w.result(), name: nameBytes }
}

/** The data descriptor after a record's data (none for empty records). @internal */
export const dataDescriptor = (entry: WrittenEntry): Uint8Array => {
  if (entry.size === 0) return new Uint8Array(0)
  const w = new ByteWriter(24)
  w.u32(SIG.descriptor).u32(entry.crc)
  if (needsZip64(entry.size, entry.headerOffset)) w.u64(entry.size).u64(entry.size)
  else w.u32(entry.size).u32(entry.size)
  return w.result()
}

/**
 * The central directory and the end records (zip64 end record, zip64
 * locator, end of central directory), for a directory starting at
 * `cdOffset`.
 *
 * @internal
 */
export const centralDirectory = (entries: ReadonlyArray<WrittenEntry>, cdOffset: number): Uint8Array => {
  const w = new ByteWriter(entries.length * 80 + 100)
  for (const e of entries) {
    const bigSize = e.size >= MAX32
    const bigOffset = e.headerOffset >= MAX32
    const extra = bigSize || bigOffset ? 4 + (bigSize ? 16 : 0) + (bigOffset ? 8 : 0) : 0
    w.u32(SIG.central).u16(0).u16(0).u16(e.size > 0 ? 0x0808 : 0x0800).u16(0).u16(0).u16(0)
    w.u32(e.crc).u32(Math.min(e.size, MAX32)).u32(Math.min(e.size, MAX32))
    w.u16(e.name.length).u16(extra).u16(0).u16(0).u16(0).u32(0).u32(Math.min(e.headerOffset, MAX32))
    w.bytes(e.name)
    if (extra > 0) {
      w.u16(0x0001).u16(extra - 4)
      if (bigSize) w.u64(e.size).u64(e.size)
      if (bigOffset) w.u64(e.headerOffset)
    }
  }
  const cdSize = w.length
  const z64At = cdOffset + cdSize
  w.u32(SIG.zip64End).u64(44).u16(0x031e).u16(0x002d).u32(0).u32(0)
  w.u64(entries.length).u64(entries.length).u64(cdSize).u64(cdOffset)
  w.u32(SIG.zip64Locator).u32(0).u64(z64At).u32(1)
  w.u32(SIG.end).u16(0).u16(0).u16(Math.min(entries.length, 0xffff)).u16(Math.min(entries.length, 0xffff))
  w.u32(Math.min(cdSize, MAX32)).u32(Math.min(cdOffset, MAX32)).u16(0)
  return w.result()
}

/**
 * A 40-digit `.data/serialization_id`: two 64-bit `c10::hash_combine` folds,
 * of the record names and of the descriptor CRCs. torch's own digits depend
 * on libstdc++'s string hash and cannot be reproduced across platforms
 * (format-facts §5.8); nothing reads the value, so FNV-1a stands in for it.
 *
 * @internal
 */
export const serializationId = (names: ReadonlyArray<string>, crcs: ReadonlyArray<number>): string => {
  const mask = (1n << 64n) - 1n
  const combine = (seed: bigint, v: bigint) => (seed ^ ((v + 0x9e3779b9n + (seed << 6n) + (seed >> 2n)) & mask)) & mask
  const fnv = (s: string) => {
    let h = 0xcbf29ce484222325n
    for (const b of utf8.encode(s)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & mask
    return h
  }
  const a = names.reduce((seed, n) => combine(seed, fnv(n)), 0n)
  const b = crcs.reduce((seed, c) => combine(seed, BigInt(c)), 0n)
  return a.toString().padStart(20, "0") + b.toString().padStart(20, "0")
}
