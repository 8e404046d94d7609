// Fine-grained FP8 (E4M3) quantization as in the DeepSeek-V3 report and its official release.
//   scale = max(amax, 1e-4) / 448 per tile;  q = e4m3(x · (448 / max(amax, 1e-4)));  x ≈ fp8 · scale
// The stored scale is the checkpoint's `weight_scale_inv` (the dequantization multiplier), for activations too.
// Tiles (edge tiles are partial: the last tile of a row / block row covers what is left):
//   QuantizeRows1x128       x (M, K) -> q (M, K),  scales (M, ceil(K/128))          one scale per token per 128 channels
//   QuantizeTransposed128x1 x (M, K) -> qT (K, M), scalesT (K, ceil(M/128))         128x1 tiles of x, stored transposed:
//                           qT[k, t] ≈ x[t, k] / scalesT[k, t / 128], i.e. the 1x128 quantization of xᵀ, so the
//                           wgrad GEMM contracts over tokens along contiguous rows.
//   QuantizeBlocks128x128   w (N, K) -> q (N, K),  scales (ceil(N/128), ceil(K/128)) one scale per 128x128 block
//   Dequantize*             the inverse maps (x = fp8 · scale).
// The encode multiplies by 448/amax (as DeepGEMM's per-token cast), so the amax element lands on ±448.
// Non-finite input: amax skips NaN, so a NaN element becomes the NaN code and its tile keeps a finite scale;
// an infinite element makes amax = inf, multiplier 0, and its tile's codes 0 (the inf itself 0·inf = NaN).
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

public static unsafe class BlockQuant
{
    public const int TileSize = 128;
    public const float AmaxFloor = 1e-4f;

    /// <summary>Number of 128-wide tiles covering `length` (the last one partial).</summary>
    public static int TileCount(int length) => (length + TileSize - 1) / TileSize;

    /// <summary>x (M, K) -> q (M, K) e4m3, scales (M, ceil(K/128)).</summary>
    public static void QuantizeRows1x128(int m, int k, ReadOnlySpan<float> x, Span<byte> q, Span<float> scales,
        WorkerPool? pool = null) => QuantizeRows1x128(m, k, x, q, scales, Simd.Active, pool);

    public static void QuantizeRows1x128(int m, int k, ReadOnlySpan<float> x, Span<byte> q, Span<float> scales, SimdLevel level, WorkerPool? pool = null)
    {
        Check(m, k, x.Length, q.Length, scales.Length, (long)m * TileCount(k), "scales (M, ceil(K/128))");
        fixed (float* px = x) fixed (byte* pq = q) fixed (float* ps = scales)
        {
            var job = new QuantizeJob { Kind = Layout.Rows1x128, Rows = m, Cols = k, RowsPerTile = 1, X = px, Q = pq, Scales = ps };
            job.Dispatch(pool, level);
        }
    }

    /// <summary>w (N, K) -> q (N, K) e4m3, scales (ceil(N/128), ceil(K/128)).</summary>
    public static void QuantizeBlocks128x128(int n, int k, ReadOnlySpan<float> w, Span<byte> q, Span<float> scales,
        WorkerPool? pool = null) => QuantizeBlocks128x128(n, k, w, q, scales, Simd.Active, pool);

    public static void QuantizeBlocks128x128(int n, int k, ReadOnlySpan<float> w, Span<byte> q, Span<float> scales, SimdLevel level, WorkerPool? pool = null)
    {
        Check(n, k, w.Length, q.Length, scales.Length, (long)TileCount(n) * TileCount(k), "scales (ceil(N/128), ceil(K/128))");
        fixed (float* pw = w) fixed (byte* pq = q) fixed (float* ps = scales)
        {
            var job = new QuantizeJob { Kind = Layout.Blocks128x128, Rows = n, Cols = k, RowsPerTile = TileSize, X = pw, Q = pq, Scales = ps };
            job.Dispatch(pool, level);
        }
    }

    /// <summary>x (M, K) -> qT (K, M) e4m3, scalesT (K, ceil(M/128)): 128x1 tiles, written transposed.</summary>
    public static void QuantizeTransposed128x1(int m, int k, ReadOnlySpan<float> x, Span<byte> qT, Span<float> scalesT,
        WorkerPool? pool = null) => QuantizeTransposed128x1(m, k, x, qT, scalesT, Simd.Active, pool);

    public static void QuantizeTransposed128x1(int m, int k, ReadOnlySpan<float> x, Span<byte> qT, Span<float> scalesT, SimdLevel level, WorkerPool? pool = null)
    {
        Check(m, k, x.Length, qT.Length, scalesT.Length, (long)k * TileCount(m), "scalesT (K, ceil(M/128))");
        fixed (float* px = x) fixed (byte* pq = qT) fixed (float* ps = scalesT)
        {
            var job = new QuantizeJob { Kind = Layout.Transposed128x1, Rows = m, Cols = k, RowsPerTile = TileSize, X = px, Q = pq, Scales = ps };
            job.Dispatch(pool, level);
        }
    }

    /// <summary>q (M, K) e4m3 with scales (M, ceil(K/128)) -> x (M, K).</summary>
    public static void DequantizeRows1x128(int m, int k, ReadOnlySpan<byte> q, ReadOnlySpan<float> scales, Span<float> x,
        WorkerPool? pool = null) => DequantizeRows1x128(m, k, q, scales, x, Simd.Active, pool);

    public static void DequantizeRows1x128(int m, int k, ReadOnlySpan<byte> q, ReadOnlySpan<float> scales, Span<float> x, SimdLevel level, WorkerPool? pool = null)
    {
        Check(m, k, x.Length, q.Length, scales.Length, (long)m * TileCount(k), "scales (M, ceil(K/128))");
        Dequantize(m, k, 1, q, scales, x, level, pool);
    }

    /// <summary>q (N, K) e4m3 with weight_scale_inv (ceil(N/128), ceil(K/128)) -> w (N, K): w = fp8 · scale_inv.</summary>
    public static void DequantizeBlocks128x128(int n, int k, ReadOnlySpan<byte> q, ReadOnlySpan<float> scaleInv, Span<float> w,
        WorkerPool? pool = null) => DequantizeBlocks128x128(n, k, q, scaleInv, w, Simd.Active, pool);

    public static void DequantizeBlocks128x128(int n, int k, ReadOnlySpan<byte> q, ReadOnlySpan<float> scaleInv, Span<float> w, SimdLevel level, WorkerPool? pool = null)
    {
        Check(n, k, w.Length, q.Length, scaleInv.Length, (long)TileCount(n) * TileCount(k), "weight_scale_inv (ceil(N/128), ceil(K/128))");
        Dequantize(n, k, TileSize, q, scaleInv, w, level, pool);
    }

    /// <summary>value when it is greater than current, else current: a NaN value never becomes the amax.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxIgnoringNaN(float value, float current) => value > current ? value : current;

    /// <summary>The scale of a tile whose largest magnitude is `amax`: max(amax, 1e-4) / 448.</summary>
    public static float ScaleOf(float amax) => MathF.Max(amax, AmaxFloor) / Fp8E4M3.MaxValue;

    /// <summary>Multiplier applied before the e4m3 cast: 448 / max(amax, 1e-4).</summary>
    public static float InverseScaleOf(float amax) => Fp8E4M3.MaxValue / MathF.Max(amax, AmaxFloor);

    private static void Dequantize(int rows, int k, int rowsPerTile, ReadOnlySpan<byte> q, ReadOnlySpan<float> scales, Span<float> x,
        SimdLevel level, WorkerPool? pool)
    {
        fixed (byte* pq = q) fixed (float* ps = scales) fixed (float* px = x)
        {
            var job = new QuantizeJob { Kind = Layout.Dequantize, Rows = rows, Cols = k, RowsPerTile = rowsPerTile, X = px, Q = pq, Scales = ps };
            job.Dispatch(pool, level);
        }
    }

    private enum Layout { Rows1x128, Blocks128x128, Transposed128x1, Dequantize }

    // Units of work are tile rows (RowsPerTile rows each; for Transposed128x1, 128-token tiles); they are
    // independent, so a pool split changes no bit.
    private struct QuantizeJob : IRowsJob
    {
        public Layout Kind;
        public int Rows, Cols, RowsPerTile;
        public float* X;        // (Rows, Cols) values
        public byte* Q;         // (Rows, Cols) codes, or (Cols, Rows) for Transposed128x1
        public float* Scales;   // per tile, row-major over the tile grid

        public void Dispatch(WorkerPool? pool, SimdLevel level)
        {
            long units = Kind == Layout.Dequantize ? Rows : (Rows + RowsPerTile - 1) / RowsPerTile;
            long perUnit = Kind == Layout.Dequantize ? Cols : (long)RowsPerTile * Cols;
            RowsDispatch.Run(pool, level, units, perUnit, ref this);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            switch (Kind)
            {
                case Layout.Transposed128x1: QuantizeTransposed<V>(Rows, Cols, (int)begin, (int)end, X, Q, Scales); break;
                case Layout.Dequantize: DequantizeCore<V>(Cols, RowsPerTile, (int)begin, (int)end, Q, Scales, X); break;
                default: QuantizeBlocks<V>(Rows, Cols, RowsPerTile, (int)begin, (int)end, X, Q, Scales); break;
            }
        }
    }

    // Tiles of `rowsPerTile` rows x 128 columns (1 for activations, 128 for weights) over a row-major (rows, k) matrix.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void QuantizeBlocks<V>(int rows, int k, int rowsPerTile, int tileRowBegin, int tileRowEnd, float* x, byte* q, float* scales)
        where V : unmanaged, IVec<V>
    {
        int tilesK = TileCount(k);
        for (int r0 = tileRowBegin * rowsPerTile; r0 < rows && r0 < tileRowEnd * rowsPerTile; r0 += rowsPerTile)
        {
            int r1 = Math.Min(rows, r0 + rowsPerTile);
            for (int t = 0; t < tilesK; t++)
            {
                int c0 = t * TileSize, width = Math.Min(TileSize, k - c0);
                float amax = 0;
                for (int r = r0; r < r1; r++) amax = MaxIgnoringNaN(AbsMax<V>(x + (long)r * k + c0, width), amax);
                scales[(long)(r0 / rowsPerTile) * tilesK + t] = ScaleOf(amax);
                float multiplier = InverseScaleOf(amax);
                for (int r = r0; r < r1; r++)
                    EncodeScaled<V>(x + (long)r * k + c0, q + (long)r * k + c0, width, multiplier);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float AbsMax<V>(float* x, int n) where V : unmanaged, IVec<V>
    {
        V mask = V.Bits(0x7FFF_FFFF);
        V acc = V.Broadcast(0);
        int i = 0;
        for (; i <= n - V.Count; i += V.Count) acc = V.Max(V.And(V.Load(x + i), mask), acc);     // NaN lanes keep acc
        float amax = V.MaxAcross(acc);
        for (; i < n; i++) amax = MaxIgnoringNaN(MathF.Abs(x[i]), amax);
        return amax;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EncodeScaled<V>(float* x, byte* q, int n, float multiplier) where V : unmanaged, IVec<V>
    {
        V m = V.Broadcast(multiplier);
        int i = 0;
        for (; i <= n - V.Count; i += V.Count) V.StoreBytes(Fp8E4M3.Codec.Encode(V.Mul(V.Load(x + i), m)), q + i);
        for (; i < n; i++) q[i] = Fp8E4M3.FromFloat(x[i] * multiplier);
    }

    // 128x1 tiles: for each block of 128 tokens, column amax by vertical vector max over the block's rows, then
    // encode row by row into a 128-byte staging column per channel chunk and write each channel's run contiguously.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void QuantizeTransposed<V>(int m, int k, int tileBegin, int tileEnd, float* x, byte* qT, float* scalesT) where V : unmanaged, IVec<V>
    {
        const int Chunk = 64;                                   // channels handled together
        int tilesM = TileCount(m);
        float* amax = stackalloc float[Chunk];
        float* multiplier = stackalloc float[Chunk];
        byte* staging = stackalloc byte[Chunk * TileSize];      // (Chunk, 128): staging[c, t - t0]
        byte* codes = stackalloc byte[Chunk];                   // one token's codes for the chunk
        for (int tile = tileBegin; tile < tileEnd; tile++)
        {
            int t0 = tile * TileSize, height = Math.Min(TileSize, m - t0);
            for (int c0 = 0; c0 < k; c0 += Chunk)
            {
                int width = Math.Min(Chunk, k - c0);
                ColumnAbsMax<V>(x + (long)t0 * k + c0, k, height, width, amax);
                for (int c = 0; c < width; c++)
                {
                    scalesT[(long)(c0 + c) * tilesM + tile] = ScaleOf(amax[c]);
                    multiplier[c] = InverseScaleOf(amax[c]);
                }
                for (int t = 0; t < height; t++)
                {
                    EncodeMultiplied<V>(x + (long)(t0 + t) * k + c0, multiplier, codes, width);
                    for (int c = 0; c < width; c++) staging[c * TileSize + t] = codes[c];
                }
                for (int c = 0; c < width; c++)
                    Unsafe.CopyBlockUnaligned(qT + (long)(c0 + c) * m + t0, staging + c * TileSize, (uint)height);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    private static void ColumnAbsMax<V>(float* x, int stride, int height, int width, float* amax) where V : unmanaged, IVec<V>
    {
        V mask = V.Bits(0x7FFF_FFFF);
        int c = 0;
        for (; c <= width - V.Count; c += V.Count)
        {
            V acc = V.Broadcast(0);
            for (int t = 0; t < height; t++) acc = V.Max(V.And(V.Load(x + (long)t * stride + c), mask), acc);
            V.Store(acc, amax + c);
        }
        for (; c < width; c++)
        {
            float a = 0;
            for (int t = 0; t < height; t++) a = MaxIgnoringNaN(MathF.Abs(x[(long)t * stride + c]), a);
            amax[c] = a;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EncodeMultiplied<V>(float* x, float* multiplier, byte* q, int n) where V : unmanaged, IVec<V>
    {
        int i = 0;
        for (; i <= n - V.Count; i += V.Count) V.StoreBytes(Fp8E4M3.Codec.Encode(V.Mul(V.Load(x + i), V.Load(multiplier + i))), q + i);
        for (; i < n; i++) q[i] = Fp8E4M3.FromFloat(x[i] * multiplier[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    private static void DequantizeCore<V>(int k, int rowsPerTile, int rowBegin, int rowEnd, byte* q, float* scales, float* x) where V : unmanaged, IVec<V>
    {
        int tilesK = TileCount(k);
        for (int r = rowBegin; r < rowEnd; r++)
        {
            float* scaleRow = scales + (long)(r / rowsPerTile) * tilesK;
            for (int t = 0; t < tilesK; t++)
            {
                int c0 = t * TileSize, width = Math.Min(TileSize, k - c0);
                byte* src = q + (long)r * k + c0;
                float* dst = x + (long)r * k + c0;
                float scale = scaleRow[t];
                V s = V.Broadcast(scale);
                int i = 0;
                for (; i <= width - V.Count; i += V.Count) V.Store(V.Mul(Fp8E4M3.Codec.Decode(V.LoadBytes(src + i)), s), dst + i);
                for (; i < width; i++) dst[i] = Fp8E4M3.ToFloat(src[i]) * scale;
            }
        }
    }

    private static void Check(int rows, int cols, int valuesLength, int codesLength, int scalesLength, long scalesNeeded, string scalesShape)
    {
        if (rows < 0 || cols < 0)
            throw new ArgumentOutOfRangeException(nameof(rows), $"Matrix shape ({rows}, {cols}) must be non-negative.");
        long elements = (long)rows * cols;
        if (valuesLength < elements || codesLength < elements)
            throw new ArgumentException(
                $"A ({rows}, {cols}) matrix needs {elements} values and codes; got {valuesLength} values and {codesLength} codes.");
        if (scalesLength < scalesNeeded)
            throw new ArgumentException($"{scalesShape} needs {scalesNeeded} elements for a ({rows}, {cols}) matrix; got {scalesLength}.");
    }
}
