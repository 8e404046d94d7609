namespace SharpSeek.Numerics.Tests;

/// <summary>Shared test data: every SIMD level this CPU runs (Vector512 only where accelerated) and lengths.</summary>
public static class TestSupport
{
    /// <summary>Managed bytes this thread allocates in one <paramref name="call"/> after a warm-up call: the least of
    /// three measured calls. A call that allocates allocates every time; the minimum only drops what the runtime
    /// itself allocates now and then on a busy machine (seen about once in ten full CI runs: a few KB on one
    /// thread in the middle of a kernel loop that allocates nothing in isolation).</summary>
    public static long AllocatedBy(Action call)
    {
        call();
        long least = long.MaxValue;
        for (int attempt = 0; attempt < 3 && least != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            call();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }

    public static TheoryData<SimdLevel> SupportedLevels()
    {
        var data = new TheoryData<SimdLevel>();
        foreach (SimdLevel level in Simd.Supported) data.Add(level);
        return data;
    }

    /// <summary>Every length 0..256, then a few odd large ones.</summary>
    public static IEnumerable<int> Lengths()
    {
        for (int n = 0; n <= 256; n++) yield return n;
        foreach (int n in new[] { 257, 511, 1000, 4099 }) yield return n;
    }

    /// <summary>Floats spanning many binades with both signs, plus the special values.</summary>
    public static float[] WideFloats(Random rng, int count)
    {
        float[] specials = [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN,
            float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 448f, 464f, 57344f, 61440f, 1e-7f, 1e-5f];
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (i % 7) switch
            {
                0 => specials[rng.Next(specials.Length)],
                1 => BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)),
                _ => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 20))),
            };
        }
        return values;
    }

    public static float[] RandomFloats(Random rng, int count, float scale = 1f)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    public static bool SameBits(float a, float b) =>
        BitConverter.SingleToUInt32Bits(a) == BitConverter.SingleToUInt32Bits(b) || (float.IsNaN(a) && float.IsNaN(b));
}

public static class Approx
{
    /// <summary>|expected − actual| ≤ tolerance · max(1, |expected|), with a message naming the element.</summary>
    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (Math.Abs(e - a) > tolerance * Math.Max(1, Math.Abs(e)))
                Assert.Fail($"{context}: element {i} expected {e:R}, got {a:R} (tolerance {tolerance})");
        }
    }

    public static void Equal(double expected, double actual, double tolerance, string context)
    {
        if (Math.Abs(expected - actual) > tolerance * Math.Max(1, Math.Abs(expected)))
            Assert.Fail($"{context}: expected {expected:R}, got {actual:R} (tolerance {tolerance})");
    }

    /// <summary>Central finite difference of a scalar function of x at element i (in FP64 around the FP32 point).</summary>
    public static double Derivative(float[] x, int i, Func<float[], double> f, float h = 1e-2f)
    {
        float saved = x[i];
        x[i] = saved + h; double plus = f(x);
        x[i] = saved - h; double minus = f(x);
        x[i] = saved;
        return (plus - minus) / (2.0 * h);
    }
}
