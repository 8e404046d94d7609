using SharpSeek.Numerics;

namespace SharpSeek.Numerics.Tests;

/// <summary>Shared pools, random operands and the tolerance check for the GEMM tests.</summary>
internal static class GemmTestData
{
    public static readonly WorkerPool Pool1 = new(1);
    public static readonly WorkerPool Pool2 = new(2);

    public static WorkerPool Pool(int threads) => threads == 1 ? Pool1 : Pool2;

    /// <summary>Managed arrays pinned for as long as a test holds raw pointers into them (freed on Dispose).</summary>
    public sealed unsafe class Pins : IDisposable
    {
        private readonly List<System.Runtime.InteropServices.GCHandle> _handles = [];

        public void* Pin(object array)
        {
            var h = System.Runtime.InteropServices.GCHandle.Alloc(array, System.Runtime.InteropServices.GCHandleType.Pinned);
            _handles.Add(h);
            return (void*)h.AddrOfPinnedObject();
        }

        public void Dispose()
        {
            foreach (var h in _handles) h.Free();
            _handles.Clear();
        }
    }

    /// <summary>Shapes chosen to cross every blocking edge: 1, odd, just under/over MR=6, NR=16, 128, KC, and the
    /// small-M GEMV (M ≤ 4) with K past its 32-wide vector loop.</summary>
    public static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (1, 7, 13), (7, 1, 13), (13, 17, 1), (6, 16, 8), (7, 17, 129), (13, 127, 127),
        (127, 13, 257), (129, 33, 300), (5, 130, 131), (64, 48, 513), (31, 257, 64), (3, 40, 300), (1, 33, 70),
    ];

    public static float[] Floats(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return v;
    }

    /// <summary>Random E4M3 codes, NaN codes (S.1111.111) excluded.</summary>
    public static byte[] Fp8(int count, int seed)
    {
        var rng = new Random(seed);
        var v = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int code;
            do code = rng.Next(256); while ((code & 0x7F) == 0x7F);
            v[i] = (byte)code;
        }
        return v;
    }

    public static float[] PositiveScales(int count, int seed)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(0.25 + rng.NextDouble()) / 448f;
        return v;
    }

    /// <summary>Asserts |actual - expected| ≤ tol·(|expected| + 1) element-wise; the error of an FP32 dot
    /// product of length K with O(1) terms grows like K·eps, so tol is scaled by K by callers.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]);
            if (!(err <= tol * (Math.Abs(expected[i]) + 1)))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (error {err:G3} > tolerance {tol:G3}).");
        }
    }

    public static double Tolerance(int k) => 4e-7 * (k + 16);
}
