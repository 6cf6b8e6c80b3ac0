/**
 * Members of tar archives (the PyTorch 0.1.x checkpoint container).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { ByteSource } from "./ByteSource.js"
import type { CheckpointError, SourceError } from "./Errors.js"
import * as internal from "./internal/container/tar.js"

/**
 * A tar member: its name, and where its data lies in the source.
 *
 * @since 0.1.0
 * @category models
 */
export type TarMember = internal.TarMember

/**
 * Lists the regular-file members of a tar archive (ustar, PAX and GNU long
 * names), reading one header per member.
 *
 * @since 0.1.0
 * @category constructors
 */
export const list: (source: ByteSource, maxMembers?: number) => Effect.Effect<Array<TarMember>, CheckpointError | SourceError> = internal.listTar
