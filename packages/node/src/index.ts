/**
 * torchwire for Node.js: file sources and the CLI.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodeSave from "./NodeSave.js"
/** @since 0.1.0 */
export * as NodeStreaming from "./NodeStreaming.js"
/** @since 0.1.0 */
export * as NodeSource from "./NodeSource.js"
/** @since 0.1.0 */
export * as Inspect from "./Inspect.js"
/** @since 0.1.0 */
export * as Cli from "./Cli.js"
