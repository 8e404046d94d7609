// GEMM micro-kernels: C[MR×NR] (+)= (Σ_p a[p,0..MR) ⊗ b[p,0..NR)) · rowScale, all of C held in registers.
//
//   a  packed A micro-panel (kc, MR), k-major: a[p*MR + i]
//   b  packed B micro-panel (kc, NR), k-major: b[p*NR + j]
//   c  C tile, row stride ldc (unaligned)
//   (RunStrided, 12x32 and 6x16: a and b unpacked, A(i, p) = a[p*lda + i], B(p, j) = b[p*ldb + j])
//   rowScale  null, or MR per-row factors applied to the block sum before it is added (FP8 promotion)
//
// One body per SIMD level: Vector512 12x32 (24 zmm accumulators + 2 B vectors + 1 broadcast = 27 of 32
// registers; twice the FLOPs per instruction of the ymm kernel on a core with full-width AVX-512 FMA), Vector256
// 6x16 (12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of 16 registers), Vector128 6x8, and a portable
// scalar 4x4. The driver selects one from the SimdLevel. Every kernel sums each C element over k in the same order
// (one FMA chain per K block, then added to C), so the 6x16 and 12x32 kernels give the same bits (tested). Each
// body is written out in full (as BLIS writes one per architecture): the accumulators must stay named registers.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

internal unsafe interface IMicroKernel
{
    static abstract int MR { get; }
    static abstract int NR { get; }
    /// <summary>Whether packing may use Vector256 (false keeps the whole scalar path portable).</summary>
    static abstract bool VectorPacking { get; }
    static abstract void Run(int kc, float* a, float* b, float* c, nint ldc, float* rowScale, bool accumulate);
    /// <summary>Whether <see cref="RunStrided"/> exists: the driver then reads FP32 operands stored k-major (A in
    /// TN, B in NN / TN) with a row stride under 1024 floats in place instead of packing them (GemmDriver.InPlace).</summary>
    static virtual bool Strided => false;
    /// <summary>Run over unpacked operands: A(i, p) = a[p·lda + i], B(p, j) = b[p·ldb + j]; the same FMA chain
    /// per C element as Run over their packed copies, so the same bits.</summary>
    static virtual void RunStrided(int kc, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* rowScale, bool accumulate) =>
        throw new NotSupportedException("this micro-kernel reads packed panels only");
}

[SkipLocalsInit]
internal readonly unsafe struct MicroKernel6x16Avx : IMicroKernel
{
    public static int MR => 6;
    public static int NR => 16;
    public static bool VectorPacking => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float* rowScale, bool accumulate) =>
        Body(kc, a, 6, b, 16, c, ldc, rowScale, accumulate);

    /// <summary>In place without software prefetch: at four k steps per 48 ymm FMAs, requesting the rows ahead cost
    /// more than it hid (tiny's training step on 2 threads with AVX-512 off, in place against packed: 1.016–1.025×
    /// without, 0.93× with B's rows, 0.89× with A's and B's).</summary>
    public static bool Strided => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunStrided(int kc, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* rowScale, bool accumulate) =>
        Body(kc, a, lda, b, ldb, c, ldc, rowScale, accumulate);

    /// <summary>A(i, p) = a[p·lda + i], B(p, j) = b[p·ldb + j], as the 12x32 kernel's Body: packed panels (lda = MR,
    /// ldb = NR, constants once inlined into Run) or operands in place (RunStrided).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Body(int kc, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* rowScale, bool accumulate)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector256<float> b0, b1, ai;
        // C rows arrive while the K loop runs. A 16-float row segment spans two cache lines unless C is 64-byte
        // aligned (managed arrays are not), so both ends are fetched.
        for (int i = 0; i < 6; i++)
        {
            Sse.Prefetch0(c + i * ldc);
            Sse.Prefetch0(c + i * ldc + 15);
        }
        int p = 0;
        // Unrolled by 4: the loop counter and pointer bumps are a quarter of the non-FMA work.
        for (; p + 4 <= kc; p += 4)
        {
            b0 = Avx.LoadVector256(b); b1 = Avx.LoadVector256(b + 8);
            ai = Avx.BroadcastScalarToVector256(a + 0); c00 = Fma.MultiplyAdd(ai, b0, c00); c01 = Fma.MultiplyAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 1); c10 = Fma.MultiplyAdd(ai, b0, c10); c11 = Fma.MultiplyAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 2); c20 = Fma.MultiplyAdd(ai, b0, c20); c21 = Fma.MultiplyAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 3); c30 = Fma.MultiplyAdd(ai, b0, c30); c31 = Fma.MultiplyAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 4); c40 = Fma.MultiplyAdd(ai, b0, c40); c41 = Fma.MultiplyAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 5); c50 = Fma.MultiplyAdd(ai, b0, c50); c51 = Fma.MultiplyAdd(ai, b1, c51);
            b0 = Avx.LoadVector256(b + 1 * ldb); b1 = Avx.LoadVector256(b + 1 * ldb + 8);
            ai = Avx.BroadcastScalarToVector256(a + 1 * lda + 0); c00 = Fma.MultiplyAdd(ai, b0, c00); c01 = Fma.MultiplyAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 1 * lda + 1); c10 = Fma.MultiplyAdd(ai, b0, c10); c11 = Fma.MultiplyAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 1 * lda + 2); c20 = Fma.MultiplyAdd(ai, b0, c20); c21 = Fma.MultiplyAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 1 * lda + 3); c30 = Fma.MultiplyAdd(ai, b0, c30); c31 = Fma.MultiplyAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 1 * lda + 4); c40 = Fma.MultiplyAdd(ai, b0, c40); c41 = Fma.MultiplyAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 1 * lda + 5); c50 = Fma.MultiplyAdd(ai, b0, c50); c51 = Fma.MultiplyAdd(ai, b1, c51);
            b0 = Avx.LoadVector256(b + 2 * ldb); b1 = Avx.LoadVector256(b + 2 * ldb + 8);
            ai = Avx.BroadcastScalarToVector256(a + 2 * lda + 0); c00 = Fma.MultiplyAdd(ai, b0, c00); c01 = Fma.MultiplyAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 2 * lda + 1); c10 = Fma.MultiplyAdd(ai, b0, c10); c11 = Fma.MultiplyAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 2 * lda + 2); c20 = Fma.MultiplyAdd(ai, b0, c20); c21 = Fma.MultiplyAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 2 * lda + 3); c30 = Fma.MultiplyAdd(ai, b0, c30); c31 = Fma.MultiplyAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 2 * lda + 4); c40 = Fma.MultiplyAdd(ai, b0, c40); c41 = Fma.MultiplyAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 2 * lda + 5); c50 = Fma.MultiplyAdd(ai, b0, c50); c51 = Fma.MultiplyAdd(ai, b1, c51);
            b0 = Avx.LoadVector256(b + 3 * ldb); b1 = Avx.LoadVector256(b + 3 * ldb + 8);
            ai = Avx.BroadcastScalarToVector256(a + 3 * lda + 0); c00 = Fma.MultiplyAdd(ai, b0, c00); c01 = Fma.MultiplyAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 3 * lda + 1); c10 = Fma.MultiplyAdd(ai, b0, c10); c11 = Fma.MultiplyAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 3 * lda + 2); c20 = Fma.MultiplyAdd(ai, b0, c20); c21 = Fma.MultiplyAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 3 * lda + 3); c30 = Fma.MultiplyAdd(ai, b0, c30); c31 = Fma.MultiplyAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 3 * lda + 4); c40 = Fma.MultiplyAdd(ai, b0, c40); c41 = Fma.MultiplyAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 3 * lda + 5); c50 = Fma.MultiplyAdd(ai, b0, c50); c51 = Fma.MultiplyAdd(ai, b1, c51);
            a += 4 * lda;
            b += 4 * ldb;
        }
        for (; p < kc; p++)
        {
            b0 = Avx.LoadVector256(b); b1 = Avx.LoadVector256(b + 8);
            ai = Avx.BroadcastScalarToVector256(a + 0); c00 = Fma.MultiplyAdd(ai, b0, c00); c01 = Fma.MultiplyAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 1); c10 = Fma.MultiplyAdd(ai, b0, c10); c11 = Fma.MultiplyAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 2); c20 = Fma.MultiplyAdd(ai, b0, c20); c21 = Fma.MultiplyAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 3); c30 = Fma.MultiplyAdd(ai, b0, c30); c31 = Fma.MultiplyAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 4); c40 = Fma.MultiplyAdd(ai, b0, c40); c41 = Fma.MultiplyAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 5); c50 = Fma.MultiplyAdd(ai, b0, c50); c51 = Fma.MultiplyAdd(ai, b1, c51);
            a += lda;
            b += ldb;
        }
        // Epilogue: every C load comes before any C store. C rows are often 4 KB apart (ldc = 1024 floats), so
        // a load issued after a store to another row aliases it in the low 12 address bits and waits for it.
        if (rowScale != null)
        {
            Vector256<float> s = Vector256.Create(rowScale[0]); c00 *= s; c01 *= s;
            s = Vector256.Create(rowScale[1]); c10 *= s; c11 *= s;
            s = Vector256.Create(rowScale[2]); c20 *= s; c21 *= s;
            s = Vector256.Create(rowScale[3]); c30 *= s; c31 *= s;
            s = Vector256.Create(rowScale[4]); c40 *= s; c41 *= s;
            s = Vector256.Create(rowScale[5]); c50 *= s; c51 *= s;
        }
        float* r0 = c, r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        if (accumulate)
        {
            c00 += Avx.LoadVector256(r0); c01 += Avx.LoadVector256(r0 + 8);
            c10 += Avx.LoadVector256(r1); c11 += Avx.LoadVector256(r1 + 8);
            c20 += Avx.LoadVector256(r2); c21 += Avx.LoadVector256(r2 + 8);
            c30 += Avx.LoadVector256(r3); c31 += Avx.LoadVector256(r3 + 8);
            c40 += Avx.LoadVector256(r4); c41 += Avx.LoadVector256(r4 + 8);
            c50 += Avx.LoadVector256(r5); c51 += Avx.LoadVector256(r5 + 8);
        }
        Avx.Store(r0, c00); Avx.Store(r0 + 8, c01);
        Avx.Store(r1, c10); Avx.Store(r1 + 8, c11);
        Avx.Store(r2, c20); Avx.Store(r2 + 8, c21);
        Avx.Store(r3, c30); Avx.Store(r3 + 8, c31);
        Avx.Store(r4, c40); Avx.Store(r4 + 8, c41);
        Avx.Store(r5, c50); Avx.Store(r5 + 8, c51);
    }
}

[SkipLocalsInit]
internal readonly unsafe struct MicroKernel12x32Avx512 : IMicroKernel
{
    public static int MR => 12;
    public static int NR => 32;
    public static bool VectorPacking => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float* rowScale, bool accumulate) =>
        Body(kc, a, 12, b, 32, c, ldc, rowScale, accumulate);

    public static bool Strided => true;

    /// <summary>k steps ahead that RunStrided requests A's and B's rows: in place they are ld apart (often a new
    /// page, which the hardware prefetchers do not cross). Tiny's training step on 2 threads, in place against
    /// packed: 1.017–1.035× with 16 (five runs), 1.017× with 8, 1.002× without.</summary>
    private const int PrefetchDistance = 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunStrided(int kc, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* rowScale, bool accumulate) =>
        Body(kc, a, lda, b, ldb, c, ldc, rowScale, accumulate);

    /// <summary>A(i, p) = a[p·lda + i], B(p, j) = b[p·ldb + j]: packed panels (lda = MR, ldb = NR, constants once
    /// inlined into Run) or unpacked column-major A / row-major B (RunStrided).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Body(int kc, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* rowScale, bool accumulate)
    {
        Vector512<float> c000 = default, c001 = default, c010 = default, c011 = default, c020 = default, c021 = default;
        Vector512<float> c030 = default, c031 = default, c040 = default, c041 = default, c050 = default, c051 = default;
        Vector512<float> c060 = default, c061 = default, c070 = default, c071 = default, c080 = default, c081 = default;
        Vector512<float> c090 = default, c091 = default, c100 = default, c101 = default, c110 = default, c111 = default;
        Vector512<float> b0, b1, ai;
        for (int i = 0; i < 12; i++)
        {
            Sse.Prefetch0(c + i * ldc);
            Sse.Prefetch0(c + i * ldc + 16);
            Sse.Prefetch0(c + i * ldc + 31);
        }
        int p = 0;
        // Unrolled by 2: the 24 FMAs of one k step already hide the loop overhead better than the 6x16 kernel's 12.
        for (; p + 2 <= kc; p += 2)
        {
            if (lda != 12 || ldb != 32)   // in place (constant false once inlined into Run)
            {
                float* pa = a + PrefetchDistance * lda, pb = b + PrefetchDistance * ldb;
                Sse.Prefetch0(pb); Sse.Prefetch0(pb + 16); Sse.Prefetch0(pb + ldb); Sse.Prefetch0(pb + ldb + 16);
                Sse.Prefetch0(pa); Sse.Prefetch0(pa + 11); Sse.Prefetch0(pa + lda); Sse.Prefetch0(pa + lda + 11);
            }
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16);
            ai = Vector512.Create(a[0]); c000 = Avx512F.FusedMultiplyAdd(ai, b0, c000); c001 = Avx512F.FusedMultiplyAdd(ai, b1, c001);
            ai = Vector512.Create(a[1]); c010 = Avx512F.FusedMultiplyAdd(ai, b0, c010); c011 = Avx512F.FusedMultiplyAdd(ai, b1, c011);
            ai = Vector512.Create(a[2]); c020 = Avx512F.FusedMultiplyAdd(ai, b0, c020); c021 = Avx512F.FusedMultiplyAdd(ai, b1, c021);
            ai = Vector512.Create(a[3]); c030 = Avx512F.FusedMultiplyAdd(ai, b0, c030); c031 = Avx512F.FusedMultiplyAdd(ai, b1, c031);
            ai = Vector512.Create(a[4]); c040 = Avx512F.FusedMultiplyAdd(ai, b0, c040); c041 = Avx512F.FusedMultiplyAdd(ai, b1, c041);
            ai = Vector512.Create(a[5]); c050 = Avx512F.FusedMultiplyAdd(ai, b0, c050); c051 = Avx512F.FusedMultiplyAdd(ai, b1, c051);
            ai = Vector512.Create(a[6]); c060 = Avx512F.FusedMultiplyAdd(ai, b0, c060); c061 = Avx512F.FusedMultiplyAdd(ai, b1, c061);
            ai = Vector512.Create(a[7]); c070 = Avx512F.FusedMultiplyAdd(ai, b0, c070); c071 = Avx512F.FusedMultiplyAdd(ai, b1, c071);
            ai = Vector512.Create(a[8]); c080 = Avx512F.FusedMultiplyAdd(ai, b0, c080); c081 = Avx512F.FusedMultiplyAdd(ai, b1, c081);
            ai = Vector512.Create(a[9]); c090 = Avx512F.FusedMultiplyAdd(ai, b0, c090); c091 = Avx512F.FusedMultiplyAdd(ai, b1, c091);
            ai = Vector512.Create(a[10]); c100 = Avx512F.FusedMultiplyAdd(ai, b0, c100); c101 = Avx512F.FusedMultiplyAdd(ai, b1, c101);
            ai = Vector512.Create(a[11]); c110 = Avx512F.FusedMultiplyAdd(ai, b0, c110); c111 = Avx512F.FusedMultiplyAdd(ai, b1, c111);
            b0 = Avx512F.LoadVector512(b + ldb); b1 = Avx512F.LoadVector512(b + ldb + 16);
            ai = Vector512.Create(a[lda + 0]); c000 = Avx512F.FusedMultiplyAdd(ai, b0, c000); c001 = Avx512F.FusedMultiplyAdd(ai, b1, c001);
            ai = Vector512.Create(a[lda + 1]); c010 = Avx512F.FusedMultiplyAdd(ai, b0, c010); c011 = Avx512F.FusedMultiplyAdd(ai, b1, c011);
            ai = Vector512.Create(a[lda + 2]); c020 = Avx512F.FusedMultiplyAdd(ai, b0, c020); c021 = Avx512F.FusedMultiplyAdd(ai, b1, c021);
            ai = Vector512.Create(a[lda + 3]); c030 = Avx512F.FusedMultiplyAdd(ai, b0, c030); c031 = Avx512F.FusedMultiplyAdd(ai, b1, c031);
            ai = Vector512.Create(a[lda + 4]); c040 = Avx512F.FusedMultiplyAdd(ai, b0, c040); c041 = Avx512F.FusedMultiplyAdd(ai, b1, c041);
            ai = Vector512.Create(a[lda + 5]); c050 = Avx512F.FusedMultiplyAdd(ai, b0, c050); c051 = Avx512F.FusedMultiplyAdd(ai, b1, c051);
            ai = Vector512.Create(a[lda + 6]); c060 = Avx512F.FusedMultiplyAdd(ai, b0, c060); c061 = Avx512F.FusedMultiplyAdd(ai, b1, c061);
            ai = Vector512.Create(a[lda + 7]); c070 = Avx512F.FusedMultiplyAdd(ai, b0, c070); c071 = Avx512F.FusedMultiplyAdd(ai, b1, c071);
            ai = Vector512.Create(a[lda + 8]); c080 = Avx512F.FusedMultiplyAdd(ai, b0, c080); c081 = Avx512F.FusedMultiplyAdd(ai, b1, c081);
            ai = Vector512.Create(a[lda + 9]); c090 = Avx512F.FusedMultiplyAdd(ai, b0, c090); c091 = Avx512F.FusedMultiplyAdd(ai, b1, c091);
            ai = Vector512.Create(a[lda + 10]); c100 = Avx512F.FusedMultiplyAdd(ai, b0, c100); c101 = Avx512F.FusedMultiplyAdd(ai, b1, c101);
            ai = Vector512.Create(a[lda + 11]); c110 = Avx512F.FusedMultiplyAdd(ai, b0, c110); c111 = Avx512F.FusedMultiplyAdd(ai, b1, c111);
            a += 2 * lda;
            b += 2 * ldb;
        }
        if (p < kc)
        {
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16);
            ai = Vector512.Create(a[0]); c000 = Avx512F.FusedMultiplyAdd(ai, b0, c000); c001 = Avx512F.FusedMultiplyAdd(ai, b1, c001);
            ai = Vector512.Create(a[1]); c010 = Avx512F.FusedMultiplyAdd(ai, b0, c010); c011 = Avx512F.FusedMultiplyAdd(ai, b1, c011);
            ai = Vector512.Create(a[2]); c020 = Avx512F.FusedMultiplyAdd(ai, b0, c020); c021 = Avx512F.FusedMultiplyAdd(ai, b1, c021);
            ai = Vector512.Create(a[3]); c030 = Avx512F.FusedMultiplyAdd(ai, b0, c030); c031 = Avx512F.FusedMultiplyAdd(ai, b1, c031);
            ai = Vector512.Create(a[4]); c040 = Avx512F.FusedMultiplyAdd(ai, b0, c040); c041 = Avx512F.FusedMultiplyAdd(ai, b1, c041);
            ai = Vector512.Create(a[5]); c050 = Avx512F.FusedMultiplyAdd(ai, b0, c050); c051 = Avx512F.FusedMultiplyAdd(ai, b1, c051);
            ai = Vector512.Create(a[6]); c060 = Avx512F.FusedMultiplyAdd(ai, b0, c060); c061 = Avx512F.FusedMultiplyAdd(ai, b1, c061);
            ai = Vector512.Create(a[7]); c070 = Avx512F.FusedMultiplyAdd(ai, b0, c070); c071 = Avx512F.FusedMultiplyAdd(ai, b1, c071);
            ai = Vector512.Create(a[8]); c080 = Avx512F.FusedMultiplyAdd(ai, b0, c080); c081 = Avx512F.FusedMultiplyAdd(ai, b1, c081);
            ai = Vector512.Create(a[9]); c090 = Avx512F.FusedMultiplyAdd(ai, b0, c090); c091 = Avx512F.FusedMultiplyAdd(ai, b1, c091);
            ai = Vector512.Create(a[10]); c100 = Avx512F.FusedMultiplyAdd(ai, b0, c100); c101 = Avx512F.FusedMultiplyAdd(ai, b1, c101);
            ai = Vector512.Create(a[11]); c110 = Avx512F.FusedMultiplyAdd(ai, b0, c110); c111 = Avx512F.FusedMultiplyAdd(ai, b1, c111);
        }
        // Epilogue as in the 6x16 kernel: every C load before any C store (rows 4 KB apart alias).
        if (rowScale != null)
        {
            Vector512<float> s;
            s = Vector512.Create(rowScale[0]); c000 *= s; c001 *= s;
            s = Vector512.Create(rowScale[1]); c010 *= s; c011 *= s;
            s = Vector512.Create(rowScale[2]); c020 *= s; c021 *= s;
            s = Vector512.Create(rowScale[3]); c030 *= s; c031 *= s;
            s = Vector512.Create(rowScale[4]); c040 *= s; c041 *= s;
            s = Vector512.Create(rowScale[5]); c050 *= s; c051 *= s;
            s = Vector512.Create(rowScale[6]); c060 *= s; c061 *= s;
            s = Vector512.Create(rowScale[7]); c070 *= s; c071 *= s;
            s = Vector512.Create(rowScale[8]); c080 *= s; c081 *= s;
            s = Vector512.Create(rowScale[9]); c090 *= s; c091 *= s;
            s = Vector512.Create(rowScale[10]); c100 *= s; c101 *= s;
            s = Vector512.Create(rowScale[11]); c110 *= s; c111 *= s;
        }
        if (accumulate)
        {
            c000 += Avx512F.LoadVector512(c + 0 * ldc); c001 += Avx512F.LoadVector512(c + 0 * ldc + 16);
            c010 += Avx512F.LoadVector512(c + 1 * ldc); c011 += Avx512F.LoadVector512(c + 1 * ldc + 16);
            c020 += Avx512F.LoadVector512(c + 2 * ldc); c021 += Avx512F.LoadVector512(c + 2 * ldc + 16);
            c030 += Avx512F.LoadVector512(c + 3 * ldc); c031 += Avx512F.LoadVector512(c + 3 * ldc + 16);
            c040 += Avx512F.LoadVector512(c + 4 * ldc); c041 += Avx512F.LoadVector512(c + 4 * ldc + 16);
            c050 += Avx512F.LoadVector512(c + 5 * ldc); c051 += Avx512F.LoadVector512(c + 5 * ldc + 16);
            c060 += Avx512F.LoadVector512(c + 6 * ldc); c061 += Avx512F.LoadVector512(c + 6 * ldc + 16);
            c070 += Avx512F.LoadVector512(c + 7 * ldc); c071 += Avx512F.LoadVector512(c + 7 * ldc + 16);
            c080 += Avx512F.LoadVector512(c + 8 * ldc); c081 += Avx512F.LoadVector512(c + 8 * ldc + 16);
            c090 += Avx512F.LoadVector512(c + 9 * ldc); c091 += Avx512F.LoadVector512(c + 9 * ldc + 16);
            c100 += Avx512F.LoadVector512(c + 10 * ldc); c101 += Avx512F.LoadVector512(c + 10 * ldc + 16);
            c110 += Avx512F.LoadVector512(c + 11 * ldc); c111 += Avx512F.LoadVector512(c + 11 * ldc + 16);
        }
        Avx512F.Store(c + 0 * ldc, c000); Avx512F.Store(c + 0 * ldc + 16, c001);
        Avx512F.Store(c + 1 * ldc, c010); Avx512F.Store(c + 1 * ldc + 16, c011);
        Avx512F.Store(c + 2 * ldc, c020); Avx512F.Store(c + 2 * ldc + 16, c021);
        Avx512F.Store(c + 3 * ldc, c030); Avx512F.Store(c + 3 * ldc + 16, c031);
        Avx512F.Store(c + 4 * ldc, c040); Avx512F.Store(c + 4 * ldc + 16, c041);
        Avx512F.Store(c + 5 * ldc, c050); Avx512F.Store(c + 5 * ldc + 16, c051);
        Avx512F.Store(c + 6 * ldc, c060); Avx512F.Store(c + 6 * ldc + 16, c061);
        Avx512F.Store(c + 7 * ldc, c070); Avx512F.Store(c + 7 * ldc + 16, c071);
        Avx512F.Store(c + 8 * ldc, c080); Avx512F.Store(c + 8 * ldc + 16, c081);
        Avx512F.Store(c + 9 * ldc, c090); Avx512F.Store(c + 9 * ldc + 16, c091);
        Avx512F.Store(c + 10 * ldc, c100); Avx512F.Store(c + 10 * ldc + 16, c101);
        Avx512F.Store(c + 11 * ldc, c110); Avx512F.Store(c + 11 * ldc + 16, c111);
    }
}

[SkipLocalsInit]
internal readonly unsafe struct MicroKernel6x8V128 : IMicroKernel
{
    public static int MR => 6;
    public static int NR => 8;
    public static bool VectorPacking => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float* rowScale, bool accumulate)
    {
        Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector128<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector128<float> b0 = Vector128.Load(b), b1 = Vector128.Load(b + 4);
            Vector128<float> ai = Vector128.Create(a[0]);
            c00 = Vector128.MultiplyAddEstimate(ai, b0, c00); c01 = Vector128.MultiplyAddEstimate(ai, b1, c01);
            ai = Vector128.Create(a[1]);
            c10 = Vector128.MultiplyAddEstimate(ai, b0, c10); c11 = Vector128.MultiplyAddEstimate(ai, b1, c11);
            ai = Vector128.Create(a[2]);
            c20 = Vector128.MultiplyAddEstimate(ai, b0, c20); c21 = Vector128.MultiplyAddEstimate(ai, b1, c21);
            ai = Vector128.Create(a[3]);
            c30 = Vector128.MultiplyAddEstimate(ai, b0, c30); c31 = Vector128.MultiplyAddEstimate(ai, b1, c31);
            ai = Vector128.Create(a[4]);
            c40 = Vector128.MultiplyAddEstimate(ai, b0, c40); c41 = Vector128.MultiplyAddEstimate(ai, b1, c41);
            ai = Vector128.Create(a[5]);
            c50 = Vector128.MultiplyAddEstimate(ai, b0, c50); c51 = Vector128.MultiplyAddEstimate(ai, b1, c51);
            a += 6;
            b += 8;
        }
        Store(c, c00, c01, rowScale, 0, accumulate);
        Store(c + ldc, c10, c11, rowScale, 1, accumulate);
        Store(c + 2 * ldc, c20, c21, rowScale, 2, accumulate);
        Store(c + 3 * ldc, c30, c31, rowScale, 3, accumulate);
        Store(c + 4 * ldc, c40, c41, rowScale, 4, accumulate);
        Store(c + 5 * ldc, c50, c51, rowScale, 5, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector128<float> lo, Vector128<float> hi, float* rowScale, int row, bool accumulate)
    {
        if (rowScale != null)
        {
            lo *= rowScale[row];
            hi *= rowScale[row];
        }
        if (accumulate)
        {
            lo += Vector128.Load(c);
            hi += Vector128.Load(c + 4);
        }
        lo.Store(c);
        hi.Store(c + 4);
    }
}

[SkipLocalsInit]
internal readonly unsafe struct MicroKernel4x4Scalar : IMicroKernel
{
    public static int MR => 4;
    public static int NR => 4;
    public static bool VectorPacking => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float* rowScale, bool accumulate)
    {
        float* acc = stackalloc float[16];
        new Span<float>(acc, 16).Clear();
        for (int p = 0; p < kc; p++)
        {
            for (int i = 0; i < 4; i++)
            {
                float ai = a[i];
                acc[i * 4] += ai * b[0];
                acc[i * 4 + 1] += ai * b[1];
                acc[i * 4 + 2] += ai * b[2];
                acc[i * 4 + 3] += ai * b[3];
            }
            a += 4;
            b += 4;
        }
        for (int i = 0; i < 4; i++)
        {
            float s = rowScale != null ? rowScale[i] : 1f;
            for (int j = 0; j < 4; j++)
            {
                float v = rowScale != null ? acc[i * 4 + j] * s : acc[i * 4 + j];
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v;
            }
        }
    }
}
