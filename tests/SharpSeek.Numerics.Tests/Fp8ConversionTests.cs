namespace SharpSeek.Numerics.Tests;

public class Fp8ConversionTests
{
    public static TheoryData<string> Formats() => new() { "e4m3", "e5m2" };

    private static (Func<float, byte> Encode, Func<byte, float> Decode, Fp8Oracle Oracle) Format(string name) => name switch
    {
        "e4m3" => (Fp8E4M3.FromFloat, Fp8E4M3.ToFloat, Fp8Oracle.E4M3),
        "e5m2" => (Fp8E5M2.FromFloat, Fp8E5M2.ToFloat, Fp8Oracle.E5M2),
        _ => throw new ArgumentException(name),
    };

    [Theory, MemberData(nameof(Formats))]
    public void Decode_EveryCodeMatchesTheOcpFormula(string name)
    {
        var (_, decode, oracle) = Format(name);
        for (int c = 0; c < 256; c++)
        {
            double expected = oracle.Decode(c);
            float actual = decode((byte)c);
            if (double.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"code 0x{c:X2} should be NaN");
            else Assert.True(BitConverter.SingleToUInt32Bits(actual) == BitConverter.SingleToUInt32Bits((float)expected),
                $"code 0x{c:X2}: expected {expected}, got {actual}");
        }
    }

    [Theory, MemberData(nameof(Formats))]
    public void Encode_OfEveryDecodedFiniteCodeGivesTheCodeBack(string name)
    {
        var (encode, decode, oracle) = Format(name);
        for (int c = 0; c < 256; c++)
        {
            if (oracle.IsNaN(c)) Assert.Equal(0x7F | (c & 0x80), encode(decode((byte)c)));
            else if (oracle.IsInfinity(c)) Assert.Equal(oracle.MaxFiniteCode | (c & 0x80), encode(decode((byte)c)));
            else Assert.Equal(c, encode(decode((byte)c)));
        }
    }

    [Fact]
    public void Encode_KnownValues()
    {
        Assert.Equal(0x7E, Fp8E4M3.FromFloat(448f));
        Assert.Equal(0x7E, Fp8E4M3.FromFloat(1e30f));
        Assert.Equal(0x7E, Fp8E4M3.FromFloat(464f));                                     // midpoint 448|480: saturates
        Assert.Equal(0xFE, Fp8E4M3.FromFloat(-MathF.BitIncrement(480f)));
        Assert.Equal(0x7B, Fp8E5M2.FromFloat(61440f));                                   // midpoint 57344|65536
        Assert.Equal(0xFB, Fp8E5M2.FromFloat(-1e38f));
        Assert.Equal(0xFE, Fp8E4M3.FromFloat(float.NegativeInfinity));
        Assert.Equal(0x7F, Fp8E4M3.FromFloat(float.NaN) & 0x7F);
        Assert.Equal(0x38, Fp8E4M3.FromFloat(1f));
        Assert.Equal(0x01, Fp8E4M3.FromFloat(MathF.Pow(2, -9)));
        Assert.Equal(0x00, Fp8E4M3.FromFloat(MathF.Pow(2, -10)));                        // tie with 0 -> even (0)
        Assert.Equal(0x02, Fp8E4M3.FromFloat(3 * MathF.Pow(2, -10)));                    // tie 1|2 -> even (2)
        Assert.Equal(0x80, Fp8E4M3.FromFloat(-0f));
        Assert.Equal(0x7B, Fp8E5M2.FromFloat(57344f));
        Assert.Equal(0x7B, Fp8E5M2.FromFloat(float.PositiveInfinity));
        Assert.Equal(0x3C, Fp8E5M2.FromFloat(1f));
        Assert.Equal(float.PositiveInfinity, Fp8E5M2.ToFloat(0x7C));
        Assert.Equal(float.NegativeInfinity, Fp8E5M2.ToFloat(0xFC));
        Assert.Equal(0x01, Fp8E5M2.FromFloat(MathF.Pow(2, -16)));
    }

    [Theory, MemberData(nameof(Formats))]
    public void Encode_AtEveryMidpointTiesToEvenAndNeighboursRoundToTheNearer(string name)
    {
        var (encode, _, _) = Format(name);
        foreach (var (code, low, high) in ((Fp8Oracle)Format(name).Oracle).ConsecutivePairs())
        {
            float mid = (float)((low + high) / 2);                 // exact: at most 5 significant bits
            Assert.Equal((low + high) / 2, (double)mid);
            int even = code % 2 == 0 ? code : code + 1;
            foreach (int sign in new[] { 0, 0x80 })
            {
                float s = sign == 0 ? 1 : -1;
                Assert.Equal(even | sign, encode(s * mid));
                Assert.Equal(code | sign, encode(s * MathF.BitDecrement(mid)));
                Assert.Equal((code + 1) | sign, encode(s * MathF.BitIncrement(mid)));
            }
        }
    }

    [Theory, MemberData(nameof(Formats))]
    public void Encode_MatchesTheBruteForceOracleOnRandomFloats(string name)
    {
        var (encode, _, oracle) = Format(name);
        var rng = new Random(1234);
        foreach (float x in TestSupport.WideFloats(rng, 200_000))
            Assert.True(oracle.Encode(x) == encode(x), $"x = {x:R}: oracle 0x{oracle.Encode(x):X2}, got 0x{encode(x):X2}");
        // Dense sampling of the representable range, where every rounding decision happens.
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-18, 17)));
            Assert.True(oracle.Encode(x) == encode(x), $"x = {x:R}: oracle 0x{oracle.Encode(x):X2}, got 0x{encode(x):X2}");
        }
    }

    public static TheoryData<string, SimdLevel> FormatsAndLevels()
    {
        var data = new TheoryData<string, SimdLevel>();
        foreach (string f in new[] { "e4m3", "e5m2" })
            foreach (SimdLevel level in Simd.Supported) data.Add(f, level);
        return data;
    }

    [Theory, MemberData(nameof(FormatsAndLevels))]
    public void SpanConversions_MatchTheScalarPathAtEveryLength(string name, SimdLevel level)
    {
        var (encode, decode, _) = Format(name);
        var rng = new Random(99);
        foreach (int n in TestSupport.Lengths())
        {
            float[] x = TestSupport.WideFloats(rng, n);
            var codes = new byte[n];
            var back = new float[n];
            if (name == "e4m3") { Fp8E4M3.FromFloat(x, codes, level); Fp8E4M3.ToFloat(codes, back, level); }
            else { Fp8E5M2.FromFloat(x, codes, level); Fp8E5M2.ToFloat(codes, back, level); }
            for (int i = 0; i < n; i++)
            {
                Assert.True(encode(x[i]) == codes[i], $"{level} n={n} i={i} x={x[i]:R}");
                Assert.True(TestSupport.SameBits(decode(codes[i]), back[i]), $"{level} n={n} i={i} code=0x{codes[i]:X2}");
            }
        }
    }

    [Theory, MemberData(nameof(FormatsAndLevels))]
    public void SpanDecode_OfAllCodesMatchesTheScalarPath(string name, SimdLevel level)
    {
        var (_, decode, _) = Format(name);
        byte[] all = Enumerable.Range(0, 256).Select(c => (byte)c).ToArray();
        var values = new float[256];
        if (name == "e4m3") Fp8E4M3.ToFloat(all, values, level); else Fp8E5M2.ToFloat(all, values, level);
        for (int c = 0; c < 256; c++) Assert.True(TestSupport.SameBits(decode((byte)c), values[c]), $"code 0x{c:X2}");
    }

    [Fact]
    public void SpanConversions_RejectAShortDestination()
    {
        Assert.Throws<ArgumentException>(() => Fp8E4M3.FromFloat(new float[4], new byte[3]));
        Assert.Throws<ArgumentException>(() => Fp8E5M2.ToFloat(new byte[4], new float[3]));
    }
}
