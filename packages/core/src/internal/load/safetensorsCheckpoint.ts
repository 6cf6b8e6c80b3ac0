/**
 * A safetensors file as a checkpoint: what `safetensors.torch.load_file`
 * returns, a dict of tensors in file order, each a lazy read of its bytes.
 * Reading the header is the only read.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type { ByteSource } from "../../ByteSource.js"
import { attempt, CheckpointError } from "../../Errors.js"
import type { PyValue } from "../../Value.js"
import { RecordBytes } from "../container/recordBytes.js"
import { dtypeInfo, type Header } from "../format/safetensors.js"
import { dtypeByName } from "../torch/dtypes.js"
import { Storage, Tensor } from "../torch/model.js"
import { contiguousStrides } from "../torch/shape.js"

/**
 * The tensors of a parsed header, by name in file order, over `source`.
 * A dtype torchwire has no torch dtype for (F6_E2M3, F6_E3M2) is an
 * `UnknownDtype` error naming the tensor.
 *
 * @internal
 */
export const tensorsOf = (source: ByteSource, header: Header): Effect.Effect<Map<PyValue, PyValue>, CheckpointError> =>
  attempt(() => {
    const out = new Map<PyValue, PyValue>()
    for (const t of header.tensors) {
      const name = dtypeInfo.get(t.dtype)!.torch
      const dtype = name === undefined ? undefined : dtypeByName(name)
      if (dtype === undefined) {
        throw new CheckpointError({ reason: "UnknownDtype", offset: t.start, record: t.name, detail: `tensor ${JSON.stringify(t.name)} has dtype ${t.dtype}, which no torch dtype holds` })
      }
      // F4 packs two elements a byte: the header counts elements, torch's float4_e2m1fn_x2 bytes.
      const shape = t.dtype === "F4" ? [...t.shape.slice(0, -1), (t.shape.at(-1) ?? 0) / 2] : t.shape
      const bytes = RecordBytes.SourceRange({ source, offset: t.start, size: t.end - t.start })
      const storage = new Storage({ key: t.name, dtype, record: t.name, bytes })
      out.set(t.name, new Tensor(dtype, shape, contiguousStrides(shape), 0, storage, false))
    }
    return out
  }, CheckpointError)
