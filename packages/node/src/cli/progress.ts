/**
 * Progress of long CLI work, written as one line rewritten in place (to a
 * TTY's stderr: the commands pass no writer elsewhere).
 *
 * @internal
 */
import { formatBytes } from "../Inspect.js"

/**
 * A progress bar: updated at most once per whole percent, silent for work
 * under `minBytes`; the line ends when the work is done.
 *
 * @internal
 */
export const progressReporter = (write: (text: string) => void, label: string, minBytes = 64 * 2 ** 20) => {
  let shown = -1
  return (done: number, total: number): void => {
    if (total < minBytes) return
    const percent = Math.floor((100 * Math.min(done, total)) / total)
    if (percent === shown) return
    shown = percent
    const bar = "#".repeat(Math.floor(percent / 4)).padEnd(25, ".")
    write(`\r${label} [${bar}] ${percent}% (${formatBytes(Math.min(done, total))} of ${formatBytes(total)})${done >= total ? "\n" : ""}`)
  }
}

/**
 * Progress of work whose total may become known on the way (a checkpoint
 * arriving: its header declares the bytes to come): a running count every
 * `step` bytes until then, a bar after.
 *
 * @internal
 */
export const countReporter = (write: (text: string) => void, label: string, step = 64 * 2 ** 20) => {
  let next = step
  let bar: ((done: number) => void) | undefined
  let lineOpen = false
  return {
    /** The total, once known. */
    setTotal: (total: number): void => {
      const report = progressReporter((t) => (write(t), lineOpen = !t.endsWith("\n")), label, step)
      bar = (done) => report(done, total)
    },
    report: (done: number): void => {
      if (bar !== undefined) return bar(done)
      if (done < next) return
      next = done + step
      lineOpen = true
      write(`\r${label} ${formatBytes(done)}`)
    },
    /** Ends the line, if one is open. */
    finish: (): void => {
      if (lineOpen) write("\n")
      lineOpen = false
    }
  }
}
