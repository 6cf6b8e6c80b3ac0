/**
 * Schemas for the records torch.load decodes along the way: the archive
 * version, the byte order, and the persistent ids of storages.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CheckpointError } from "../../Errors.js"
import { StorageType } from "./model.js"
import { PyTuple, type PyValue } from "../../Value.js"

/** The legacy format's magic number, `0x1950A86A20F9469CFC6C`: its first pickle. @internal */
export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn
/** The legacy format's protocol version: its second pickle. @internal */
export const LEGACY_PROTOCOL = 1001

/** `version` / `.data/version`: decimal text (torch parses with stoull), 1..10. @internal */
export const ArchiveVersion = Schema.compose(Schema.Trim, Schema.NumberFromString).pipe(Schema.int(), Schema.between(1, 10))

/** `byteorder`. @internal */
export const ByteOrder = Schema.Literal("little", "big")

/** `.format_version` and `.storage_alignment`: decimal text. @internal */
export const DecimalRecord = Schema.compose(Schema.Trim, Schema.NumberFromString).pipe(Schema.int(), Schema.nonNegative())

const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** The zip format's storage persistent id: ('storage', class, key, location, numel). @internal */
export const StoragePid = Schema.Tuple(
  Schema.Literal("storage"),
  Schema.instanceOf(StorageType),
  Schema.String,
  Schema.String,
  Count
)

/** The legacy format's: the same plus view metadata (view_key, offset, size) or None. @internal */
export const LegacyStoragePid = Schema.Tuple(
  Schema.Literal("storage"),
  Schema.instanceOf(StorageType),
  Schema.String,
  Schema.String,
  Count,
  Schema.Union(Schema.Null, Schema.Tuple(Schema.String, Count, Count))
)

/**
 * Decodes a record with a schema, failing with a `CheckpointError` that
 * names the record and offset.
 *
 * @internal
 */
export const decodeRecord = <A, I>(
  schema: Schema.Schema<A, I>,
  input: unknown,
  where: { readonly record: string; readonly offset: number; readonly reason?: CheckpointError["reason"] }
): A => {
  const result = Schema.decodeUnknownEither(schema)(input)
  if (Either.isRight(result)) return result.right
  throw new CheckpointError({
    reason: where.reason ?? "BadRecord",
    record: where.record,
    offset: where.offset,
    detail: ParseResult.TreeFormatter.formatErrorSync(result.left)
  })
}

/** A persistent id as plain JS for schema decoding: tuples become arrays, Python 2 bytes become text. @internal */
export const pidItems = (pid: PyValue): unknown =>
  pid instanceof PyTuple
    ? pid.items.map((i) => (i instanceof Uint8Array ? new TextDecoder().decode(i) : i instanceof PyTuple ? pidItems(i) : i))
    : pid

/** Decodes a short ASCII record. @internal */
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
