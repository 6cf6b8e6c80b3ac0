/**
 * Node's native CRC-32 (zlib's, Node ≥ 20.15 / 22.2) as core's
 * `Checksum.Crc32` service: several times faster than the table-driven one
 * on large storages. `NodeSave` and `NodeStreaming` provide it themselves;
 * provide `layer` to use it with core's `Save`, `Module.save`,
 * `Streaming.toArchive` and `Zip.open(..., { checkCrc: true })`.
 *
 * @since 0.2.0
 */
import * as Checksum from "@torchwire/core/Checksum"
import * as Layer from "effect/Layer"
import * as zlib from "node:zlib"

/**
 * zlib's CRC-32, where this Node has it.
 *
 * @since 0.2.0
 * @category utils
 */
export const crc32: Checksum.Crc32Service["update"] | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === "function"
    ? (data, crc) => (zlib as unknown as { crc32: (d: Uint8Array, c: number) => number }).crc32(data, crc)
    : undefined

/**
 * The `Checksum.Crc32` service on zlib's CRC-32; on a Node without it, core's
 * default stays.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<never> = crc32 === undefined ? Layer.empty : Checksum.layer(crc32)
