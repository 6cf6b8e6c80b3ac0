/**
 * The boundaries of torchwire's layers, checked by dependency-cruiser in `pnpm test` (`pnpm check:deps`): a rule
 * broken fails the run with its name. docs/architecture.md draws the layers these rules keep apart.
 */
/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "Modules import one another in one direction: no cycle, type-only imports included.",
      severity: "error",
      from: {},
      to: { circular: true }
    },
    {
      name: "container-is-below-pickle",
      comment: "Containers (zip, tar, flatbuffer verification, the records of an archive) know bytes, not pickles or torch.",
      severity: "error",
      from: { path: "^packages/core/src/internal/container/" },
      to: { path: "^packages/core/src/(internal/(pickle|torch|streaming|format|load|save|module)/)" }
    },
    {
      name: "pickle-layer-does-not-import-torch",
      comment: "The pickle layer (opcodes, VM, pickler, Python values) knows Python values only: torch enters through hooks (findClass, persistentLoad and build when reading, reduce when writing).",
      severity: "error",
      from: { path: "^packages/core/src/(Value\\.ts|internal/pickle/)" },
      to: { path: "^packages/core/src/(internal/(torch|streaming|format|load|save|module)/|Torch\\.ts)" }
    },
    {
      name: "torch-is-below-loaders",
      comment: "torch's model, its globals and data.pkl's pickling build on the pickle layer, and know no loader or writer.",
      severity: "error",
      from: { path: "^packages/core/src/internal/torch/" },
      to: { path: "^packages/core/src/(internal/(streaming|format|load|save|module)/)" }
    },
    {
      name: "streaming-format-is-below-loaders",
      comment: "The _streaming_save framing builds on pickles and torch's records, not on loaders or writers.",
      severity: "error",
      from: { path: "^packages/core/src/internal/streaming/" },
      to: { path: "^packages/core/src/(internal/(format|load|save|module)/)" }
    },
    {
      name: "format-recognition-is-below-loaders",
      comment: "Recognizing a file (internal/format: which format, its opened container, where its pickles are) reads containers, pickles and torch's records; it knows no loader, writer or module.",
      severity: "error",
      from: { path: "^packages/core/src/internal/format/" },
      to: { path: "^packages/core/src/(internal/(load|save|module)/)" }
    },
    {
      name: "loaders-do-not-write",
      comment: "Loaders (torch.load of each format) read containers and pickles; they do not write.",
      severity: "error",
      from: { path: "^packages/core/src/internal/load/" },
      to: { path: "^packages/core/src/(internal/(save|module)/)" }
    },
    {
      name: "writers-are-below-modules",
      comment: "Writers do not reach modules.",
      severity: "error",
      from: { path: "^packages/core/src/internal/save/" },
      to: { path: "^packages/core/src/(internal/(module)/)" }
    },
    {
      name: "internals-do-not-import-public-facades",
      comment: "Public modules are facades over internal/: an internal module imports other internals, and of the public modules only the foundations (Errors, Value, ByteSource, Directory, Checksum), never a facade.",
      severity: "error",
      from: { path: "^packages/core/src/internal/" },
      to: { path: "^packages/core/src/[A-Za-z]+\\.ts$", pathNot: "^packages/core/src/(Errors|Value|ByteSource|Directory|Checksum)\\.ts$" }
    },
    {
      name: "core-is-platform-independent",
      comment: "packages/core runs in browsers: no Node built-ins (its tsconfig has no Node types either).",
      severity: "error",
      from: { path: "^packages/core/src" },
      to: { dependencyTypes: ["core"] }
    },
    {
      name: "core-does-not-import-node",
      comment: "The layers point one way: @torchwire/node builds on @torchwire/core, never the reverse.",
      severity: "error",
      from: { path: "^packages/core/src" },
      to: { path: "^packages/node/" }
    },
    {
      name: "sources-do-not-import-tests",
      comment: "Published code never reaches test helpers, fixtures or benchmarks.",
      severity: "error",
      from: { path: "^packages/(core|node)/src" },
      to: { path: "^packages/(test-utils|[^/]+/(test|bench))/" }
    },
    {
      name: "library-does-not-import-cli",
      comment: "@torchwire/node's modules never reach its CLI (src/cli/, the bins) or @effect/cli, so an app that imports NodeSource loads no CLI code; the bin bundles @effect/cli.",
      severity: "error",
      from: { path: "^packages/node/src/(?!cli/|bin\\.ts$|torchwire\\.cts$)" },
      to: { path: "^packages/node/src/(cli/|bin\\.ts$|torchwire\\.cts$)|@effect/cli" }
    },
    {
      name: "platform-node-one-module-at-a-time",
      comment: "Import @effect/platform-node's modules one by one (its index loads them all), and its HTTP stack only on first use (a dynamic import): it is large, and only serveHttp needs it.",
      severity: "error",
      from: { path: "^packages/node/src" },
      to: { path: "@effect/platform-node/dist/[^/]+/(index|NodeHttpServer|NodeHttpClient)\\.(d\\.ts|js)$", dependencyTypesNot: ["dynamic-import"] }
    },
    {
      name: "no-deep-imports-across-packages",
      comment: "Another package is used through its public modules (its exports map blocks internal/ too).",
      severity: "error",
      from: { path: "^packages/node/src" },
      to: { path: "^packages/core/src/internal/" }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^packages/[^/]+/(dist|build)/|/internal/fbs/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.base.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "default", "types"], extensions: [".ts", ".cts", ".js"] }
  }
}
