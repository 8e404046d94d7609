using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

public class GemmQuantizedTests
{
    public static TheoryData<int> Threads() => [1, 2];

    public static TheoryData<int, SimdLevel> ThreadsAndLevels()
    {
        var data = new TheoryData<int, SimdLevel>();
        foreach (int threads in new[] { 1, 2 })
            foreach (SimdLevel level in Simd.Supported) data.Add(threads, level);
        return data;
    }

    [Fact]
    public unsafe void E4M3ToFloat8_MatchesFp8E4M3_ForEveryCode()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;   // the AVX2 widening only runs where AVX2 does
        var codes = new sbyte[256];
        for (int c = 0; c < 256; c++) codes[c] = (sbyte)c;
        fixed (sbyte* p = codes)
            for (int c = 0; c < 256; c += 8)
            {
                var v = GemmFormats.E4M3ToFloat8(p + c);
                for (int l = 0; l < 8; l++)
                {
                    float expected = Fp8E4M3.ToFloat((byte)(c + l));
                    Assert.True(TestSupport.SameBits(expected, v[l]) || (float.IsNaN(expected) && float.IsNaN(v[l])),
                        $"code 0x{c + l:X2}: {v[l]} vs {expected}");
                }
            }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Bf16Weights_MatchesReference_AtRaggedShapes(int threads, SimdLevel level)
    {
        foreach (var (m, n, k) in Shapes)
        {
            float[] x = Floats(m * k, m + k);
            ushort[] w = Bf16Bits(Floats(n * k, n + 2 * k));
            var expected = new float[m * n];
            var actual = Floats(m * n, 3);
            GemmReference.Bf16Weights(m, n, k, x, w, expected);
            Gemm.Bf16Weights(Pool(threads), m, n, k, x, w, actual, GemmOutput.Overwrite, level);
            AssertClose(expected, actual, Tolerance(k), $"bf16w {m}x{n}x{k}");
        }
    }

    [Theory]
    [MemberData(nameof(Threads))]
    public void Bf16Weights_EqualsF32NT_OnWidenedWeights(int threads)
    {
        int m = 9, n = 40, k = 77;
        float[] x = Floats(m * k, 1);
        ushort[] w = Bf16Bits(Floats(n * k, 2));
        float[] wide = Array.ConvertAll(w, h => BitConverter.Int32BitsToSingle(h << 16));
        float[] viaF32 = new float[m * n], viaBf16 = new float[m * n];
        GemmReference.F32(GemmLayout.NT, m, n, k, x, wide, viaF32);
        Gemm.Bf16Weights(Pool(threads), m, n, k, x, w, viaBf16);
        AssertClose(viaF32, viaBf16, Tolerance(k), "bf16w vs f32 NT");
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Block_MatchesReference_AtRaggedShapes(int threads, SimdLevel level)
    {
        foreach (var (m, n, k) in Shapes)
        {
            int kb = (k + 127) / 128, nb = (n + 127) / 128;
            byte[] a = Fp8(m * k, 1 + k), b = Fp8(n * k, 2 + n);
            float[] aScales = PositiveScales(m * kb, 3), bScales = PositiveScales(nb * kb, 4);
            var expected = new float[m * n];
            var actual = Floats(m * n, 5);
            GemmReference.Fp8Block(m, n, k, a, aScales, b, bScales, expected);
            Gemm.Fp8Block(Pool(threads), m, n, k, a, aScales, b, bScales, actual, level);
            AssertClose(expected, actual, Tolerance(k), $"fp8 block {m}x{n}x{k}");
        }
    }

    [Theory]
    [MemberData(nameof(Threads))]
    public void Fp8Block_EqualsDequantizeThenF32Gemm(int threads)
    {
        int m = 250, n = 260, k = 300, kb = 3, nb = 3;   // M ≥ 2·MC: two threads share packed B blocks
        byte[] a = Fp8(m * k, 7), b = Fp8(n * k, 8);
        float[] aScales = PositiveScales(m * kb, 9), bScales = PositiveScales(nb * kb, 10);
        float[] aF = new float[m * k], bF = new float[n * k];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++) aF[i * k + p] = E4M3(a[i * k + p]) * aScales[i * kb + p / 128];
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++) bF[j * k + p] = E4M3(b[j * k + p]) * bScales[j / 128 * kb + p / 128];
        float[] viaF32 = new float[m * n], viaFp8 = new float[m * n];
        Gemm.F32(Pool(threads), GemmLayout.NT, m, n, k, aF, bF, viaF32);
        Gemm.Fp8Block(Pool(threads), m, n, k, a, aScales, b, bScales, viaFp8);
        AssertClose(viaF32, viaFp8, Tolerance(k), "fp8 block vs dequantized f32");
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Weights_MatchesReference_FromDecodeToPrefillShapes(int threads, SimdLevel level)
    {
        (int M, int N, int K)[] shapes = [.. Shapes, (1, 300, 1000), (2, 129, 384), (4, 64, 256), (3, 17, 135), (1, 8, 4096), (5, 20, 260)];
        foreach (var (m, n, k) in shapes)
        {
            int kb = (k + 127) / 128, nb = (n + 127) / 128;
            float[] x = Floats(m * k, m + k);
            byte[] w = Fp8(n * k, n);
            float[] scales = PositiveScales(nb * kb, k);
            var expected = new float[m * n];
            var actual = Floats(m * n, 5);
            GemmReference.Fp8Weights(m, n, k, x, w, scales, expected);
            Gemm.Fp8Weights(Pool(threads), m, n, k, x, w, scales, actual, GemmOutput.Overwrite, level);
            AssertClose(expected, actual, Tolerance(k), $"fp8 weights {m}x{n}x{k}");

            float[] accExpected = Floats(m * n, 6), accActual = Floats(m * n, 6);
            GemmReference.Fp8Weights(m, n, k, x, w, scales, accExpected, GemmOutput.Accumulate);
            Gemm.Fp8Weights(Pool(threads), m, n, k, x, w, scales, accActual, GemmOutput.Accumulate, level);
            AssertClose(accExpected, accActual, Tolerance(k), $"fp8 weights accumulate {m}x{n}x{k}");
        }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Weights_NaNWeightCode_GivesNaNInItsOutputColumnOnly(int threads, SimdLevel level)
    {
        foreach (int m in new[] { 1, 9 })   // the decode GEMV and the packed GEMM
        {
            int n = 40, k = 300;
            float[] x = Floats(m * k, 1);
            byte[] w = Fp8(n * k, 2);
            w[7 * k + 200] = 0xFF;           // -NaN code in row 7
            float[] scales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 3), y = new float[m * n];
            Gemm.Fp8Weights(Pool(threads), m, n, k, x, w, scales, y, GemmOutput.Overwrite, level);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    Assert.Equal(j == 7, float.IsNaN(y[i * n + j]));
        }
    }

    [Theory]
    [MemberData(nameof(ThreadsAndLevels))]
    public void Fp8Block_NaNCode_GivesNaNInItsRowAndColumnOnly(int threads, SimdLevel level)
    {
        int m = 20, n = 40, k = 300, kb = 3;
        byte[] a = Fp8(m * k, 1), b = Fp8(n * k, 2);
        a[3 * k + 17] = 0x7F;                // row 3 of A
        b[11 * k + 290] = 0xFF;              // row 11 of B = column 11 of C
        float[] aScales = PositiveScales(m * kb, 3), bScales = PositiveScales(kb, 4), c = new float[m * n];
        Gemm.Fp8Block(Pool(threads), m, n, k, a, aScales, b, bScales, c, level);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                Assert.Equal(i == 3 || j == 11, float.IsNaN(c[i * n + j]));
    }

    [Fact]
    public void Fp8Block_WrongScaleShape_ThrowsArgumentException()
    {
        var e = Assert.Throws<ArgumentException>(() => Gemm.Fp8Block(Pool1, 2, 2, 200, new byte[400], new float[2],
            new byte[400], new float[2], new float[4]));
        Assert.Contains("aScales", e.Message);
    }

    internal static ushort[] Bf16Bits(float[] values) =>
        Array.ConvertAll(values, v => (ushort)(BitConverter.SingleToInt32Bits(v) >>> 16));

    // Independent of the library's decoder: E4M3 = (-1)^s · 2^(e-7) · (1 + m/8), subnormal 2^-6 · m/8.
    internal static float E4M3(byte code)
    {
        int e = (code >> 3) & 15, mant = code & 7;
        double v = e == 0 ? Math.Pow(2, -6) * mant / 8 : Math.Pow(2, e - 7) * (1 + mant / 8.0);
        return (float)((code & 0x80) != 0 ? -v : v);
    }
}
