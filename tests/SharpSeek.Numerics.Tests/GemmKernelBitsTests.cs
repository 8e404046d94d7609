using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

/// <summary>The vector micro-kernels (6x16 AVX2 and 12x32 AVX-512) sum every C element over k in the same order,
/// so each gives the Vector256 kernel's bits: switching kernels changes speed, never a training run's numbers.
/// Shapes leave ragged MR / NR edges for both kernels, cross KC and use M above the GEMV cut, and strides of 1024
/// floats and more (packed even where the kernels read k-major FP32 operands in place). Both vector kernels read
/// those operands in place; InPlace_GivesThePackedBits holds each to its own packed path.</summary>
public class GemmKernelBitsTests
{
    public static TheoryData<SimdLevel> WideLevels()
    {
        var data = new TheoryData<SimdLevel>();
        foreach (SimdLevel level in Simd.Supported)
            if (level >= SimdLevel.Vector256) data.Add(level);
        return data;
    }

    private static readonly (int M, int N, int K)[] BitShapes =
        [(37, 70, 530), (300, 45, 129), (13, 257, 64), (96, 32, 385), (1030, 40, 50), (24, 1024, 40), (36, 96, 400)];

    [Theory]
    [MemberData(nameof(WideLevels))]
    public void F32_EveryLayoutAndThreadCount_GivesVector256Bits(SimdLevel level)
    {
        foreach (GemmLayout layout in new[] { GemmLayout.NN, GemmLayout.NT, GemmLayout.TN })
            foreach (var (m, n, k) in BitShapes)
                foreach (int threads in new[] { 1, 2 })
                {
                    float[] a = Floats(m * k, 31), b = Floats(n * k, 32), c0 = Floats(m * n, 33);
                    float[] expected = (float[])c0.Clone(), actual = (float[])c0.Clone();
                    Gemm.F32(Pool(threads), layout, m, n, k, a, b, expected, GemmOutput.Accumulate, SimdLevel.Vector256);
                    Gemm.F32(Pool(threads), layout, m, n, k, a, b, actual, GemmOutput.Accumulate, level);
                    Assert.True(expected.AsSpan().SequenceEqual(actual), $"{layout} {m}x{n}x{k} threads={threads} {level}");
                }
    }

    [Theory]
    [MemberData(nameof(WideLevels))]
    public void InPlace_GivesThePackedBits(SimdLevel level)
    {
        foreach (GemmLayout layout in new[] { GemmLayout.NN, GemmLayout.TN })
            foreach (var (m, n, k) in BitShapes)
                foreach (int threads in new[] { 1, 2 })
                {
                    float[] a = Floats(m * k, 41), b = Floats(n * k, 42), c0 = Floats(m * n, 43);
                    float[] packed = (float[])c0.Clone(), inPlace = (float[])c0.Clone();
                    Gemm.F32(Pool(threads), layout, m, n, k, a, b, packed, GemmOutput.Accumulate, level, packAll: true);
                    Gemm.F32(Pool(threads), layout, m, n, k, a, b, inPlace, GemmOutput.Accumulate, level, packAll: false);
                    Assert.True(packed.AsSpan().SequenceEqual(inPlace), $"{layout} {m}x{n}x{k} threads={threads} {level}");
                }
    }

    [Fact]
    public unsafe void InPlace_ReadsOnlyShortStridedFp32OperandsStoredAcrossK_OnStridedKernels()
    {
        // The bits tests hold either way; this one pins which operands the driver actually reads in place.
        GemmProblem p = default, packAll = new() { PackAll = true };
        GemmOperand Op(long ld) => new() { Data = null, Ld = ld };
        Assert.True(GemmDriver.InPlace<ColumnsPacker, MicroKernel12x32Avx512>(p, Op(256)));
        Assert.True(GemmDriver.InPlace<ColumnsPacker, MicroKernel12x32Avx512>(p, Op(1023)));
        Assert.True(GemmDriver.InPlace<ColumnsPacker, MicroKernel6x16Avx>(p, Op(256)));
        Assert.False(GemmDriver.InPlace<ColumnsPacker, MicroKernel12x32Avx512>(p, Op(1024)));    // 4 KB rows: packed
        Assert.False(GemmDriver.InPlace<ColumnsPacker, MicroKernel6x16Avx>(p, Op(8192)));
        Assert.False(GemmDriver.InPlace<RowsPacker<F32Element>, MicroKernel12x32Avx512>(p, Op(256)));   // stored along K
        Assert.False(GemmDriver.InPlace<ColumnsPacker, MicroKernel6x8V128>(p, Op(256)));         // packs everything
        Assert.False(GemmDriver.InPlace<ColumnsPacker, MicroKernel12x32Avx512>(packAll, Op(256)));
    }

    [Theory]
    [MemberData(nameof(WideLevels))]
    public void QuantizedWeights_GiveVector256Bits(SimdLevel level)
    {
        foreach (var (m, n, k) in BitShapes)
        {
            float[] x = Floats(m * k, 41);
            ushort[] bf16 = Floats(n * k, 42).Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray();
            byte[] fp8 = Fp8(n * k, 43), xFp8 = Fp8(m * k, 44);
            float[] wScales = Floats(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 45), xScales = Floats(m * GemmArgs.Blocks(k), 46);
            float[] e1 = new float[m * n], a1 = new float[m * n];
            Gemm.Bf16Weights(Pool2, m, n, k, x, bf16, e1, GemmOutput.Overwrite, SimdLevel.Vector256);
            Gemm.Bf16Weights(Pool2, m, n, k, x, bf16, a1, GemmOutput.Overwrite, level);
            Assert.True(e1.AsSpan().SequenceEqual(a1), $"BF16 weights {m}x{n}x{k} {level}");
            Gemm.Fp8Weights(Pool2, m, n, k, x, fp8, wScales, e1, GemmOutput.Overwrite, SimdLevel.Vector256);
            Gemm.Fp8Weights(Pool2, m, n, k, x, fp8, wScales, a1, GemmOutput.Overwrite, level);
            Assert.True(e1.AsSpan().SequenceEqual(a1), $"FP8 weights {m}x{n}x{k} {level}");
            Gemm.Fp8Block(Pool2, m, n, k, xFp8, xScales, fp8, wScales, e1, SimdLevel.Vector256);
            Gemm.Fp8Block(Pool2, m, n, k, xFp8, xScales, fp8, wScales, a1, level);
            Assert.True(e1.AsSpan().SequenceEqual(a1), $"FP8 block {m}x{n}x{k} {level}");
        }
    }

    [Theory]
    [MemberData(nameof(WideLevels))]
    public void Grouped_EveryLayout_GivesVector256Bits(SimdLevel level)
    {
        int n = 70, k = 100;
        int[] offsets = [0, 37, 37, 150, 161];
        int rows = offsets[^1], groups = offsets.Length - 1;
        foreach (GemmLayout layout in new[] { GemmLayout.NT, GemmLayout.NN, GemmLayout.TN })
        {
            (int aCols, int bLength, int cLength) = layout switch
            {
                GemmLayout.NT => (k, groups * n * k, rows * n),
                GemmLayout.NN => (n, groups * n * k, rows * k),
                _ => (n, rows * k, groups * n * k),
            };
            float[] a = Floats(rows * aCols, 51), b = Floats(bLength, 52);
            float[] expected = new float[cLength], actual = new float[cLength];
            Gemm.GroupedF32(Pool2, layout, n, k, offsets, a, b, expected, GemmOutput.Overwrite, SimdLevel.Vector256);
            Gemm.GroupedF32(Pool2, layout, n, k, offsets, a, b, actual, GemmOutput.Overwrite, level);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"grouped {layout} {level}");
        }
    }
}
