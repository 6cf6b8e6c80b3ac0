/**
 * The CRC-32 that zip archives carry, as a service: core's table-driven
 * implementation by default (platform-independent), replaced by a faster
 * native one where the platform has it (`@torchwire/node`'s
 * `NodeChecksum.layer`: zlib's), as `@effect/platform` services are.
 * `Save`, `Module.save`, `Streaming.toArchive` and `Zip.open` (with
 * `checkCrc`) use the one in their context.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import { crc32 as tableCrc32 } from "./internal/container/crc32.js"

/**
 * A CRC-32 (the zip polynomial): `update(data, crc)` continues `crc` over
 * `data` (start from 0).
 *
 * @since 0.2.0
 * @category models
 */
export interface Crc32Service {
  readonly update: (data: Uint8Array, crc: number) => number
}

/**
 * The CRC-32 service; without one provided, core's table-driven
 * implementation.
 *
 * @since 0.2.0
 * @category tags
 */
export class Crc32 extends Context.Reference<Crc32>()("@torchwire/core/Checksum/Crc32", {
  defaultValue: (): Crc32Service => ({ update: tableCrc32 })
}) {}

/**
 * A layer providing `update` as the CRC-32.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (update: Crc32Service["update"]): Layer.Layer<never> => Layer.succeed(Crc32, { update })
