// Panel packing: copies a block of an operand into the micro-kernel's layout, converting to FP32 on the way.
//
// A "line" is a row of C's side of the operand: a row of A (width MR panels) or a column of C taken from B
// (width NR panels). A packed panel is (kc, width), k-major: dst[p*width + l], zero-padded past the last line,
// so the micro-kernel never sees a ragged edge in K-order. Two storage orders cover every layout:
//   RowsPacker     element (line, k) at data[line*ld + k]  — A in NN/NT, B in NT (weights (N,K)), all FP8/BF16
//   ColumnsPacker  element (line, k) at data[k*ld + line]  — A in TN, B in NN/TN
// BF16 and FP8 E4M3 are widened while packing (FP8 optionally times its 128x128 weight_scale_inv), so the
// quantized GEMMs run the same FP32 micro-kernel.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

/// <summary>One GEMM operand as the packers see it. Scales (optional) multiply each element by
/// Scales[(line/128)*ScaleCols + k/128] while packing (FP8 weight dequantization).</summary>
internal unsafe struct GemmOperand
{
    public void* Data;
    public long Ld;
    public float* Scales;
    public int ScaleCols;
}

internal unsafe interface IPanelPacker
{
    /// <summary>Packs lines [line0, line0+lines) × k [k0, k0+kc) into ceil(lines/width) panels of (kc, width).
    /// May write up to 8 floats past the last panel (buffers carry that slack).</summary>
    static abstract void Pack(in GemmOperand src, int line0, int lines, int k0, int kc, int width, float* dst, bool vector);
}

internal unsafe interface IGemmElement
{
    static abstract float Load(void* data, long index);
    /// <summary>Eight consecutive elements widened to FP32 (only called when Vector256/AVX2 is available).</summary>
    static abstract Vector256<float> Load8(void* data, long index);
}

internal readonly unsafe struct F32Element : IGemmElement
{
    public static float Load(void* data, long index) => ((float*)data)[index];
    public static Vector256<float> Load8(void* data, long index) => Avx.LoadVector256((float*)data + index);
}

internal readonly unsafe struct Bf16Element : IGemmElement
{
    public static float Load(void* data, long index) => Bf16.ToFloat(((ushort*)data)[index]);
    public static Vector256<float> Load8(void* data, long index) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)data + index), 16).AsSingle();
}

internal readonly unsafe struct E4M3Element : IGemmElement
{
    public static float Load(void* data, long index) => Fp8E4M3.ToFloat(((byte*)data)[index]);
    public static Vector256<float> Load8(void* data, long index) => GemmFormats.E4M3ToFloat8((sbyte*)data + index);
}

/// <summary>E4M3 from an operand known to hold no NaN code (GemmFormats.HasNaNCode): three fewer instructions
/// per 8 values.</summary>
internal readonly unsafe struct E4M3FiniteElement : IGemmElement
{
    public static float Load(void* data, long index) => Fp8E4M3.ToFloat(((byte*)data)[index]);
    public static Vector256<float> Load8(void* data, long index) => GemmFormats.E4M3ToFloat8IgnoringNaN((sbyte*)data + index);
}

[SkipLocalsInit]
internal readonly unsafe struct RowsPacker<TElem> : IPanelPacker where TElem : IGemmElement
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    public static void Pack(in GemmOperand src, int line0, int lines, int k0, int kc, int width, float* dst, bool vector)
    {
        if (vector && width < 4)
            throw new ArgumentOutOfRangeException(nameof(width), width, "Vector packing needs panels of at least 4 lines.");
        // Groups of 8 lines go last to first: a group that ends a panel row short of 8 floats (width 6; width 12 on
        // the scaled path, whose last group is not the 4-line transpose) stores 8 anyway and spills into the start
        // of the next row, which the lower groups write afterwards.
        int lastGroup = (width - 1) & ~7;
        Vector256<float>* t = stackalloc Vector256<float>[8];
        for (int l0 = 0; l0 < lines; l0 += width, dst += (long)kc * width)
        {
            int lw = Math.Min(width, lines - l0);
            int p = 0;
            if (vector && src.Scales == null)
            {
                for (int g = lastGroup; g >= 0; g -= 8)
                    if (width - g == 4)   // the last 4 lines of a 12-wide panel: half the work of an 8-line group
                        Transposed4(src.Data, (long)(line0 + l0 + g) * src.Ld + k0, src.Ld, Math.Min(4, lw - g), kc, width, dst + g);
                    else
                        Transposed8(src.Data, (long)(line0 + l0 + g) * src.Ld + k0, src.Ld, Math.Min(8, lw - g), kc, width, dst + g);
                p = kc & ~7;
            }
            else if (vector)
            {
                for (; p + 8 <= kc; p += 8)
                {
                    for (int g = lastGroup; g >= 0; g -= 8)
                    {
                        for (int l = 0; l < 8; l++)
                            t[l] = g + l < lw ? Load8Scaled(src, line0 + l0 + g + l, k0 + p) : Vector256<float>.Zero;
                        Transpose8x8(t);
                        for (int q = 0; q < 8; q++) Avx.Store(dst + (p + q) * width + g, t[q]);
                    }
                }
            }
            for (; p < kc; p++)
                for (int l = 0; l < width; l++)
                    dst[p * width + l] = l < lw ? LoadScaled(src, line0 + l0 + l, k0 + p) : 0f;
        }
    }

    /// <summary>Up to 8 lines (<paramref name="count"/>; missing ones are zero) starting at element
    /// <paramref name="start"/>, stride <paramref name="ld"/>, transposed 8 k at a time into
    /// dst[p*width + l] for p in [0, kc &amp; ~7), all in registers. Row q of a transposed block is stored as 8
    /// floats: when fewer than 8 remain in the panel row (width 6, or the last group of width 12) the store spills
    /// into row q+1, which the next store (or a lower group, the caller's scalar tail, or the next panel) overwrites.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transposed8(void* data, long start, long ld, int count, int kc, int width, float* dst)
    {
        Vector256<float> zero = Vector256<float>.Zero;
        for (int p = 0; p + 8 <= kc; p += 8, dst += 8 * width)
        {
            long at = start + p;
            Vector256<float> r0 = count > 0 ? TElem.Load8(data, at) : zero;
            Vector256<float> r1 = count > 1 ? TElem.Load8(data, at + ld) : zero;
            Vector256<float> r2 = count > 2 ? TElem.Load8(data, at + 2 * ld) : zero;
            Vector256<float> r3 = count > 3 ? TElem.Load8(data, at + 3 * ld) : zero;
            Vector256<float> r4 = count > 4 ? TElem.Load8(data, at + 4 * ld) : zero;
            Vector256<float> r5 = count > 5 ? TElem.Load8(data, at + 5 * ld) : zero;
            Vector256<float> r6 = count > 6 ? TElem.Load8(data, at + 6 * ld) : zero;
            Vector256<float> r7 = count > 7 ? TElem.Load8(data, at + 7 * ld) : zero;
            Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
            Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
            Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
            Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
            Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
            Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
            Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
            Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
            Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
            Avx.Store(dst + width, Avx.Permute2x128(s1, s5, 0x20));
            Avx.Store(dst + 2 * width, Avx.Permute2x128(s2, s6, 0x20));
            Avx.Store(dst + 3 * width, Avx.Permute2x128(s3, s7, 0x20));
            Avx.Store(dst + 4 * width, Avx.Permute2x128(s0, s4, 0x31));
            Avx.Store(dst + 5 * width, Avx.Permute2x128(s1, s5, 0x31));
            Avx.Store(dst + 6 * width, Avx.Permute2x128(s2, s6, 0x31));
            Avx.Store(dst + 7 * width, Avx.Permute2x128(s3, s7, 0x31));
        }
    }

    /// <summary>Up to 4 lines transposed 8 k at a time into dst[p*width + l], l &lt; 4: four 4-float stores per
    /// 8 k (exact, no spill). Its loads and shuffles repeat Transposed8's first half on purpose: a shared helper
    /// returning the vectors through out parameters measured slower on packing-bound skinny GEMMs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transposed4(void* data, long start, long ld, int count, int kc, int width, float* dst)
    {
        Vector256<float> zero = Vector256<float>.Zero;
        for (int p = 0; p + 8 <= kc; p += 8, dst += 8 * width)
        {
            long at = start + p;
            Vector256<float> r0 = count > 0 ? TElem.Load8(data, at) : zero;
            Vector256<float> r1 = count > 1 ? TElem.Load8(data, at + ld) : zero;
            Vector256<float> r2 = count > 2 ? TElem.Load8(data, at + 2 * ld) : zero;
            Vector256<float> r3 = count > 3 ? TElem.Load8(data, at + 3 * ld) : zero;
            Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
            Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
            Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);   // k 0 | 4, 1 | 5
            Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);   // k 2 | 6, 3 | 7
            Sse.Store(dst, s0.GetLower()); Sse.Store(dst + width, s1.GetLower());
            Sse.Store(dst + 2 * width, s2.GetLower()); Sse.Store(dst + 3 * width, s3.GetLower());
            Sse.Store(dst + 4 * width, s0.GetUpper()); Sse.Store(dst + 5 * width, s1.GetUpper());
            Sse.Store(dst + 6 * width, s2.GetUpper()); Sse.Store(dst + 7 * width, s3.GetUpper());
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float LoadScaled(in GemmOperand src, int line, int k)
    {
        float v = TElem.Load(src.Data, line * src.Ld + k);
        return src.Scales == null ? v : v * src.Scales[(line >> 7) * src.ScaleCols + (k >> 7)];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load8Scaled(in GemmOperand src, int line, int k)
    {
        Vector256<float> v = TElem.Load8(src.Data, line * src.Ld + k);   // k % 8 == 0: one scale block
        return src.Scales == null ? v : v * src.Scales[(line >> 7) * src.ScaleCols + (k >> 7)];
    }

    /// <summary>In-place transpose of 8 rows of 8 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(Vector256<float>* r)
    {
        Vector256<float> t0 = Avx.UnpackLow(r[0], r[1]), t1 = Avx.UnpackHigh(r[0], r[1]);
        Vector256<float> t2 = Avx.UnpackLow(r[2], r[3]), t3 = Avx.UnpackHigh(r[2], r[3]);
        Vector256<float> t4 = Avx.UnpackLow(r[4], r[5]), t5 = Avx.UnpackHigh(r[4], r[5]);
        Vector256<float> t6 = Avx.UnpackLow(r[6], r[7]), t7 = Avx.UnpackHigh(r[6], r[7]);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        r[0] = Avx.Permute2x128(s0, s4, 0x20); r[1] = Avx.Permute2x128(s1, s5, 0x20);
        r[2] = Avx.Permute2x128(s2, s6, 0x20); r[3] = Avx.Permute2x128(s3, s7, 0x20);
        r[4] = Avx.Permute2x128(s0, s4, 0x31); r[5] = Avx.Permute2x128(s1, s5, 0x31);
        r[6] = Avx.Permute2x128(s2, s6, 0x31); r[7] = Avx.Permute2x128(s3, s7, 0x31);
    }
}

[SkipLocalsInit]
internal readonly unsafe struct ColumnsPacker : IPanelPacker
{
    private const int PrefetchRows = 24, PanelsPerGroup = 8;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    public static void Pack(in GemmOperand src, int line0, int lines, int k0, int kc, int width, float* dst, bool vector)
    {
        float* data = (float*)src.Data;
        long ld = src.Ld, panel = (long)kc * width;
        int l0 = 0;
        if (vector && (width % 8 == 0 || width % 8 == 4 || width == 6))
        {
            // Full panels in groups of PanelsPerGroup, copied row by row: each k row is read as one contiguous run of
            // group·width floats (several cache lines per row, not one), and every panel is still written in order.
            // Consecutive rows are ld apart (often a new page, which the hardware prefetchers do not cross), so the
            // row PrefetchRows ahead is requested in software; prefetching past the operand's end cannot fault.
            int full = lines / width;
            for (int j0 = 0; j0 < full; j0 += PanelsPerGroup)
            {
                int group = Math.Min(PanelsPerGroup, full - j0), span = group * width;
                float* row = data + k0 * ld + line0 + j0 * width, d = dst + j0 * panel;
                long ahead = PrefetchRows * ld;
                for (int p = 0; p < kc; p++, row += ld)
                {
                    for (int f = 0; f < span; f += 16) Sse.Prefetch0(row + ahead + f);
                    Sse.Prefetch0(row + ahead + span - 1);
                    for (int j = 0; j < group; j++)
                        CopyLine(row + j * width, d + j * panel + p * width, width);
                }
            }
            l0 = full * width;
            dst += full * panel;
        }
        for (; l0 < lines; l0 += width, dst += panel)
        {
            int lw = Math.Min(width, lines - l0);
            float* row = data + k0 * ld + line0 + l0;
            for (int p = 0; p < kc; p++, row += ld)
            {
                int l = 0;
                for (; l < lw; l++) dst[p * width + l] = row[l];
                for (; l < width; l++) dst[p * width + l] = 0f;
            }
        }
    }

    /// <summary>One k row of a full panel: width floats (a multiple of 4, or 6) from src to o.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyLine(float* src, float* o, int width)
    {
        int f = 0;
        for (; f + 8 <= width; f += 8) Avx.Store(o + f, Avx.LoadVector256(src + f));
        if (width - f >= 4)
        {
            Sse.Store(o + f, Sse.LoadVector128(src + f));
            f += 4;
        }
        if (f < width) *(long*)(o + f) = *(long*)(src + f);   // width 6
    }
}
