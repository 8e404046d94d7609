using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

/// <summary>The K-major small-M product (Gemm.GemvKN: y = x · W, W (K,N) row-major) against a naive dequantize-then-
/// multiply reference in double: every token count of its tiles, column counts past and between the 4-vector tiles,
/// FP8 scale blocks entered at a row offset (a head's rows inside kv_b), accumulate, NaN codes, many problems in one
/// run.</summary>
public unsafe class GemvKNTests
{
    public static TheoryData<int, SimdLevel> ThreadsAndLevels() => GemvTests.ThreadsAndLevels();

    // N: under one vector, between the vector and 4-vector tiles, past a 128-column scale block.
    // K: one row, a few, a head's 64, past a 128-row block (with the offsets below, blocks are entered mid-way).
    private static readonly (int N, int K)[] Shapes = [(1, 1), (5, 3), (40, 64), (64, 33), (130, 129), (257, 70)];
    private static readonly int[] RowOffsets = [0, 64, 127];

    private sealed class Case
    {
        public required GemvKNProblem P;
        public required float[] X, Y, Expected, Scales, WF32;
        public required ushort[] WBf16;
        public required byte[] WFp8;
    }

    /// <summary>A problem whose arrays the caller pins (Run does); Expected in double from dequantized weights.</summary>
    private static Case Make(WeightFormat format, int m, int n, int k, int offset, int seed, GemmOutput output)
    {
        float[] x = Floats(m * k, seed), y = Floats(m * n, seed + 1), wf = Floats(k * n, seed + 2);
        int scaleRows = GemmArgs.Blocks(offset + k), scaleCols = GemmArgs.Blocks(n);
        float[] scales = PositiveScales(scaleRows * scaleCols, seed + 3);
        ushort[] wb = new ushort[k * n];
        Bf16.FromFloat(wf, wb);
        byte[] w8 = Fp8(k * n, seed + 4);
        var expected = new float[m * n];
        for (int t = 0; t < m; t++)
            for (int c = 0; c < n; c++)
            {
                double sum = output == GemmOutput.Accumulate ? y[t * n + c] : 0;
                for (int i = 0; i < k; i++)
                {
                    double w = format switch
                    {
                        WeightFormat.F32 => wf[i * n + c],
                        WeightFormat.Bf16 => Bf16.ToFloat(wb[i * n + c]),
                        _ => (double)Fp8E4M3.ToFloat(w8[i * n + c]) * scales[(offset + i) / 128 * scaleCols + c / 128],
                    };
                    sum += x[t * k + i] * w;
                }
                expected[t * n + c] = (float)sum;
            }
        var p = new GemvKNProblem { M = m, N = n, K = k, Format = format, ScaleRowOffset = offset };
        return new Case { P = p, X = x, Y = y, Expected = expected, Scales = scales, WF32 = wf, WBf16 = wb, WFp8 = w8 };
    }

    private static void Run(IReadOnlyList<Case> cases, int threads, SimdLevel level, GemmOutput output)
    {
        using var pins = new Pins();
        var problems = new GemvKNProblem[cases.Count];
        for (int i = 0; i < cases.Count; i++)
        {
            Case c = cases[i];
            object w = c.P.Format switch { WeightFormat.F32 => c.WF32, WeightFormat.Bf16 => c.WBf16, _ => c.WFp8 };
            problems[i] = c.P with { X = (float*)pins.Pin(c.X), Y = (float*)pins.Pin(c.Y), W = pins.Pin(w), Scales = (float*)pins.Pin(c.Scales) };
        }
        Gemm.GemvKN(Pool(threads), problems, output, level);
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void GemvKN_EveryTokenCountAndShape_MatchesTheReference(int threads, SimdLevel level)
    {
        foreach (WeightFormat format in Enum.GetValues<WeightFormat>())
            foreach (GemmOutput output in new[] { GemmOutput.Overwrite, GemmOutput.Accumulate })
                for (int m = 1; m <= Gemm.GemvMaxRows; m++)
                    foreach (var (n, k) in Shapes)
                    {
                        int offset = format == WeightFormat.Fp8E4M3 ? RowOffsets[(m + n) % RowOffsets.Length] : 0;
                        Case c = Make(format, m, n, k, offset, 7 * m + n + k, output);
                        Run([c], threads, level, output);
                        AssertClose(c.Expected, c.Y, Tolerance(k), $"{format} {output} {m}x{n}x{k} +{offset} on {level}");
                    }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void GemvKN_ManyProblemsOfMixedFormats_EachMatchesItsReference(int threads, SimdLevel level)
    {
        var cases = new List<Case>();
        int seed = 0;
        foreach (var (n, k) in Shapes)
            foreach (WeightFormat format in Enum.GetValues<WeightFormat>())
                cases.Add(Make(format, 1 + seed % Gemm.GemvMaxRows, n, k, RowOffsets[seed % RowOffsets.Length], 200 + seed++, GemmOutput.Accumulate));
        Run(cases, threads, level, GemmOutput.Accumulate);
        foreach (Case c in cases) AssertClose(c.Expected, c.Y, Tolerance(c.P.K), $"{c.P.Format} {c.P.M}x{c.P.N}x{c.P.K} in a batch");
    }

    [Fact]
    public void GemvKN_Fp8NaNCode_MakesItsColumnNaN_UnlessCheckedFree()
    {
        Case c = Make(WeightFormat.Fp8E4M3, 3, 70, 20, 0, 9, GemmOutput.Overwrite);
        c.WFp8[5 * 70 + 33] = 0xFF;   // row 5, column 33: S.1111.111
        Run([c], 2, Simd.Active, GemmOutput.Overwrite);
        for (int t = 0; t < 3; t++)
            for (int col = 0; col < 70; col++)
                Assert.Equal(col == 33, float.IsNaN(c.Y[t * 70 + col]));
    }

    [Fact]
    public void GemvKN_ScaleRowOffsetOutOfRange_IsRejected()
    {
        float[] buffer = new float[16];
        fixed (float* b = buffer)
        {
            var problems = new[] { new GemvKNProblem { M = 1, N = 2, K = 2, X = b, Y = b + 4, W = b + 8, Scales = b + 12, Format = WeightFormat.Fp8E4M3, ScaleRowOffset = 128 } };
            var ex = Assert.Throws<ArgumentException>(() => Gemm.GemvKN(Pool1, problems));
            Assert.Contains("scale row offset 128", ex.Message);
        }
    }
}
