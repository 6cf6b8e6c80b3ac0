/**
 * What the unpickler VM takes and gives: its options, the hooks through
 * which a layer above (torch) resolves globals, persistent ids and BUILD,
 * the modelled constructors (`CallableGlobal`) those hooks return, and the
 * result of a run.
 *
 * @internal
 */
import { PyGlobal, type PyValue } from "../../Value.js"

/** Where in the pickle an operation happens, for the hooks' error messages. @internal */
export interface CallSite {
  readonly offset: number
  readonly record: string | undefined
}

/**
 * A global that torchwire models: `call` implements REDUCE (and NEWOBJ
 * unless `newobj` is given) without executing anything from the file.
 *
 * @internal
 */
export class CallableGlobal extends PyGlobal {
  constructor(
    module: string,
    name: string,
    readonly call: (args: ReadonlyArray<PyValue>, site: CallSite) => PyValue,
    readonly newobj?: (args: ReadonlyArray<PyValue>, site: CallSite) => PyValue
  ) {
    super(module, name)
  }
}

/** How the VM resolves globals and persistent ids. @internal */
export interface UnpickleHooks {
  /** GLOBAL, STACK_GLOBAL, INST, EXT*: module and name as written in the pickle. */
  readonly findClass: (module: string, name: string, site: CallSite) => PyValue
  /** PERSID / BINPERSID. Without it, persistent ids are an error. */
  readonly persistentLoad?: (pid: PyValue, site: CallSite) => PyValue
  /**
   * BUILD on a value of a layer above (a torch tensor takes Python state):
   * sets `state` on `obj` and says true, or says false when `obj` takes
   * none. Without it, BUILD applies to opaque objects and OrderedDicts only.
   */
  readonly build?: (obj: PyValue, state: PyValue) => boolean
}

/** Options of one unpickling run. @internal */
export interface UnpickleOptions extends UnpickleHooks {
  /** Record name for error messages. */
  readonly record?: string
  /** How Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) decodes; torch.load uses utf-8. */
  readonly encoding?: "utf-8" | "latin1" | "ascii" | "bytes"
  /** The copyreg extension registry for EXT1/EXT2/EXT4. */
  readonly extensions?: ReadonlyMap<number, readonly [string, string]>
  /** Out-of-band buffers for NEXT_BUFFER (protocol 5). */
  readonly buffers?: Iterator<Uint8Array>
  /** Offset of `buf[0]` in the file, so error offsets are file offsets. */
  readonly base?: number
  /** Most memo entries (default 5,000,000): a memo bomb would otherwise take gigabytes. */
  readonly maxMemo?: number
  /** Deepest stack (default 10,000,000 values): a run of DUPs would otherwise take gigabytes. */
  readonly maxStack?: number
  /**
   * Most values pushed in all (default 50,000,000): a pickle of a billion
   * one-byte opcodes would otherwise grow lists past the JavaScript heap.
   */
  readonly maxValues?: number
  /**
   * Most memory the values may take, as estimated while they are made
   * (default `defaultValueBytes` of the pickle's size; `memoryBudget.ts`): 49 MB of EMPTY_DICTs would otherwise
   * take 9 GB, past the JavaScript heap.
   */
  readonly maxValueBytes?: number
}

/** The outcome of one run: the value and where its STOP ended. @internal */
export interface UnpickleResult {
  readonly value: PyValue
  /** Offset just past STOP (in `buf`, not counting `base`). */
  readonly end: number
  /** The PROTO argument, or 0 if none. */
  readonly protocol: number
}
