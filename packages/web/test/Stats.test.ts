/**
 * The viewer's widening and statistics against real torch 2.13: every byte
 * of every one-byte float format, float4 nibbles, float16 and bfloat16
 * patterns decode to the values torch gives them; the statistics of random
 * tensors equal a direct computation.
 */
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import * as fc from "fast-check"
import { assert, describe, it } from "vitest"
import { statsOf, widen } from "../src/stats.js"

const python = process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")

/** torch's float values of the given bit patterns of a dtype, as JSON (NaN and ±Inf as strings). */
const torchValues = (dtype: string, width: number, patterns: ReadonlyArray<number>): Array<number> => {
  const script = [
    "import sys, json, torch",
    "dtype, width, patterns = getattr(torch, sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])",
    "raw = torch.tensor(patterns, dtype=torch.int64).to(torch.uint8 if width == 1 else torch.int16 if width == 2 else torch.int32)",
    "vals = raw.view(dtype).to(torch.float64).tolist() if dtype != torch.float4_e2m1fn_x2 else []",
    "print(json.dumps([str(v) if v != v or v in (float('inf'), float('-inf')) else v for v in vals]))"
  ].join("\n")
  const out = JSON.parse(execFileSync(python, ["-c", script, dtype, String(width), JSON.stringify(patterns)], { encoding: "utf8" })) as Array<number | string>
  return out.map((v) => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : (v as number)))
}

const same = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || a === b

describe("widening every dtype as torch does", () => {
  const bytes = Array.from({ length: 256 }, (_, i) => i)
  for (const dtype of ["float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu"]) {
    it(`${dtype}: all 256 bytes`, () => {
      const expected = torchValues(dtype, 1, bytes)
      const { values } = widen(Uint8Array.from(bytes), dtype)
      bytes.forEach((b) => assert.isTrue(same(values[b]!, expected[b]!), `${dtype} byte ${b}: ${values[b]} vs ${expected[b]}`))
    })
  }

  it("float16 and bfloat16: every 257th pattern and the specials", () => {
    const patterns = [...Array.from({ length: 256 }, (_, i) => i * 257), 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x8000, 0x7f80, 0xff80, 0x7fc0]
    for (const dtype of ["float16", "bfloat16"]) {
      const signed = patterns.map((p) => (p >= 0x8000 ? p - 0x10000 : p))
      const expected = torchValues(dtype, 2, signed)
      const bytes16 = new Uint8Array(new Uint16Array(patterns).buffer)
      const { values } = widen(bytes16, dtype)
      patterns.forEach((p, i) => assert.isTrue(same(values[i]!, expected[i]!), `${dtype} 0x${p.toString(16)}: ${values[i]} vs ${expected[i]}`))
    }
  })

  it("float4_e2m1fn_x2: the 16 values of a nibble, low nibble first", () => {
    const { values } = widen(Uint8Array.of(0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe), "float4_e2m1fn_x2")
    assert.deepStrictEqual([...values], [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6])
  })

  it("integers, 64-bit ones included, and complex magnitudes", () => {
    assert.deepStrictEqual([...widen(new Uint8Array(new BigInt64Array([-5n, 2n ** 40n]).buffer), "int64").values], [-5, 2 ** 40])
    assert.deepStrictEqual([...widen(new Uint8Array(new Float32Array([3, 4]).buffer), "complex64").values], [5])
    assert.strictEqual(widen(Uint8Array.of(1), "qint8").of, "integer representation")
  })
})

describe("statistics", () => {
  it("equal a direct computation (property: random float32 tensors with NaN, Inf and zeros)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constant(NaN), fc.constant(Infinity), fc.constant(0)), { minLength: 1, maxLength: 300 }), (xs) => {
        const f32 = Float32Array.from(xs)
        const s = statsOf(new Uint8Array(f32.buffer), "float32", 16)
        const finite = [...f32].filter(Number.isFinite)
        assert.strictEqual(s.count, f32.length)
        assert.strictEqual(s.nan, [...f32].filter(Number.isNaN).length)
        assert.strictEqual(s.inf, [...f32].filter((x) => x === Infinity || x === -Infinity).length)
        assert.strictEqual(s.zeros, [...f32].filter((x) => x === 0).length)
        assert.strictEqual(s.histogram.reduce((a, b) => a + b, 0), finite.length)
        if (finite.length === 0) return assert.isTrue(Number.isNaN(s.mean))
        const mean = finite.reduce((a, b) => a + b, 0) / finite.length
        assert.strictEqual(s.min, Math.min(...finite))
        assert.strictEqual(s.max, Math.max(...finite))
        assert.approximately(s.mean, mean, 1e-6 * Math.max(1, ...finite.map(Math.abs)))
        const std = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / finite.length)
        assert.approximately(s.std, std, 1e-6 * Math.max(1, ...finite.map(Math.abs)))
      })
    )
  })
})
