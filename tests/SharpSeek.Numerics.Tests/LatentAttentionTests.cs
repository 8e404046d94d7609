using SharpSeek.Numerics;

namespace SharpSeek.Numerics.Tests;

public unsafe class LatentAttentionTests
{
    /// <summary>Rows of a batch over contexts of 1..1100 positions: inside one block, across blocks, and across chunks
    /// (whose partial softmaxes are merged).</summary>
    private static readonly int[] Lengths = [1, 7, 32, 33, 75, LatentAttention.Chunk, LatentAttention.Chunk + 1, 1100];

    [Theory]
    [InlineData(4, 128, 32)]   // the shapes the vector loops take
    [InlineData(3, 20, 6)]     // ragged widths: the scalar tails
    [InlineData(2, 16, 0)]     // no rope part
    public void Forward_MatchesTheReference_ASoftmaxOverTheWholeContextInDouble(int heads, int rkv, int dr)
    {
        var (args, rows, buffers) = Problem(heads, rkv, dr, Lengths, seed: heads * 100 + rkv);
        using var _ = buffers;
        using var pool = new WorkerPool(2);
        LatentAttentionReference.Forward(args, rows);
        float[] expected = new Span<float>(args.O, buffers.OFloats).ToArray();
        new Span<float>(args.O, buffers.OFloats).Fill(float.NaN);
        LatentAttention.Forward(pool, args, rows);
        for (int r = 0; r < rows.Length; r++)
            for (int h = 0; h < heads; h++)
            {
                long at = h * args.OHead + (long)rows[r].Row * args.ORow;
                for (int k = 0; k < rkv; k++)
                    Assert.True(Math.Abs(args.O[at + k] - expected[at + k]) <= 1e-5 * (1 + Math.Abs(expected[at + k])),
                        $"row {r} (length {rows[r].Length}) head {h} column {k}: {args.O[at + k]} vs {expected[at + k]}");
            }
    }

    [Fact]
    public void Forward_GivesTheSameBits_OnAnyThreadCount_AndForARowAloneOrInABatch()
    {
        // 1-4 threads split the heads of a short row differently and the chunks of the long rows among themselves
        var (args, rows, buffers) = Problem(5, 128, 32, Lengths, seed: 7);
        using var _ = buffers;
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3, 4 })
        {
            using var pool = new WorkerPool(threads);
            new Span<float>(args.O, buffers.OFloats).Fill(float.NaN);
            LatentAttention.Forward(pool, args, rows);
            float[] o = new Span<float>(args.O, buffers.OFloats).ToArray();
            if (first is null) first = o;
            else Assert.Equal(first, o);
        }
        using var two = new WorkerPool(2);
        for (int r = 0; r < rows.Length; r++)
        {
            new Span<float>(args.O, buffers.OFloats).Clear();
            LatentAttention.Forward(two, args, rows.AsSpan(r, 1));
            for (int h = 0; h < args.Heads; h++)
            {
                long at = h * args.OHead + (long)rows[r].Row * args.ORow;
                Assert.Equal(first.AsSpan((int)at, args.Rkv).ToArray(), new Span<float>(args.O + at, args.Rkv).ToArray());
            }
        }
    }

    [Fact]
    public void Benchmark_TimesHotAndColdCaches_AgainstTheReference()
    {
        using var pool = new WorkerPool(2);
        var results = SharpSeek.Numerics.Benchmarks.LatentAttentionBenchmark.Run(pool, rows: 2, context: 40, heads: 2, rkv: 64, dr: 16);
        Assert.Equal(["hot", "cold"], results.Select(r => r.Cache));
        Assert.All(results, r => Assert.True(r.MedianSeconds > 0 && r.Gflops > 0 && r.KvGbps > 0 && r.SpeedupVsReference > 0, r.ToString()));
        Assert.Throws<ArgumentException>(() => SharpSeek.Numerics.Benchmarks.LatentAttentionBenchmark.Run(pool, 1, 0, 2, 64, 16));
    }

    [Fact]
    public void Forward_RejectsAnEmptyContextOrMissingOperands()
    {
        var (args, rows, buffers) = Problem(2, 16, 8, [3], seed: 1);
        using var _ = buffers;
        using var pool = new WorkerPool(1);
        var empty = rows.ToArray();
        empty[0].Length = 0;
        Assert.Contains("0 context positions", Assert.Throws<ArgumentException>(() => LatentAttention.Forward(pool, args, empty)).Message);
        var noRope = args;
        noRope.Qpe = null;
        Assert.Contains("null", Assert.Throws<ArgumentException>(() => LatentAttention.Forward(pool, noRope, rows)).Message);
    }

    private sealed class Buffers : IDisposable
    {
        public readonly List<NativeBuffer<float>> All = [];
        public int OFloats;
        public float* New(long n, Random rng, float scale)
        {
            var b = new NativeBuffer<float>(n);
            for (long i = 0; i < n; i++) b.Pointer[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
            All.Add(b);
            return b.Pointer;
        }
        public void Dispose() { foreach (var b in All) b.Dispose(); }
    }

    /// <summary>q_c, o_c laid out (H, T, Rkv) and q_pe (T, H, Dr) inside wider rows, as absorbed MLA has them; each
    /// row attends over its own context.</summary>
    private static (LatentAttentionArgs, LatentRow[], Buffers) Problem(int heads, int rkv, int dr, int[] lengths, int seed)
    {
        var rng = new Random(seed);
        var buffers = new Buffers();
        int t = lengths.Length, dq = 8 + dr;
        var args = new LatentAttentionArgs
        {
            Heads = heads, Rkv = rkv, Dr = dr, Scale = 1f / MathF.Sqrt(rkv + dr),
            Qc = buffers.New((long)heads * t * rkv, rng, 2f), QcHead = (long)t * rkv, QcRow = rkv,
            Qpe = buffers.New((long)t * heads * dq + 8, rng, 2f) + 8, QpeHead = dq, QpeRow = (long)heads * dq,
            O = buffers.New((long)heads * t * rkv, rng, 1f), OHead = (long)t * rkv, ORow = rkv,
        };
        buffers.OFloats = heads * t * rkv;
        var rows = new LatentRow[t];
        for (int r = 0; r < t; r++)
            rows[r] = new LatentRow
            {
                Ckv = buffers.New((long)lengths[r] * rkv, rng, 1f), Kpe = buffers.New(Math.Max(1L, (long)lengths[r] * dr), rng, 1f),
                Length = lengths[r], Row = t - 1 - r,
            };
        return (args, rows, buffers);
    }
}
