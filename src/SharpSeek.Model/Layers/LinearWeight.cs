// LinearWeight — the weights of G linear maps of the same shape (G = 1 for an ordinary projection, G = E for the
// routed experts of a MoE layer), stored in one dtype, and the one place that chooses the GEMM for that dtype
// (the `linear()` of the official inference/model.py).
//
//   y (M, N) = x (M, K) · W_gᵀ          W_g (N, K) = weight of group g, row-major as in the checkpoint
// Backward (FP32 weights only, training; the partial file LinearWeight.Backward.cs):
//   dx (M, K) (+)= dy (M, N) · W_g      (BackwardInput, "B": Gemm NN)
//   dW_g (N, K) += dy (M, N)ᵀ · x (M, K)  (BackwardWeights, "W": Gemm TN, accumulated into Grad (G, N, K))
//
// Storage per dtype:
//   F32  : values (G, N, K) float                         -> Gemm.F32 NT, Gemm.GroupedF32 NT for all groups
//   BF16 : values (G, N, K) ushort                        -> Gemm.Bf16Weights
//   FP8  : values (G, N, K) e4m3 byte + scaleInv (G, ceil(N/128), ceil(K/128)) float, W ≈ fp8 · scale_inv
//                                                         -> Gemm.Fp8Weights
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

/// <summary>How linear weights are held in memory (<c>--dtype</c>).</summary>
public enum WeightDType
{
    F32,
    Bf16,
    Fp8,
}

public sealed unsafe partial class LinearWeight : IDisposable
{
    /// <summary>FP8 weight block edge (DESIGN §2): scale_inv per 128x128 block, partial edge blocks.</summary>
    public const int Block = 128;

    public int Groups { get; }
    public int OutFeatures { get; }   // N
    public int InFeatures { get; }    // K
    public WeightDType DType { get; }

    private readonly NativeBuffer<float>? _f32;       // (G, N, K)
    private readonly NativeBuffer<ushort>? _bf16;     // (G, N, K)
    private readonly NativeBuffer<byte>? _fp8;        // (G, N, K)
    private readonly NativeBuffer<float>? _scaleInv;  // (G, ceil(N/128), ceil(K/128))
    private readonly NaNCodeCheck[]? _fp8Checked;     // (G) FP8: whether group g is known to hold no NaN code

    public LinearWeight(int groups, int outFeatures, int inFeatures, WeightDType dtype)
    {
        if (groups <= 0 || outFeatures <= 0 || inFeatures <= 0)
            throw new ArgumentException($"linear weight shape ({groups}, {outFeatures}, {inFeatures}) must be positive.");
        Groups = groups;
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        DType = dtype;
        long n = GroupElements * groups;
        switch (dtype)
        {
            case WeightDType.F32: _f32 = new NativeBuffer<float>(n); break;
            case WeightDType.Bf16: _bf16 = new NativeBuffer<ushort>(n); break;
            case WeightDType.Fp8:
                _fp8 = new NativeBuffer<byte>(n);
                _scaleInv = new NativeBuffer<float>((long)groups * ScaleRows * ScaleCols);
                _fp8Checked = new NaNCodeCheck[groups];
                break;
            default: throw new ArgumentOutOfRangeException(nameof(dtype));
        }
    }

    public long GroupElements => (long)OutFeatures * InFeatures;
    public int ScaleRows => (OutFeatures + Block - 1) / Block;
    public int ScaleCols => (InFeatures + Block - 1) / Block;
    private int GroupScales => ScaleRows * ScaleCols;

    /// <summary>Bytes held (weights plus FP8 scales): what a full pass over the weight reads.</summary>
    public long Bytes => DType switch
    {
        WeightDType.F32 => GroupElements * Groups * 4,
        WeightDType.Bf16 => GroupElements * Groups * 2,
        _ => GroupElements * Groups + (long)Groups * GroupScales * 4,
    };

    public long BytesPerGroup => Bytes / Groups;

    // ---- forward ----

    /// <summary>y (M, N) = x (M, K) · W_gᵀ, through the GEMM that matches the storage dtype.</summary>
    public void Forward(WorkerPool pool, int group, ReadOnlySpan<float> x, int m, Span<float> y, GemmOutput output = GemmOutput.Overwrite)
    {
        if (m == 0) return;
        int n = OutFeatures, k = InFeatures;
        if (x.Length < (long)m * k || y.Length < (long)m * n)
            throw new ArgumentException($"linear ({n}, {k}): x has {x.Length} floats and y {y.Length} for {m} rows.");
        x = x[..(m * k)];
        y = y[..(m * n)];
        switch (DType)
        {
            case WeightDType.F32:
                Gemm.F32(pool, GemmLayout.NT, m, n, k, x, F32Group(group), y, output);
                break;
            case WeightDType.Bf16:
                Gemm.Bf16Weights(pool, m, n, k, x, new ReadOnlySpan<ushort>(_bf16!.Pointer + group * GroupElements, checked((int)GroupElements)), y, output);
                break;
            case WeightDType.Fp8 when m <= Gemm.GemvMaxRows:
                fixed (float* px = x, py = y)   // the decode GEMV, told whether the group was checked free of NaN codes
                {
                    Span<GemvProblem> problem = [Gemv(group, px, m, py)];
                    Gemm.Gemv(pool, problem, output);
                }
                break;
            default:
                Gemm.Fp8Weights(pool, m, n, k, x, Fp8Group(group), ScaleGroup(group), y, output);
                break;
        }
    }

    /// <summary>Routed experts: rows [rowOffsets[g], rowOffsets[g+1]) of x (R, K) go through group g into y (R, N).
    /// F32 weights use the grouped GEMM (one call for all groups); other dtypes one GEMM per non-empty group.</summary>
    public void ForwardGrouped(WorkerPool pool, ReadOnlySpan<int> rowOffsets, ReadOnlySpan<float> x, Span<float> y)
    {
        if (rowOffsets.Length != Groups + 1)
            throw new ArgumentException($"rowOffsets has {rowOffsets.Length} entries; {Groups} groups need {Groups + 1}.");
        int rows = rowOffsets[Groups], n = OutFeatures, k = InFeatures;
        if (DType == WeightDType.F32)
        {
            Gemm.GroupedF32(pool, GemmLayout.NT, n, k, rowOffsets, x[..(rows * k)],
                new ReadOnlySpan<float>(_f32!.Pointer, checked((int)(GroupElements * Groups))), y[..(rows * n)]);
            return;
        }
        for (int g = 0; g < Groups; g++)
        {
            int r0 = rowOffsets[g], m = rowOffsets[g + 1] - r0;
            if (m > 0) Forward(pool, g, x.Slice(r0 * k, m * k), m, y.Slice(r0 * n, m * n));
        }
    }

    /// <summary>y_g (M, N) = x_g (M, K) · W_gᵀ for every group g, with x (G, M, K) and y (G, M, N): the absorbed-MLA
    /// maps, one group per head. One GEMV run over all groups at decode sizes (M ≤ <see cref="Gemm.GemvMaxRows"/>),
    /// the grouped GEMM otherwise.</summary>
    public void ForwardEachGroup(WorkerPool pool, float* x, int m, float* y)
    {
        int n = OutFeatures, k = InFeatures, groups = Groups;
        if (m <= 0) return;
        if (m <= Gemm.GemvMaxRows)
        {
            Span<GemvProblem> problems = groups <= 256 ? stackalloc GemvProblem[groups] : new GemvProblem[groups];
            for (int g = 0; g < groups; g++) problems[g] = Gemv(g, x + (long)g * m * k, m, y + (long)g * m * n);
            Gemm.Gemv(pool, problems);
            return;
        }
        Span<int> offsets = groups <= 256 ? stackalloc int[groups + 1] : new int[groups + 1];
        for (int g = 0; g <= groups; g++) offsets[g] = g * m;
        ForwardGrouped(pool, offsets, new ReadOnlySpan<float>(x, checked(groups * m * k)), new Span<float>(y, checked(groups * m * n)));
    }

    // ---- decode (M ≤ Gemm.GemvMaxRows): products described for Gemm.Gemv, so several share one pool run ----

    /// <summary>y (M, N) = x (M, K) · W_gᵀ as one problem of a <see cref="Gemm.Gemv"/> batch (decode, M ≤
    /// <see cref="Gemm.GemvMaxRows"/>); the same kernel <see cref="Forward"/> uses for such M, so results are equal.</summary>
    public GemvProblem Gemv(int group, float* x, int m, float* y)
    {
        if ((uint)group >= (uint)Groups) throw new ArgumentOutOfRangeException(nameof(group), group, $"the weight has {Groups} groups.");
        if (m < 1 || m > Gemm.GemvMaxRows) throw new ArgumentOutOfRangeException(nameof(m), m, $"a GEMV takes 1..{Gemm.GemvMaxRows} rows.");
        var p = new GemvProblem { M = m, N = OutFeatures, K = InFeatures, X = x, Y = y };
        switch (DType)
        {
            case WeightDType.F32: p.W = _f32!.Pointer + group * GroupElements; p.Format = WeightFormat.F32; break;
            case WeightDType.Bf16: p.W = _bf16!.Pointer + group * GroupElements; p.Format = WeightFormat.Bf16; break;
            default:
                p.W = _fp8!.Pointer + group * GroupElements;
                p.Scales = _scaleInv!.Pointer + (long)group * GroupScales;
                p.Format = WeightFormat.Fp8E4M3;
                p.NoNaNCodes = HasNoNaNCodes(group);
                break;
        }
        return p;
    }

    /// <summary>y (M, InFeatures) = x (M, rows) · W_g[firstRow : firstRow + rows, :] — a block of the weight's rows
    /// read K-major, as stored — as one problem of a <see cref="Gemm.GemvKN"/> batch (absorbed MLA's query map reads
    /// W_k[h] this way from kv_b_proj itself). M ≤ <see cref="Gemm.GemvMaxRows"/>.</summary>
    public GemvKNProblem GemvKN(int group, int firstRow, int rows, float* x, int m, float* y)
    {
        if ((uint)group >= (uint)Groups) throw new ArgumentOutOfRangeException(nameof(group), group, $"the weight has {Groups} groups.");
        if (firstRow < 0 || rows < 1 || firstRow + rows > OutFeatures)
            throw new ArgumentOutOfRangeException(nameof(rows), $"rows [{firstRow}, {firstRow + rows}) of a weight with {OutFeatures} rows.");
        if (m < 1 || m > Gemm.GemvMaxRows) throw new ArgumentOutOfRangeException(nameof(m), m, $"a GEMV takes 1..{Gemm.GemvMaxRows} rows.");
        var p = new GemvKNProblem { M = m, N = InFeatures, K = rows, X = x, Y = y };
        long first = group * GroupElements + (long)firstRow * InFeatures;
        switch (DType)
        {
            case WeightDType.F32: p.W = _f32!.Pointer + first; p.Format = WeightFormat.F32; break;
            case WeightDType.Bf16: p.W = _bf16!.Pointer + first; p.Format = WeightFormat.Bf16; break;
            default:
                p.W = _fp8!.Pointer + first;
                p.Scales = _scaleInv!.Pointer + (long)group * GroupScales + (long)(firstRow / Block) * ScaleCols;
                p.ScaleRowOffset = firstRow % Block;
                p.Format = WeightFormat.Fp8E4M3;
                p.NoNaNCodes = HasNoNaNCodes(group);
                break;
        }
        return p;
    }

    /// <summary>Whether FP8 group g holds no NaN code (S.1111.111), checked once per write (WriteGroup, Fp8Values):
    /// the decode GEMV then skips its per-tile NaN scan.</summary>
    private bool HasNoNaNCodes(int g)
    {
        if (_fp8Checked![g] == NaNCodeCheck.Unknown)
            _fp8Checked[g] = Fp8Group(g).IndexOfAny((byte)0x7F, (byte)0xFF) < 0 ? NaNCodeCheck.None : NaNCodeCheck.Some;
        return _fp8Checked[g] == NaNCodeCheck.None;
    }

    private enum NaNCodeCheck : byte { Unknown, None, Some }

    /// <summary>ya (M, Na) = x · Aᵀ and yb (M, Nb) = x · Bᵀ for one input x (M, K): one pool run when M is a decode
    /// batch (gate and up, q_a and kv_a), two GEMMs otherwise.</summary>
    public static void ForwardPair(WorkerPool pool, LinearWeight a, LinearWeight b, ReadOnlySpan<float> x, int m, Span<float> ya, Span<float> yb)
    {
        if (m < 1 || m > Gemm.GemvMaxRows || a.InFeatures != b.InFeatures)
        {
            a.Forward(pool, 0, x, m, ya);
            b.Forward(pool, 0, x, m, yb);
            return;
        }
        if (x.Length < m * a.InFeatures || ya.Length < m * a.OutFeatures || yb.Length < m * b.OutFeatures)
            throw new ArgumentException($"linear pair ({a.OutFeatures}, {b.OutFeatures}) x {a.InFeatures}: x, ya or yb is too short for {m} rows.");
        fixed (float* px = x, pa = ya, pb = yb)
        {
            Span<GemvProblem> problems = [a.Gemv(0, px, m, pa), b.Gemv(0, px, m, pb)];
            Gemm.Gemv(pool, problems);
        }
    }

    private ReadOnlySpan<float> F32Group(int g) => new(_f32!.Pointer + g * GroupElements, checked((int)GroupElements));
    private ReadOnlySpan<byte> Fp8Group(int g) => new(_fp8!.Pointer + g * GroupElements, checked((int)GroupElements));
    private ReadOnlySpan<float> ScaleGroup(int g) => new(_scaleInv!.Pointer + (long)g * GroupScales, GroupScales);

    // ---- element access (loading, embedding rows, absorbed MLA) ----

    /// <summary>Row <paramref name="row"/> of W_g as floats (dequantized): the embedding lookup.</summary>
    public void ReadRow(int group, int row, Span<float> dst)
    {
        int k = InFeatures;
        long at = group * GroupElements + (long)row * k;
        switch (DType)
        {
            case WeightDType.F32: new ReadOnlySpan<float>(_f32!.Pointer + at, k).CopyTo(dst); break;
            case WeightDType.Bf16: Bf16.ToFloat(new ReadOnlySpan<ushort>(_bf16!.Pointer + at, k), dst[..k]); break;
            default:
                Fp8E4M3.ToFloat(new ReadOnlySpan<byte>(_fp8!.Pointer + at, k), dst[..k]);
                ReadOnlySpan<float> s = ScaleGroup(group).Slice(row / Block * ScaleCols, ScaleCols);
                for (int c = 0; c < k; c++) dst[c] *= s[c / Block];
                break;
        }
    }

    /// <summary>W_g (N, K) as floats (dequantized).</summary>
    public void ReadGroup(int group, Span<float> dst)
    {
        for (int r = 0; r < OutFeatures; r++) ReadRow(group, r, dst.Slice(r * InFeatures, InFeatures));
    }

    /// <summary>Sets W_g from floats (N, K), converting to the storage dtype (FP8: 128x128 block quantization).</summary>
    public void WriteGroup(int group, ReadOnlySpan<float> src)
    {
        int len = checked((int)GroupElements);
        if (src.Length != len) throw new ArgumentException($"group of ({OutFeatures}, {InFeatures}) needs {len} floats, got {src.Length}.");
        switch (DType)
        {
            case WeightDType.F32: src.CopyTo(new Span<float>(_f32!.Pointer + group * GroupElements, len)); break;
            case WeightDType.Bf16: Bf16.FromFloat(src, new Span<ushort>(_bf16!.Pointer + group * GroupElements, len)); break;
            default:
                BlockQuant.QuantizeBlocks128x128(OutFeatures, InFeatures, src,
                    new Span<byte>(_fp8!.Pointer + group * GroupElements, len),
                    new Span<float>(_scaleInv!.Pointer + (long)group * GroupScales, GroupScales));
                _fp8Checked![group] = NaNCodeCheck.Unknown;
                break;
        }
    }

    /// <summary>Raw BF16 storage of group g (BF16 weights only), for loading without a round trip.</summary>
    public Span<ushort> Bf16Group(int g) => DType == WeightDType.Bf16
        ? new Span<ushort>(_bf16!.Pointer + g * GroupElements, checked((int)GroupElements))
        : throw new InvalidOperationException("not a BF16 weight");

    /// <summary>Raw FP8 storage of group g (FP8 weights only), for loading. The group counts as written: the next
    /// forward checks it for NaN codes again, so finish writing through the span before running the model.</summary>
    public Span<byte> Fp8Values(int g)
    {
        if (DType != WeightDType.Fp8) throw new InvalidOperationException("not an FP8 weight");
        _fp8Checked![g] = NaNCodeCheck.Unknown;
        return new Span<byte>(_fp8!.Pointer + g * GroupElements, checked((int)GroupElements));
    }

    /// <summary>The FP8 codes of group g, read-only (unlike <see cref="Fp8Values"/>, the NaN-code check stands).</summary>
    public ReadOnlySpan<byte> Fp8Codes(int g) => DType == WeightDType.Fp8
        ? new ReadOnlySpan<byte>(_fp8!.Pointer + g * GroupElements, checked((int)GroupElements))
        : throw new InvalidOperationException("not an FP8 weight");

    /// <summary>The (ceil(N/128), ceil(K/128)) scale_inv blocks of group g (FP8 weights only).</summary>
    public Span<float> Fp8ScaleInv(int g) => DType == WeightDType.Fp8
        ? new Span<float>(_scaleInv!.Pointer + (long)g * GroupScales, GroupScales)
        : throw new InvalidOperationException("not an FP8 weight");

    public void Dispose()
    {
        _f32?.Dispose();
        _bf16?.Dispose();
        _fp8?.Dispose();
        _scaleInv?.Dispose();
        _grad?.Dispose();
    }
}
