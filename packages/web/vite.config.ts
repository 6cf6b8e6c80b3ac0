import { defineConfig } from "vite"

/** A static page usable from any folder and offline once loaded: relative asset paths, module workers. */
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: true },
  worker: { format: "es" }
})
