// Gemm — the matrix products every layer runs on. All matrices are row-major and dense; C is (M,N).
//
//   F32          NN: C = A (M,K) · B (K,N)      NT: C = A (M,K) · Bᵀ, B (N,K)      TN: C = Aᵀ · B, A (K,M), B (K,N)
//   Bf16Weights  y (M,N) = x (M,K) · Wᵀ, W bf16 (N,K)
//   Fp8Block     C (M,N) = A · Bᵀ, A e4m3 (M,K) with 1x128 scales (M, ceil(K/128)),
//                B e4m3 (N,K) with 128x128 scales (ceil(N/128), ceil(K/128)); FP32 accumulation per 128-wide K block
//   Fp8Weights   y (M,N) = x (M,K) · dequant(W)ᵀ, W e4m3 (N,K) + weight_scale_inv (ceil(N/128), ceil(K/128))
//   GroupedF32   one GEMM per MoE expert, all in one call (see the method)
//   Gemv         many small-M (decode) products of any weight format in one pool run (GemvNT.cs)
//
// Each method has an overload taking a SimdLevel (the default is Simd.Active, capped by SHARPSEEK_SIMD) so tests
// run every micro-kernel in-process. Every kernel here has a naive twin in GemmReference (the test oracle). Spans may be longer than the shape
// needs; the extra elements are ignored.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

public static unsafe partial class Gemm
{
    private const int MaxStackGroups = 256;

    /// <summary>C (M,N) = op(A)·op(B) in the given layout (see <see cref="GemmLayout"/>), overwriting or adding into C.</summary>
    public static void F32(WorkerPool pool, GemmLayout layout, int m, int n, int k, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> c, GemmOutput output = GemmOutput.Overwrite) =>
        F32(pool, layout, m, n, k, a, b, c, output, Simd.Active);

    public static void F32(WorkerPool pool, GemmLayout layout, int m, int n, int k, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> c, GemmOutput output, SimdLevel level) =>
        F32(pool, layout, m, n, k, a, b, c, output, level, packAll: false);

    /// <summary>As F32; <paramref name="packAll"/> packs every operand instead of reading FP32 operands stored across
    /// K in place (the packed reference the in-place path is tested against: same bits).</summary>
    internal static void F32(WorkerPool pool, GemmLayout layout, int m, int n, int k, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> c, GemmOutput output, SimdLevel level, bool packAll)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        GemmArgs.F32(layout, m, n, k, a.Length, b.Length, c.Length);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (layout == GemmLayout.NT && m <= GemvNT.MaxRows && k > 0)
            {
                var gemv = new GemvProblem { M = m, N = n, K = k, X = pa, W = pb, Y = pc, Format = WeightFormat.F32 };
                GemvNT.Run(pool, &gemv, 1, output == GemmOutput.Accumulate, kernel);
                return;
            }
            GemmProblem p = F32Problem(layout, m, n, k, pa, pb, pc, output);
            p.PackAll = packAll;
            RunF32(pool, layout, kernel, &p, 1);
        }
    }

    /// <summary>y (M,N) = x (M,K) · Wᵀ with BF16 weights W (N,K) (ushort bit patterns); FP32 accumulation.</summary>
    public static void Bf16Weights(WorkerPool pool, int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<ushort> w,
        Span<float> y, GemmOutput output = GemmOutput.Overwrite) => Bf16Weights(pool, m, n, k, x, w, y, output, Simd.Active);

    public static void Bf16Weights(WorkerPool pool, int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<ushort> w,
        Span<float> y, GemmOutput output, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        GemmArgs.Dims(m, n, k);
        GemmArgs.Size("x (M,K)", x.Length, m, k);
        GemmArgs.Size("w (N,K)", w.Length, n, k);
        GemmArgs.Size("y (M,N)", y.Length, m, n);
        if (m == 0 || n == 0) return;
        fixed (float* px = x, py = y)
        fixed (ushort* pw = w)
        {
            if (m <= GemvNT.MaxRows)
            {
                var gemv = new GemvProblem { M = m, N = n, K = k, X = px, W = pw, Y = py, Format = WeightFormat.Bf16 };
                GemvNT.Run(pool, &gemv, 1, output == GemmOutput.Accumulate, kernel);
                return;
            }
            var p = new GemmProblem
            {
                M = m, N = n, K = k, C = py, Ldc = n, Accumulate = output == GemmOutput.Accumulate,
                A = new GemmOperand { Data = px, Ld = k },
                B = new GemmOperand { Data = pw, Ld = k },
            };
            Dispatch<RowsPacker<F32Element>, RowsPacker<Bf16Element>>(pool, kernel, &p, 1);
        }
    }

    /// <summary>C (M,N) = A·Bᵀ for block-scaled FP8 E4M3 operands: each 128-wide K block is accumulated in FP32,
    /// then multiplied by aScales[i,kb]·bScales[j/128,kb] and added to the FP32 result (DeepSeek-V3's promotion).</summary>
    public static void Fp8Block(WorkerPool pool, int m, int n, int k, ReadOnlySpan<byte> a, ReadOnlySpan<float> aScales,
        ReadOnlySpan<byte> b, ReadOnlySpan<float> bScales, Span<float> c) =>
        Fp8Block(pool, m, n, k, a, aScales, b, bScales, c, Simd.Active);

    public static void Fp8Block(WorkerPool pool, int m, int n, int k, ReadOnlySpan<byte> a, ReadOnlySpan<float> aScales,
        ReadOnlySpan<byte> b, ReadOnlySpan<float> bScales, Span<float> c, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        GemmArgs.Fp8Block(m, n, k, a.Length, aScales.Length, b.Length, bScales.Length, c.Length);
        if (m == 0 || n == 0) return;
        fixed (byte* pa = a, pb = b)
        fixed (float* psa = aScales, psb = bScales, pc = c)
        {
            var p = new GemmProblem
            {
                M = m, N = n, K = k, C = pc, Ldc = n,
                A = new GemmOperand { Data = pa, Ld = k },
                B = new GemmOperand { Data = pb, Ld = k },
                AScales = psa, BScales = psb, ScaleCols = GemmArgs.Blocks(k),
            };
            if (GemmFormats.HasNaNCode(pa, (long)m * k) || GemmFormats.HasNaNCode(pb, (long)n * k))
                Dispatch<RowsPacker<E4M3Element>, RowsPacker<E4M3Element>>(pool, kernel, &p, 1);
            else
                Dispatch<RowsPacker<E4M3FiniteElement>, RowsPacker<E4M3FiniteElement>>(pool, kernel, &p, 1);
        }
    }

    /// <summary>y (M,N) = x (M,K) · dequant(W)ᵀ with FP8 E4M3 weights W (N,K) and their weight_scale_inv
    /// (ceil(N/128), ceil(K/128)), dequantized on the fly. Small M (decode) streams W once at memory bandwidth.</summary>
    public static void Fp8Weights(WorkerPool pool, int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<byte> w,
        ReadOnlySpan<float> wScaleInv, Span<float> y, GemmOutput output = GemmOutput.Overwrite) =>
        Fp8Weights(pool, m, n, k, x, w, wScaleInv, y, output, Simd.Active);

    public static void Fp8Weights(WorkerPool pool, int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<byte> w,
        ReadOnlySpan<float> wScaleInv, Span<float> y, GemmOutput output, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        GemmArgs.Fp8Weights(m, n, k, x.Length, w.Length, wScaleInv.Length, y.Length);
        if (m == 0 || n == 0) return;
        bool accumulate = output == GemmOutput.Accumulate;
        fixed (float* px = x, ps = wScaleInv, py = y)
        fixed (byte* pw = w)
        {
            if (m <= GemvNT.MaxRows)
            {
                var gemv = new GemvProblem { M = m, N = n, K = k, X = px, W = pw, Scales = ps, Y = py, Format = WeightFormat.Fp8E4M3 };
                GemvNT.Run(pool, &gemv, 1, accumulate, kernel);
                return;
            }
            var p = new GemmProblem
            {
                M = m, N = n, K = k, C = py, Ldc = n, Accumulate = accumulate,
                A = new GemmOperand { Data = px, Ld = k },
                B = new GemmOperand { Data = pw, Ld = k, Scales = ps, ScaleCols = GemmArgs.Blocks(k) },
            };
            if (GemmFormats.HasNaNCode(pw, (long)n * k))
                Dispatch<RowsPacker<F32Element>, RowsPacker<E4M3Element>>(pool, kernel, &p, 1);
            else
                Dispatch<RowsPacker<F32Element>, RowsPacker<E4M3FiniteElement>>(pool, kernel, &p, 1);
        }
    }

    /// <summary>Grouped GEMM for MoE experts: G = rowOffsets.Length-1 groups, group g owns rows
    /// [rowOffsets[g], rowOffsets[g+1]) of the token-major operands (tokens sorted by expert). N and K are the
    /// expert weight's dimensions, W_g (N,K) = out × in, stacked (G,N,K):
    /// <list type="bullet">
    /// <item>NT (forward):  a (rows,K), b = W (G,N,K), c (rows,N):  C_g = A_g · W_gᵀ</item>
    /// <item>NN (dgrad):    a (rows,N), b = W (G,N,K), c (rows,K):  C_g = A_g · W_g  (dX = dY · W)</item>
    /// <item>TN (wgrad):    a (rows,N), b (rows,K), c = dW (G,N,K): C_g = A_gᵀ · B_g  (dW = dYᵀ · X)</item>
    /// </list>
    /// All groups run as one task list on the pool. A group with no rows contributes nothing (for TN with
    /// Overwrite its dW_g is zeroed).</summary>
    public static void GroupedF32(WorkerPool pool, GemmLayout layout, int n, int k, ReadOnlySpan<int> rowOffsets,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, GemmOutput output = GemmOutput.Overwrite) =>
        GroupedF32(pool, layout, n, k, rowOffsets, a, b, c, output, Simd.Active);

    [SkipLocalsInit]
    public static void GroupedF32(WorkerPool pool, GemmLayout layout, int n, int k, ReadOnlySpan<int> rowOffsets,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, GemmOutput output, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        GemmArgs.Grouped(layout, n, k, rowOffsets, a.Length, b.Length, c.Length);
        int groups = rowOffsets.Length - 1;
        if (groups == 0) return;
        // Forward groups with at most GemvNT.MaxRows tokens (decode) stream their expert weights through the GEMV;
        // the rest go through the packed driver. Each kind runs all of its groups as one task list.
        // Descriptors live on the stack up to DeepSeek-V3's 256 experts (≈40 KB); more groups use native memory.
        bool onStack = groups <= MaxStackGroups;
        GemmProblem* stackProblems = stackalloc GemmProblem[onStack ? groups : 0];
        GemvProblem* stackGemvs = stackalloc GemvProblem[onStack ? groups : 0];
        GemmProblem* problems = onStack ? stackProblems : (GemmProblem*)NativeMemory.Alloc((nuint)groups, (nuint)sizeof(GemmProblem));
        GemvProblem* gemvs = onStack ? stackGemvs : (GemvProblem*)NativeMemory.Alloc((nuint)groups, (nuint)sizeof(GemvProblem));
        try
        {
            fixed (float* pa = a, pb = b, pc = c)
            {
                int count = 0, gemvCount = 0;
                for (int g = 0; g < groups; g++)
                {
                    GemmReference.GroupedSlices(layout, n, k, rowOffsets, g, out int gm, out int gn, out int gk,
                        out var ra, out var rb, out var rc);
                    if (gm == 0 || gn == 0) continue;
                    if (layout == GemmLayout.NT && gm <= GemvNT.MaxRows && gk > 0)
                        gemvs[gemvCount++] = new GemvProblem
                        {
                            M = gm, N = gn, K = gk, X = pa + ra.Start, W = pb + rb.Start, Y = pc + rc.Start, Format = WeightFormat.F32,
                        };
                    else
                        problems[count++] = F32Problem(layout, gm, gn, gk, pa + ra.Start, pb + rb.Start, pc + rc.Start, output);
                }
                if (gemvCount > 0)
                    GemvNT.Run(pool, gemvs, gemvCount, output == GemmOutput.Accumulate, kernel);
                if (count > 0) RunF32(pool, layout, kernel, problems, count);
            }
        }
        finally
        {
            if (!onStack)
            {
                NativeMemory.Free(problems);
                NativeMemory.Free(gemvs);
            }
        }
    }

    /// <summary>Many small-M products y (M,N) (+)= x (M,K) · Wᵀ in one pool run (the decode path: MoE experts with
    /// their few tokens, gate and up projections side by side, q_a and kv_a of one input). Each problem has its own
    /// shape, weight format and pointers; M ≤ <see cref="GemvMaxRows"/>. Outputs must not overlap.</summary>
    public static void Gemv(WorkerPool pool, Span<GemvProblem> problems, GemmOutput output = GemmOutput.Overwrite) =>
        Gemv(pool, problems, output, Simd.Active);

    public static void Gemv(WorkerPool pool, Span<GemvProblem> problems, GemmOutput output, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        for (int i = 0; i < problems.Length; i++)
        {
            GemvProblem p = problems[i];
            CheckGemvProblem(i, p.M, p.N, p.K, p.X, p.Y, p.W, p.Format, p.Scales);
        }
        fixed (GemvProblem* pp = problems)
            GemvNT.Run(pool, pp, problems.Length, output == GemmOutput.Accumulate, kernel);
    }

    /// <summary>Small-M products with K-major weights, y (M,N) (+)= x (M,K) · W, W (K,N) row-major, in one pool run
    /// (absorbed MLA's query map, W_k[h] read from kv_b_proj's rows as stored). M ≤ <see cref="GemvMaxRows"/>;
    /// outputs must not overlap. Each problem is one task on one thread: meant for many small problems (one per
    /// head), not for one large matrix, which would run on a single core.</summary>
    public static void GemvKN(WorkerPool pool, Span<GemvKNProblem> problems, GemmOutput output = GemmOutput.Overwrite) =>
        GemvKN(pool, problems, output, Simd.Active);

    public static void GemvKN(WorkerPool pool, Span<GemvKNProblem> problems, GemmOutput output, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmKernel kernel = KernelFor(level);
        for (int i = 0; i < problems.Length; i++)
        {
            GemvKNProblem p = problems[i];
            CheckGemvProblem(i, p.M, p.N, p.K, p.X, p.Y, p.W, p.Format, p.Scales);
            if ((uint)p.ScaleRowOffset >= GemmArgs.ScaleBlock)
                throw new ArgumentException($"GEMV problem {i} has scale row offset {p.ScaleRowOffset}; it must be 0..{GemmArgs.ScaleBlock - 1}.", nameof(problems));
        }
        fixed (GemvKNProblem* pp = problems)
            Numerics.GemvKN.Run(pool, pp, problems.Length, output == GemmOutput.Accumulate, kernel);
    }

    private static void CheckGemvProblem(int i, int m, int n, int k, float* x, float* y, void* w, WeightFormat format, float* scales)
    {
        if (m < 1 || m > GemvNT.MaxRows || n < 1 || k < 1)
            throw new ArgumentException($"GEMV problem {i} is ({m}, {n}, {k}); it needs 1 ≤ M ≤ {GemvNT.MaxRows} and N, K ≥ 1.", "problems");
        if (x == null || y == null || w == null || (format == WeightFormat.Fp8E4M3 && scales == null))
            throw new ArgumentException($"GEMV problem {i} has a null pointer (x, y, w, or the scales of FP8 weights).", "problems");
    }

    /// <summary>Largest M of a <see cref="Gemv"/> problem; F32 NT, BF16 and FP8 weight GEMMs with M ≤ this use it too.</summary>
    public const int GemvMaxRows = GemvNT.MaxRows;

    /// <summary>The micro-kernel for a SIMD level: Vector512 the 12x32 AVX-512 kernel, Vector256 the 6x16 AVX2/FMA
    /// kernel, Vector128 the 6x8 kernel, Scalar the portable 4x4 kernel.</summary>
    internal static GemmKernel KernelFor(SimdLevel level)
    {
        Simd.Require(level);
        return level switch
        {
            SimdLevel.Scalar => GemmKernel.Scalar,
            SimdLevel.Vector128 => GemmKernel.Vector128,
            SimdLevel.Vector512 when Avx512F.IsSupported => GemmKernel.Vector512,
            _ => Avx2.IsSupported && Fma.IsSupported ? GemmKernel.Vector256 : GemmKernel.Vector128,
        };
    }

    private static GemmProblem F32Problem(GemmLayout layout, int m, int n, int k, float* a, float* b, float* c, GemmOutput output) => new()
    {
        M = m, N = n, K = k, C = c, Ldc = n, Accumulate = output == GemmOutput.Accumulate,
        A = new GemmOperand { Data = a, Ld = layout == GemmLayout.TN ? m : k },
        B = new GemmOperand { Data = b, Ld = layout == GemmLayout.NT ? k : n },
    };

    private static void RunF32(WorkerPool pool, GemmLayout layout, GemmKernel kernel, GemmProblem* problems, int count)
    {
        switch (layout)
        {
            case GemmLayout.NN: Dispatch<RowsPacker<F32Element>, ColumnsPacker>(pool, kernel, problems, count); break;
            case GemmLayout.NT: Dispatch<RowsPacker<F32Element>, RowsPacker<F32Element>>(pool, kernel, problems, count); break;
            default: Dispatch<ColumnsPacker, ColumnsPacker>(pool, kernel, problems, count); break;
        }
    }

    private static void Dispatch<TA, TB>(WorkerPool pool, GemmKernel kernel, GemmProblem* problems, int count)
        where TA : IPanelPacker where TB : IPanelPacker
    {
        switch (kernel)
        {
            case GemmKernel.Vector512: GemmDriver.Run<TA, TB, MicroKernel12x32Avx512>(pool, problems, count); break;
            case GemmKernel.Vector256: GemmDriver.Run<TA, TB, MicroKernel6x16Avx>(pool, problems, count); break;
            case GemmKernel.Vector128: GemmDriver.Run<TA, TB, MicroKernel6x8V128>(pool, problems, count); break;
            default: GemmDriver.Run<TA, TB, MicroKernel4x4Scalar>(pool, problems, count); break;
        }
    }
}

/// <summary>Micro-kernel bodies (see GemmMicroKernels.cs).</summary>
internal enum GemmKernel
{
    Scalar,
    Vector128,
    Vector256,
    Vector512,
}
