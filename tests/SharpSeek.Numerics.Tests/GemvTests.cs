using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

/// <summary>The decode GEMV (GemvNT through Gemm.Gemv and the small-M paths of the weight GEMMs) against the naive
/// references: every tile (1, 2, 3, 4 tokens and their 5..8 combinations), partial row tiles, K tails past the
/// 32-wide loop, partial FP8 scale blocks, many problems of mixed formats in one run.</summary>
public unsafe class GemvTests
{
    public static TheoryData<int, SimdLevel> ThreadsAndLevels()
    {
        var data = new TheoryData<int, SimdLevel>();
        foreach (int threads in new[] { 1, 2 })
            foreach (SimdLevel level in Simd.Supported) data.Add(threads, level);
        return data;
    }

    // N: under a tile, a partial 4-row tile, past a 128-row scale block (inside one 256-row task), past two tasks.
    // K: under 8, a 32-loop tail, partial 128 blocks.
    private static readonly (int N, int K)[] Shapes = [(1, 5), (3, 40), (7, 129), (33, 300), (130, 131), (45, 256), (129, 77), (600, 70), (260, 330), (200, 384)];

    private sealed class Case
    {
        public required WeightFormat Format;
        public required int M, N, K;
        public required float[] X, Y, Expected, Scales;
        public required float[] WF32;
        public required ushort[] WBf16;
        public required byte[] WFp8;
    }

    private static Case Make(WeightFormat format, int m, int n, int k, int seed, GemmOutput output)
    {
        float[] x = Floats(m * k, seed), y0 = Floats(m * n, seed + 1), expected = (float[])y0.Clone();
        float[] wf = Floats(n * k, seed + 2), scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), seed + 3);
        ushort[] wb = new ushort[n * k];
        byte[] w8 = Fp8(n * k, seed + 4);
        switch (format)
        {
            case WeightFormat.F32: GemmReference.F32(GemmLayout.NT, m, n, k, x, wf, expected, output); break;
            case WeightFormat.Bf16:
                Bf16.FromFloat(wf, wb);
                GemmReference.Bf16Weights(m, n, k, x, wb, expected, output);
                break;
            default: GemmReference.Fp8Weights(m, n, k, x, w8, scales, expected, output); break;
        }
        return new Case { Format = format, M = m, N = n, K = k, X = x, Y = y0, Expected = expected, Scales = scales, WF32 = wf, WBf16 = wb, WFp8 = w8 };
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void WeightGemms_SmallM_MatchReference_AtRaggedShapes(int threads, SimdLevel level)
    {
        foreach (WeightFormat format in Enum.GetValues<WeightFormat>())
            foreach (GemmOutput output in new[] { GemmOutput.Overwrite, GemmOutput.Accumulate })
                for (int m = 1; m <= Gemm.GemvMaxRows; m++)
                    foreach (var (n, k) in Shapes)
                    {
                        Case c = Make(format, m, n, k, m * 31 + n + k, output);
                        switch (format)
                        {
                            case WeightFormat.F32: Gemm.F32(Pool(threads), GemmLayout.NT, m, n, k, c.X, c.WF32, c.Y, output, level); break;
                            case WeightFormat.Bf16: Gemm.Bf16Weights(Pool(threads), m, n, k, c.X, c.WBf16, c.Y, output, level); break;
                            default: Gemm.Fp8Weights(Pool(threads), m, n, k, c.X, c.WFp8, c.Scales, c.Y, output, level); break;
                        }
                        AssertClose(c.Expected, c.Y, Tolerance(k), $"{format} {output} {m}x{n}x{k} on {level}");
                    }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Gemv_ManyProblemsOfMixedFormats_EachMatchesItsReference(int threads, SimdLevel level)
    {
        var cases = new List<Case>();
        int seed = 0;
        foreach (var (n, k) in Shapes)
            foreach (WeightFormat format in Enum.GetValues<WeightFormat>())
                cases.Add(Make(format, 1 + seed % Gemm.GemvMaxRows, n, k, 100 + seed++, GemmOutput.Accumulate));
        using var pins = new Pins();
        var problems = new GemvProblem[cases.Count];
        for (int i = 0; i < cases.Count; i++)
        {
            Case c = cases[i];
            object w = c.Format switch { WeightFormat.F32 => c.WF32, WeightFormat.Bf16 => c.WBf16, _ => c.WFp8 };
            problems[i] = new GemvProblem
            {
                M = c.M, N = c.N, K = c.K, Format = c.Format,
                X = (float*)pins.Pin(c.X), Y = (float*)pins.Pin(c.Y), W = pins.Pin(w), Scales = (float*)pins.Pin(c.Scales),
            };
        }
        Gemm.Gemv(Pool(threads), problems, GemmOutput.Accumulate, level);
        foreach (Case c in cases) AssertClose(c.Expected, c.Y, Tolerance(c.K), $"{c.Format} {c.M}x{c.N}x{c.K} in a batch");
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Weights_SmallM_BackToBackCallsWithNewX_NeverReuseTheScaledCopy(int threads, SimdLevel level)
    {
        // Workers keep x·scale_inv of one (problem, row block) across tasks of a run; a new run (new x, same shapes
        // and weights) must rescale.
        int n = 256, k = 384;
        byte[] w = Fp8(n * k, 7);
        float[] scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 8);
        foreach (int seed in new[] { 1, 2, 3 })
        {
            float[] x = Floats(k, seed, scale: seed), expected = new float[n], actual = new float[n];
            GemmReference.Fp8Weights(1, n, k, x, w, scales, expected);
            Gemm.Fp8Weights(Pool(threads), 1, n, k, x, w, scales, actual, GemmOutput.Overwrite, level);
            AssertClose(expected, actual, Tolerance(k), $"seed {seed} threads={threads} {level}");
        }
    }

    [Fact]
    public void Fp8Weights_SmallM_SameBitsOnOneAndTwoThreads()
    {
        foreach (int m in new[] { 1, 2, 3, 8 })
        {
            int n = 300, k = 1000;
            float[] x = Floats(m * k, m), y1 = new float[m * n], y2 = new float[m * n];
            byte[] w = Fp8(n * k, 2);
            float[] scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 3);
            Gemm.Fp8Weights(Pool1, m, n, k, x, w, scales, y1);
            Gemm.Fp8Weights(Pool2, m, n, k, x, w, scales, y2);
            Assert.Equal(y1, y2);
        }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Weights_SmallM_HugeActivations_DoNotOverflowTheFoldedScale(int threads, SimdLevel level)
    {
        // x·scale·2^120 would overflow FP32 here; the GEMV must lower its power of two and still match.
        foreach (int m in new[] { 1, 4 })
        {
            int n = 20, k = 300;
            float[] x = Floats(m * k, 7, scale: 1e30f), y = new float[m * n], expected = new float[m * n];
            byte[] w = Fp8(n * k, 8);
            float[] scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 9);
            for (int i = 0; i < scales.Length; i++) scales[i] *= 1000f;
            GemmReference.Fp8Weights(m, n, k, x, w, scales, expected);
            Gemm.Fp8Weights(Pool(threads), m, n, k, x, w, scales, y, GemmOutput.Overwrite, level);
            double scale = expected.Max(v => Math.Abs((double)v));
            Assert.True(double.IsFinite(scale) && scale > 1e30);
            for (int i = 0; i < y.Length; i++)
                Assert.True(Math.Abs((double)y[i] - expected[i]) <= Tolerance(k) * scale, $"m={m} element {i}: {y[i]} vs {expected[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Weights_SmallM_NaNCodeInLoopOrTail_GivesNaNInItsColumnOnly(int threads, SimdLevel level)
    {
        foreach (int m in new[] { 1, 2, 3, 4, 7 })
            foreach (var (k, at) in new[] { (300, 5), (300, 290), (100, 5), (100, 90) })   // in the vector loop, in its tail; rows of ≥ and < 256 bytes
            {
                int n = 13;
                float[] x = Floats(m * k, 1), y = new float[m * n];
                byte[] w = Fp8(n * k, 2);
                w[6 * k + at] = 0x7F;
                float[] scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 3);
                Gemm.Fp8Weights(Pool(threads), m, n, k, x, w, scales, y, GemmOutput.Overwrite, level);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        Assert.Equal(j == 6, float.IsNaN(y[i * n + j]));
            }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Gemv_CheckedFreeOfNaNCodes_SkipsTheScanWithTheSameBits(int threads, SimdLevel level)
    {
        foreach (int k in new[] { 300, 320 })   // with a tail; whole 64-element steps (the 8-token token-major tile)
            CheckedFreeOfNaNCodes_SameBits(threads, level, 70, k);
    }

    private static void CheckedFreeOfNaNCodes_SameBits(int threads, SimdLevel level, int n, int k)
    {
        byte[] w = Fp8(n * k, 4);
        Assert.DoesNotContain(w, c => (c & 0x7F) == 0x7F);
        float[] scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 5);
        for (int m = 1; m <= Gemm.GemvMaxRows; m++)
        {
            float[] x = Floats(m * k, m), scanned = new float[m * n], unscanned = new float[m * n];
            fixed (float* px = x, ps = scales, py1 = scanned, py2 = unscanned)
            fixed (byte* pw = w)
            {
                var p = new GemvProblem { M = m, N = n, K = k, X = px, W = pw, Scales = ps, Y = py1, Format = WeightFormat.Fp8E4M3 };
                Gemm.Gemv(Pool(threads), [p], GemmOutput.Overwrite, level);
                p.Y = py2;
                p.NoNaNCodes = true;
                Gemm.Gemv(Pool(threads), [p], GemmOutput.Overwrite, level);
            }
            Assert.Equal(scanned, unscanned);
        }
    }

    /// <summary>The x order of the in-lane FP8 tiles: in every whole step of 4n elements, lane j holds elements
    /// 4d + j; the tail keeps its order (16 and 8 lanes take vector permutes or gathers, 4 the scalar loop).</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(4)]
    public void InterleaveSteps_PutsElement4dPlusJ_AtLaneJ(int lanes)
    {
        int step = 4 * lanes, k = 3 * step + 5;
        float[] x = Enumerable.Range(0, k).Select(i => (float)i).ToArray();
        fixed (float* p = x) GemvNT.InterleaveSteps(p, k, lanes);
        for (int i = 0; i < k; i++)
        {
            int s0 = i / step * step, j = (i - s0) / lanes, d = (i - s0) % lanes;
            Assert.Equal(s0 + step > k ? i : s0 + 4 * d + j, x[i]);
        }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Gemv_EightTokens_GiveTheBitsOfTwoBatchesOfFour(int threads, SimdLevel level)
    {
        // one 8-token tile on AVX-512, two 4-token tiles elsewhere: each output is the same FMA chain either way
        foreach (WeightFormat format in Enum.GetValues<WeightFormat>())
            foreach (var (n, k) in Shapes)
            {
                Case c = Make(format, 8, n, k, n + 7 * k, GemmOutput.Overwrite);
                float[] eight = new float[8 * n], fours = new float[8 * n];
                fixed (float* px = c.X, ps = c.Scales, pw32 = c.WF32, py8 = eight, py4 = fours)
                fixed (ushort* pwb = c.WBf16)
                fixed (byte* pw8 = c.WFp8)
                {
                    void* w = format switch { WeightFormat.F32 => pw32, WeightFormat.Bf16 => pwb, _ => pw8 };
                    var p = new GemvProblem { M = 8, N = n, K = k, X = px, W = w, Scales = ps, Y = py8, Format = format };
                    Gemm.Gemv(Pool(threads), [p], GemmOutput.Overwrite, level);
                    GemvProblem low = p with { M = 4, Y = py4 }, high = p with { M = 4, X = px + 4 * k, Y = py4 + 4 * n };
                    Gemm.Gemv(Pool(threads), [low, high], GemmOutput.Overwrite, level);
                }
                Assert.Equal(fours, eight);
            }
    }

    [Fact]
    public void Gemv_ProblemWithTooManyRows_ThrowsArgumentException()
    {
        var problems = new GemvProblem[] { new() { M = Gemm.GemvMaxRows + 1, N = 4, K = 4 } };
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Gemv(Pool1, problems));
        Assert.Contains("M ≤", ex.Message);
    }
}
