/**
 * torch objects as they appear in checkpoints: dtypes, devices, sizes,
 * storages and lazy tensors.
 *
 * A `Tensor` holds only metadata and a `Storage` handle; its bytes are read
 * from the checkpoint when asked for (`bytes`, `toTypedArray`, `toFloat32`),
 * inside the Scope that keeps the file open.
 *
 * The model lives in `internal/torch/`: dtypes, the objects, shape and
 * stride arithmetic, tensor bytes, and constructors.
 *
 * @since 0.1.0
 */
export { DType, dtypeByName, dtypes, legacyStorageDtypes, qschemes, scalarTypes } from "./internal/torch/dtypes.js"
export { Device, Layout, Parameter, QScheme, type Quantization, Storage, type StorageOptions, StorageType, Tensor, TorchSize } from "./internal/torch/model.js"
export { RecordBytes } from "./internal/container/recordBytes.js"
export { contiguousStrides, gather, numel, requiredBytes, requiredElements } from "./internal/torch/shape.js"
export { byteSwap, bytes, halfToFloat, MAX_MATERIALIZED_BYTES, swapWidth, type TensorArray, toFloat32, toTypedArray } from "./internal/torch/tensorBytes.js"
export { encodeElements, floatToBFloat16, floatToHalf, fromBytes, parameter, tensor, type TensorOptions } from "./internal/torch/constructors.js"
