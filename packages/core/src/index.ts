/**
 * torchwire core: read PyTorch checkpoints from TypeScript, lazily, on Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Bytecode from "./Bytecode.js"
/** @since 0.1.0 */
export * as ByteSource from "./ByteSource.js"
/** @since 0.1.0 */
export * as Checkpoint from "./Checkpoint.js"
/** @since 0.2.0 */
export * as Checksum from "./Checksum.js"
/** @since 0.2.0 */
export * as Container from "./Container.js"
/** @since 0.3.0 */
export * as Dcp from "./Dcp.js"
/** @since 0.3.0 */
export * as Directory from "./Directory.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.3.0 */
export * as HttpSource from "./HttpSource.js"
/** @since 0.1.0 */
export * as Module from "./Module.js"
/** @since 0.2.0 */
export * as Numpy from "./Numpy.js"
/** @since 0.1.0 */
export * as Pickle from "./Pickle.js"
/** @since 0.2.0 */
export * as Safetensors from "./Safetensors.js"
/** @since 0.1.0 */
export * as Save from "./Save.js"
/** @since 0.1.0 */
export * as Scan from "./Scan.js"
/** @since 0.2.0 */
export * as Shards from "./Shards.js"
/** @since 0.1.0 */
export * as Streaming from "./Streaming.js"
/** @since 0.1.0 */
export * as Summary from "./Summary.js"
/** @since 0.1.0 */
export * as Tar from "./Tar.js"
/** @since 0.1.0 */
export * as Torch from "./Torch.js"
/** @since 0.1.0 */
export * as Value from "./Value.js"
/** @since 0.1.0 */
export * as Zip from "./Zip.js"
