/**
 * The CLI's defaults, apart from the handlers (the grammar's help names
 * them, and the handlers load only when a command runs).
 *
 * @internal
 */

/** Items shown per container by default. @internal */
export const DEFAULT_LIMIT = 50

/** Lines `inspect --all` prints at most: shared references can describe a tree without end. @internal */
export const ALL_LINES = 1_000_000

/**
 * Files a folder's scan looks at, by extension: torch.save's usual names,
 * pickles, TorchScript and mobile modules, streams, tar and zip files.
 *
 * @internal
 */
export const SCANNED_EXTENSIONS = /\.(pt|pth|bin|ckpt|pkl|pickle|ptl|ff|jit|torchscript|stream|tar|zip|dat|data|joblib|safetensors)$/i
