/**
 * What every checkpoint loader shares: the resolved options and the
 * unpickle options torch.load semantics need.
 *
 * @internal
 */
import type { ByteSource } from "../../ByteSource.js"
import { CheckpointError } from "../../Errors.js"
import type { CallSite, UnpickleOptions } from "../pickle/hooks.js"
import { buildTorchValue, makeTorchFindClass, NUMPY_GLOBALS } from "../torch/globals.js"
import type { PyValue } from "../../Value.js"

/** What a caller may say about loading (`Checkpoint.OpenOptions`, documented there). @internal */
export interface OpenOptions {
  /**
   * Accept only the globals of torch's weights-only allowlist (default
   * true, as torch ≥ 2.6). With false, unknown globals load as opaque
   * `PyObject`s.
   */
  readonly weightsOnly?: boolean
  /** Extra `module.name` globals to accept in weights-only mode. */
  readonly allowGlobals?: Iterable<string>
  /**
   * Accept NumPy's arrays, scalars and dtypes in weights-only mode
   * (`Numpy.GLOBALS`, read with the `Numpy` module): exactly what torch
   * needs `torch.serialization.add_safe_globals` for. Default false, as
   * torch.
   */
  readonly allowNumpy?: boolean
  /** How Python 2 strings decode (default utf-8, as torch.load). */
  readonly encoding?: "utf-8" | "latin1" | "ascii" | "bytes"
  /** Verify zip CRC-32s when reading records (default false; torch never does). */
  readonly checkCrc?: boolean
  /** Refuse pickles larger than this (default 1 GiB). */
  readonly maxPickleBytes?: number
  /**
   * Most memory one pickle's values may take, as estimated while they are
   * made (default: 64 times the pickle's size, at least 64 MiB, at most
   * 1 GiB): past it, `PickleError(LimitExceeded)` instead of a process out
   * of heap.
   */
  readonly maxValueBytes?: number
}

/** The largest pickle a loader accepts unless told otherwise (`OpenOptions.maxPickleBytes`): 1 GiB. @internal */
export const DEFAULT_MAX_PICKLE_BYTES = 1 << 30

/** Options every loader receives, with defaults applied. @internal */
export interface LoadContext {
  readonly source: ByteSource
  readonly weightsOnly: boolean
  readonly allowGlobals: ReadonlySet<string>
  readonly encoding: "utf-8" | "latin1" | "ascii" | "bytes"
  /** Largest pickle accepted, in bytes. */
  readonly maxPickleBytes: number
  /** Most memory one pickle's values may take, estimated (undefined: the unpickler's default for its size). */
  readonly maxValueBytes?: number
}

/** How globals and Python 2 strings are treated: the part of the context unpickling needs. @internal */
export type PicklePolicy = Pick<LoadContext, "weightsOnly" | "allowGlobals" | "encoding" | "maxValueBytes">

/** The policy from user options, with torch.load's defaults. @internal */
export const policyOf = (options: {
  readonly weightsOnly?: boolean
  readonly allowGlobals?: Iterable<string>
  readonly allowNumpy?: boolean
  readonly encoding?: LoadContext["encoding"]
  readonly maxValueBytes?: number
}): PicklePolicy => ({
  weightsOnly: options.weightsOnly ?? true,
  allowGlobals: new Set([...(options.allowGlobals ?? []), ...(options.allowNumpy === true ? NUMPY_GLOBALS : [])]),
  encoding: options.encoding ?? "utf-8",
  ...(options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes })
})

/** Unpickle options for one record of a checkpoint. @internal */
export const pickleOptions = (
  ctx: PicklePolicy,
  record: string,
  persistentLoad?: (pid: PyValue, site: CallSite) => PyValue
): UnpickleOptions => ({
  record,
  encoding: ctx.encoding,
  ...(ctx.maxValueBytes === undefined ? {} : { maxValueBytes: ctx.maxValueBytes }),
  findClass: makeTorchFindClass({ weightsOnly: ctx.weightsOnly, allowGlobals: ctx.allowGlobals }),
  build: buildTorchValue,
  ...(persistentLoad === undefined ? {} : { persistentLoad })
})

/** A `CheckpointError` from the loaders' usual arguments. @internal */
export const checkpointError = (reason: CheckpointError["reason"], offset: number, detail: string, record?: string): CheckpointError =>
  new CheckpointError({ reason, offset, detail, ...(record === undefined ? {} : { record }) })
