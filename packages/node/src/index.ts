/**
 * torchwire for Node.js: file sources, atomic saves, TCP and HTTP streaming,
 * and the text reports the CLI prints. The CLI itself is the package's
 * `torchwire` bin, not part of this entry (importing it loads no CLI code).
 *
 * @since 0.1.0
 */

/** @since 0.2.0 */
export * as NodeChecksum from "./NodeChecksum.js"
/** @since 0.3.0 */
export * as NodeDcp from "./NodeDcp.js"
/** @since 0.3.0 */
export * as NodeDirectory from "./NodeDirectory.js"
/** @since 0.1.0 */
export * as NodeSave from "./NodeSave.js"
/** @since 0.2.0 */
export * as NodeShards from "./NodeShards.js"
/** @since 0.1.0 */
export * as NodeStreaming from "./NodeStreaming.js"
/** @since 0.1.0 */
export * as NodeSource from "./NodeSource.js"
/** @since 0.1.0 */
export * as Inspect from "./Inspect.js"
