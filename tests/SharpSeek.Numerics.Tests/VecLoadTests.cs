using SharpSeek.Numerics;

namespace SharpSeek.Numerics.Tests;

/// <summary>The widening loads, the byte maximum and the eight-way sum of IVec, for every width against the obvious
/// scalar meaning (the GEMV tiles widen BF16 and FP8 weights, scan FP8 codes and reduce their accumulators with
/// them).</summary>
public unsafe class VecLoadTests
{
    [Fact]
    public void WideningLoadsByteMaxAndSum8_MatchScalar_AtEveryWidth()
    {
        Check<VecScalar>();
        if (Simd.IsSupported(SimdLevel.Vector128)) Check<Vec128>();
        if (Simd.IsSupported(SimdLevel.Vector256)) Check<Vec256>();
        if (Simd.IsSupported(SimdLevel.Vector512)) Check<Vec512>();
    }

    // Optimized from the first call: the JIT bug these loads work around shows only in optimized code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Check<V>() where V : unmanaged, IVec<V>
    {
        int n = V.Count;
        var rng = new Random(n);
        byte[] bytes = new byte[4 * n], other = new byte[4 * n];
        ushort[] words = new ushort[n];
        rng.NextBytes(bytes);
        rng.NextBytes(other);
        for (int i = 0; i < n; i++) words[i] = (ushort)rng.Next(65536);
        bytes[0] = 0x80; bytes[1] = 0x7F; bytes[2] = 0xFF; bytes[3] = 0x00;   // sign-extension edges
        uint* lanes = stackalloc uint[n];
        fixed (byte* b = bytes, o = other)
        fixed (ushort* w = words)
        {
            V.Store(V.LoadSBytes((sbyte*)b), (float*)lanes);
            for (int i = 0; i < n; i++) Assert.True((uint)(int)(sbyte)bytes[i] == lanes[i], $"{typeof(V).Name} LoadSBytes lane {i}: {lanes[i]:X8}");
            V.Store(V.LoadBytes(b), (float*)lanes);
            for (int i = 0; i < n; i++) Assert.Equal(bytes[i], lanes[i]);
            V.Store(V.LoadUShorts(w), (float*)lanes);
            for (int i = 0; i < n; i++) Assert.Equal(words[i], lanes[i]);
            byte* max = stackalloc byte[4 * n];
            V.Store(V.MaxBytes(V.Load((float*)b), V.Load((float*)o)), (float*)max);
            for (int i = 0; i < 4 * n; i++) Assert.Equal(Math.Max(bytes[i], other[i]), max[i]);
        }
        Sum8EqualsSum<V>();
    }

    /// <summary>IVec.Sum8 against IVec.Sum of each vector, bit for bit: the add tree must group the lanes as Sum
    /// does, so decode and training keep their bits.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Sum8EqualsSum<V>() where V : unmanaged, IVec<V>
    {
        int n = V.Count;
        var rng = new Random(100 + n);
        float* lanes = stackalloc float[8 * n];
        float* sums = stackalloc float[8];
        for (int trial = 0; trial < 200; trial++)
        {
            // Magnitudes spread over 2^±20, so every grouping of the additions rounds differently.
            for (int i = 0; i < 8 * n; i++) lanes[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 21)));
            V.Sum8(V.Load(lanes), V.Load(lanes + n), V.Load(lanes + 2 * n), V.Load(lanes + 3 * n),
                V.Load(lanes + 4 * n), V.Load(lanes + 5 * n), V.Load(lanes + 6 * n), V.Load(lanes + 7 * n), sums);
            for (int i = 0; i < 8; i++)
            {
                float expected = V.Sum(V.Load(lanes + i * n));
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(sums[i]),
                    $"{typeof(V).Name} trial {trial} vector {i}: {sums[i]:R} (Sum gives {expected:R})");
            }
        }
    }
}
