/**
 * Recognising a file, once: which of torch's formats it holds, and the
 * container opened on the way (a zip archive's central directory, a tar
 * file's members), which every reader after it consumes instead of opening
 * the file again. The order of the checks is torch's where torch decides
 * (`torch.load`: zip first, then tar, then the legacy magic number) and the
 * most specific signature first elsewhere: zip, flatbuffer, tar (a header
 * whose checksum holds, as Python's `tarfile` checks), legacy magic number,
 * stream header, pickle.
 *
 * @internal
 */
import { FLATBUFFER_IDENTIFIER } from "../container/fbVerify.js"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { ByteSource } from "../../ByteSource.js"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { PyGlobal } from "../../Value.js"
import { openArchive, type ZipArchive } from "../container/zipArchive.js"
import { isTarHeader, listTarMembers, type TarMember } from "../container/tar.js"
import { decodeOp, makeCursor, Op, OPCODES } from "../pickle/opcodes.js"
import { unpickle } from "../pickle/unpickler.js"
import { looksLikeStream } from "../streaming/streamingFormat.js"
import { LEGACY_MAGIC } from "../torch/records.js"
import { type Header, readHeader } from "./safetensors.js"
import { hasTorchRecord } from "./torchArchive.js"

/**
 * The file formats torchwire recognizes.
 *
 * @internal
 */
export type Format = "zip" | "legacy" | "tar" | "pickle" | "torchscript" | "mobile" | "flatbuffer" | "stream" | "safetensors"

/**
 * A recognized file: its format, and what recognizing it opened.
 *
 * - `Zip`: a zip archive, its central directory read (`format`: a
 *   `torch.save` checkpoint, a TorchScript archive with `constants.pkl`, or
 *   a mobile one with `bytecode.pkl`).
 * - `Tar`: the 0.1.x tar format, its members listed (`stoppedAt`: where an
 *   invalid header ended the listing, as `tarfile` stops there).
 * - `Stream`, `Legacy`, `Pickle`, `Flatbuffer`: read by their loaders.
 *
 * @internal
 */
export type Container = Data.TaggedEnum<{
  Zip: { readonly source: ByteSource; readonly format: "zip" | "torchscript" | "mobile"; readonly archive: ZipArchive }
  Tar: { readonly source: ByteSource; readonly format: "tar"; readonly members: ReadonlyArray<TarMember>; readonly stoppedAt: number | undefined }
  Stream: { readonly source: ByteSource; readonly format: "stream" }
  Legacy: { readonly source: ByteSource; readonly format: "legacy" }
  Pickle: { readonly source: ByteSource; readonly format: "pickle" }
  Flatbuffer: { readonly source: ByteSource; readonly format: "flatbuffer" }
  Safetensors: { readonly source: ByteSource; readonly format: "safetensors"; readonly header: Header }
}>

/** Constructors and `$match`/`$is` for `Container`. @internal */
export const Container = Data.taggedEnum<Container>()

/** Options of `recognize`. @internal */
export interface RecognizeOptions {
  /** Check each zip entry's CRC-32 as it is read (default false, as torch). */
  readonly checkCrc?: boolean
}

const ascii = (bytes: Uint8Array): string => String.fromCharCode(...bytes)

/** The kind of zip archive, by the records torch's loaders look for (as torch finds them: case folded). */
const zipFormat = (archive: ZipArchive): "zip" | "torchscript" | "mobile" =>
  hasTorchRecord(archive, "bytecode.pkl") ? "mobile" : hasTorchRecord(archive, "constants.pkl") ? "torchscript" : "zip"

/**
 * Whether a file's first bytes read as the start of a pickle, as torch.load
 * would unpickle any file that is neither a zip nor a tar archive: PROTO, or
 * opcodes of any protocol (a protocol 4 pickle needs no PROTO) up to a STOP
 * or to the end of `head`, or, more loosely, a first byte below 0x80 and a
 * STOP byte somewhere (the loader then reports where the pickle goes wrong).
 */
const looksLikePickle = (head: Uint8Array): boolean => {
  if (head.length === 0) return false
  if (head[0] === Op.PROTO) return true
  if (head[0]! < 0x80 && head.includes(Op.STOP)) return true
  const c = makeCursor(head)
  try {
    while (c.pos < c.end) {
      if (OPCODES[head[c.pos]!] === undefined) return false
      // Cut short inside an argument: the head is too short to say more.
      if (!decodeOp(c) || c.code === Op.STOP) return true
    }
    return true
  } catch {
    return false
  }
}

/** True when the source's first pickle (read from its first 64 bytes) is the legacy magic number, in any protocol. */
const startsWithLegacyMagic = (source: ByteSource): Effect.Effect<boolean, TorchwireError> =>
  Effect.map(source.read(0, Math.min(source.size, 64)), (head) => {
    try {
      return unpickle(head, 0, { findClass: (module, name) => new PyGlobal(module, name) }).value === LEGACY_MAGIC
    } catch {
      return false
    }
  })

/**
 * A safetensors file: an 8-byte header length under 2^32, then `{` (no
 * pickle has four zero bytes before a `{` there). A length past the file or
 * the limit is then the safetensors file's error, not an unknown format.
 */
const looksLikeSafetensors = (head: Uint8Array): boolean =>
  head.length >= 9 && head[8] === 0x7b && head[4] === 0 && head[5] === 0 && head[6] === 0 && head[7] === 0

/**
 * Recognizes a source's format from its first bytes (and, for zip archives,
 * their record names), opening the container it finds.
 *
 * @internal
 */
export const recognize = (source: ByteSource, options: RecognizeOptions = {}): Effect.Effect<Container, TorchwireError> =>
  Effect.gen(function*() {
    const head = yield* source.read(0, Math.min(source.size, 512))
    if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
      const archive = yield* openArchive(source, { checkCrc: options.checkCrc ?? false })
      return Container.Zip({ source, format: zipFormat(archive), archive })
    }
    // torch.load would unpickle a flatbuffer module (it knows zip and tar only): Scan vets its bytes as a pickle too.
    if (head.length >= 8 && ascii(head.subarray(4, 8)) === FLATBUFFER_IDENTIFIER) return Container.Flatbuffer({ source, format: "flatbuffer" })
    if (head.length >= 8 && ascii(head.subarray(0, 8)) === "PYTORCH1") {
      return yield* new CheckpointError({ reason: "UnsupportedFormat", offset: 0, detail: "File is an unsupported archive format from the preview release." })
    }
    if (looksLikeSafetensors(head)) return Container.Safetensors({ source, format: "safetensors", header: yield* readHeader(source, head) })
    if (isTarHeader(head)) {
      const { members, stoppedAt } = yield* listTarMembers(source)
      return Container.Tar({ source, format: "tar", members, stoppedAt })
    }
    // The magic number before the stream marker: a legacy file whose first pickle names _Entry is still legacy to torch.
    if (yield* startsWithLegacyMagic(source)) return Container.Legacy({ source, format: "legacy" })
    if (looksLikeStream(head)) return Container.Stream({ source, format: "stream" })
    if (looksLikePickle(head)) return Container.Pickle({ source, format: "pickle" })
    return yield* new CheckpointError({ reason: "UnknownFormat", offset: 0, record: source.name, detail: "not a torch checkpoint: no zip, tar, legacy or pickle signature" })
  })
