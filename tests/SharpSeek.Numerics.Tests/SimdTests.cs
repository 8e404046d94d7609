using System.Runtime.Intrinsics;

namespace SharpSeek.Numerics.Tests;

public class SimdTests
{
    [Fact]
    public void Supported_StartsWithScalarAndListsOnlyAcceleratedWidths()
    {
        Assert.Equal(SimdLevel.Scalar, Simd.Supported[0]);
        Assert.Equal(Vector128.IsHardwareAccelerated, Simd.Supported.Contains(SimdLevel.Vector128));
        Assert.Equal(Vector256.IsHardwareAccelerated, Simd.Supported.Contains(SimdLevel.Vector256));
        Assert.Equal(Vector512.IsHardwareAccelerated, Simd.Supported.Contains(SimdLevel.Vector512));
    }

    [Theory]
    [InlineData("scalar", SimdLevel.Scalar)]
    [InlineData("V128", SimdLevel.Vector128)]
    [InlineData(" v256 ", SimdLevel.Vector256)]
    [InlineData("v512", SimdLevel.Vector512)]
    public void Parse_AcceptsTheEnvironmentNames(string text, SimdLevel expected) => Assert.Equal(expected, Simd.Parse(text));

    [Fact]
    public void Parse_RejectsUnknownNamesWithTheAllowedList()
    {
        var e = Assert.Throws<ArgumentException>(() => Simd.Parse("avx2"));
        Assert.Contains("scalar, v128, v256 or v512", e.Message);
    }

    [Fact]
    public void ChooseActive_CapsAtTheEnvironmentLevelAndNeverExceedsTheCpu()
    {
        Assert.Equal(Simd.Best, Simd.ChooseActive(null));
        Assert.Equal(SimdLevel.Scalar, Simd.ChooseActive("scalar"));
        Assert.Equal(Simd.Cap(SimdLevel.Vector128), Simd.ChooseActive("v128"));
        // v512 on a CPU without AVX-512 resolves to the best supported width below it.
        Assert.Equal(Simd.Best, Simd.ChooseActive("v512"));
        Assert.True(Simd.IsSupported(Simd.Active));
        Assert.Throws<ArgumentException>(() => Simd.ChooseActive("avx512"));
    }

    [Fact]
    public void Require_RejectsAWidthTheCpuDoesNotAccelerate()
    {
        if (Vector512.IsHardwareAccelerated) return;   // nothing unsupported to try on an AVX-512 machine
        Assert.Throws<PlatformNotSupportedException>(() => Fp8E4M3.FromFloat([1f], new byte[1], SimdLevel.Vector512));
    }
}
