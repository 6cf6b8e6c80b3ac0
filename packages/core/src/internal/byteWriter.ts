/**
 * A growable little-endian byte buffer for encoders.
 *
 * @internal
 */
export class ByteWriter {
  private buf: Uint8Array
  private view: DataView
  length = 0

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity)
    this.view = new DataView(this.buf.buffer)
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n))
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  byte(b: number): this {
    this.reserve(1)
    this.buf[this.length++] = b
    return this
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
    return this
  }

  /** ASCII text (every char code below 256). */
  ascii(s: string): this {
    this.reserve(s.length)
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i)
    return this
  }

  u16(v: number): this {
    this.reserve(2)
    this.view.setUint16(this.length, v, true)
    this.length += 2
    return this
  }

  u32(v: number): this {
    this.reserve(4)
    this.view.setUint32(this.length, v, true)
    this.length += 4
    return this
  }

  i32(v: number): this {
    this.reserve(4)
    this.view.setInt32(this.length, v, true)
    this.length += 4
    return this
  }

  u64(v: number | bigint): this {
    this.reserve(8)
    this.view.setBigUint64(this.length, BigInt(v), true)
    this.length += 8
    return this
  }

  f64be(v: number): this {
    this.reserve(8)
    this.view.setFloat64(this.length, v, false)
    this.length += 8
    return this
  }

  /** A copy of the bytes written. */
  result(): Uint8Array {
    return this.buf.slice(0, this.length)
  }

  /** The bytes written since `from`, as a view (valid until the next write). */
  view_(from: number): Uint8Array {
    return this.buf.subarray(from, this.length)
  }

  /** Drops everything from `from` on. */
  truncate(from: number): void {
    this.length = from
  }
}
