/**
 * Python's `repr` for the scalar values pickletools prints: str, bytes,
 * int and float. Used so `dis` output matches `pickletools.dis` exactly.
 *
 * @internal
 */

/** `repr(float)`: shortest round-trip digits, Python's exponent rules. @internal */
export const reprFloat = (x: number): string => {
  if (Number.isNaN(x)) return "nan"
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf"
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0"
  const [mant, expStr] = x.toExponential().split("e") as [string, string]
  const exp = Number(expStr)
  const neg = mant.startsWith("-")
  const digits = mant.replace("-", "").replace(".", "")
  let out: string
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
    out = `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`
  } else if (exp < 0) {
    out = `0.${"0".repeat(-exp - 1)}${digits}`
  } else if (digits.length <= exp + 1) {
    out = `${digits}${"0".repeat(exp + 1 - digits.length)}.0`
  } else {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
  }
  return neg ? `-${out}` : out
}

const isPrintable = (cp: number): boolean =>
  !(cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp === 0xad || (cp >= 0xd800 && cp < 0xe000) ||
    /\p{C}|\p{Z}/u.test(String.fromCodePoint(cp)) && cp !== 0x20)

/** `repr(str)`. @internal */
export const reprStr = (s: string): string => {
  const quote = s.includes("'") && !s.includes("\"") ? "\"" : "'"
  let out = quote
  for (const ch of s) {
    const cp = ch.codePointAt(0)!
    if (ch === quote || ch === "\\") out += "\\" + ch
    else if (ch === "\n") out += "\\n"
    else if (ch === "\r") out += "\\r"
    else if (ch === "\t") out += "\\t"
    else if (isPrintable(cp)) out += ch
    else if (cp < 0x100) out += "\\x" + cp.toString(16).padStart(2, "0")
    else if (cp < 0x10000) out += "\\u" + cp.toString(16).padStart(4, "0")
    else out += "\\U" + cp.toString(16).padStart(8, "0")
  }
  return out + quote
}

/** `repr(bytes)`. @internal */
export const reprBytes = (b: Uint8Array): string => {
  let hasSingle = false
  let hasDouble = false
  for (const x of b) {
    if (x === 0x27) hasSingle = true
    if (x === 0x22) hasDouble = true
  }
  const quote = hasSingle && !hasDouble ? "\"" : "'"
  let out = "b" + quote
  for (const x of b) {
    if (x === quote.charCodeAt(0) || x === 0x5c) out += "\\" + String.fromCharCode(x)
    else if (x === 0x0a) out += "\\n"
    else if (x === 0x0d) out += "\\r"
    else if (x === 0x09) out += "\\t"
    else if (x >= 0x20 && x < 0x7f) out += String.fromCharCode(x)
    else out += "\\x" + x.toString(16).padStart(2, "0")
  }
  return out + quote
}
