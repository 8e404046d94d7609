namespace SharpSeek.Numerics.Tests;

public class Bf16ConversionTests
{
    /// <summary>Independent model: nearest of the two BF16 neighbours by double distance, ties to even, finite stays finite.</summary>
    private static ushort Oracle(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x)) return (ushort)((bits >> 16) | 0x40);
        if (float.IsInfinity(x)) return (ushort)(bits >> 16);
        uint sign = bits & 0x8000_0000;
        uint lo = (bits & 0x7FFF_FFFF) >> 16, hi = lo + 1;
        double a = Math.Abs((double)x);
        double vLo = BitConverter.UInt32BitsToSingle(lo << 16);
        if (vLo == a) return (ushort)((sign >> 16) | lo);
        if (hi == 0x7F80) return (ushort)((sign >> 16) | lo);              // saturate instead of rounding to inf
        double vHi = BitConverter.UInt32BitsToSingle(hi << 16);
        uint code = a - vLo < vHi - a ? lo : vHi - a < a - vLo ? hi : (lo % 2 == 0 ? lo : hi);
        return (ushort)((sign >> 16) | code);
    }

    [Fact]
    public void EveryCode_DecodesToTheTop16BitsAndReencodesToItself()
    {
        for (int c = 0; c < 65536; c++)
        {
            float f = Bf16.ToFloat((ushort)c);
            Assert.Equal((uint)c << 16, BitConverter.SingleToUInt32Bits(f));
            ushort back = Bf16.FromFloat(f);
            if (float.IsNaN(f)) Assert.Equal(c | 0x40, back);      // NaN stays NaN, quieted
            else Assert.Equal(c, back);
        }
    }

    [Fact]
    public void EveryMidpoint_TiesToEvenAndItsNeighboursRoundToTheNearer()
    {
        for (uint c = 0; c < 0x7F7F; c++)                 // consecutive finite pairs (c, c + 1)
        {
            foreach (uint sign in new uint[] { 0, 0x8000_0000 })
            {
                uint mid = sign | (c << 16) | 0x8000;
                uint s16 = sign >> 16;
                Assert.Equal(s16 | (c % 2 == 0 ? c : c + 1), Bf16.FromFloat(BitConverter.UInt32BitsToSingle(mid)));
                Assert.Equal(s16 | c, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(mid - 1)));
                Assert.Equal(s16 | (c + 1), Bf16.FromFloat(BitConverter.UInt32BitsToSingle(mid + 1)));
            }
        }
    }

    [Fact]
    public void SpecialValues_FollowThePolicy()
    {
        Assert.Equal(0x7F80, Bf16.FromFloat(float.PositiveInfinity));
        Assert.Equal(0xFF80, Bf16.FromFloat(float.NegativeInfinity));
        Assert.Equal(Bf16.MaxFiniteBits, Bf16.FromFloat(float.MaxValue));            // would round to inf: saturates
        Assert.Equal(0xFF7F, Bf16.FromFloat(float.MinValue));
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))));
        Assert.Equal(0x8000, Bf16.FromFloat(-0f));
        Assert.Equal(0x3F80, Bf16.FromFloat(1f));
    }

    [Fact]
    public void Encode_MatchesTheOracleOnRandomFloats()
    {
        var rng = new Random(7);
        foreach (float x in TestSupport.WideFloats(rng, 500_000))
            Assert.True(Oracle(x) == Bf16.FromFloat(x), $"x = {x:R}: oracle 0x{Oracle(x):X4}, got 0x{Bf16.FromFloat(x):X4}");
    }

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void SpanConversions_MatchTheScalarPathAtEveryLength(SimdLevel level)
    {
        var rng = new Random(5);
        foreach (int n in TestSupport.Lengths())
        {
            float[] x = TestSupport.WideFloats(rng, n);
            var codes = new ushort[n];
            var back = new float[n];
            Bf16.FromFloat(x, codes, level);
            Bf16.ToFloat(codes, back, level);
            for (int i = 0; i < n; i++)
            {
                Assert.True(Bf16.FromFloat(x[i]) == codes[i], $"{level} n={n} i={i} x={x[i]:R}");
                Assert.Equal(BitConverter.SingleToUInt32Bits(Bf16.ToFloat(codes[i])), BitConverter.SingleToUInt32Bits(back[i]));
            }
        }
    }
}
