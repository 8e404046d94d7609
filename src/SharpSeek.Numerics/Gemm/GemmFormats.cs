// The GEMM's vector FP8 widening (packers and the decode GEMV); scalar paths use Fp8E4M3.ToFloat / Bf16.ToFloat.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

internal static class GemmFormats
{
    /// <summary>Eight E4M3 codes to FP32 with AVX2 bit manipulation: sign-extend each byte to 32 bits, move the
    /// 7 magnitude bits into the FP32 exponent/mantissa fields (shift 20), keep the sign, and rescale by
    /// 2^(127-7) — exact for normals and subnormals. S.1111.111 becomes NaN. Five instructions per 8 values
    /// (cheaper than Fp8E4M3.ToFloat's general decoder), which keeps the decode GEMV memory-bound.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> E4M3ToFloat8(sbyte* codes)
    {
        Vector256<int> s = Avx2.ConvertToVector256Int32(codes);
        Vector256<float> v = (Avx2.ShiftLeftLogical(s, 20) & Vector256.Create(unchecked((int)0x87F00000))).AsSingle()
            * Vector256.Create(Pow2To120);
        Vector256<int> nan = Avx2.CompareEqual(s & Vector256.Create(0x7F), Vector256.Create(0x7F));
        return Avx.BlendVariable(v, Vector256.Create(float.NaN), nan.AsSingle());
    }

    private const float Pow2To120 = 1.329227995784916e36f;   // 2^120
}
