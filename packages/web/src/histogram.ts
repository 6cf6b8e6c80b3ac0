/**
 * Draws a histogram on a canvas: one bar per bin, heights scaled to the
 * largest bin, the range's ends written under the axis.
 */
export const drawHistogram = (canvas: HTMLCanvasElement, bins: ReadonlyArray<number>, min: number, max: number): void => {
  const g = canvas.getContext("2d")
  if (g === null) return
  const { width, height } = canvas
  const plot = height - 20
  g.clearRect(0, 0, width, height)
  const top = Math.max(1, ...bins)
  const w = width / Math.max(1, bins.length)
  g.fillStyle = "#2a62c9"
  bins.forEach((n, i) => {
    const h = (n / top) * (plot - 4)
    g.fillRect(i * w + 1, plot - h, Math.max(1, w - 2), h)
  })
  g.fillStyle = "#333"
  g.font = "11px sans-serif"
  g.fillText(Number.isFinite(min) ? min.toPrecision(4) : "—", 2, height - 5)
  const right = Number.isFinite(max) ? max.toPrecision(4) : "—"
  g.fillText(right, width - g.measureText(right).width - 2, height - 5)
}
