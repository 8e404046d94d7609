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
        Vector256<int> nan = Avx2.CompareEqual(s & Vector256.Create(0x7F), Vector256.Create(0x7F));
        return Avx.BlendVariable(Widen(s), Vector256.Create(float.NaN), nan.AsSingle());
    }

    /// <summary>As <see cref="E4M3ToFloat8"/> but the NaN codes decode to ±480: for loops that detect NaN codes
    /// once per block with <see cref="NaNCodes32"/> instead of per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> E4M3ToFloat8IgnoringNaN(sbyte* codes) => Widen(Avx2.ConvertToVector256Int32(codes));

    /// <summary>Lanes of 32 codes that are NaN (0x7F or 0xFF) set to all ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<byte> NaNCodes32(sbyte* codes) =>
        Avx2.CompareEqual(Avx.LoadVector256((byte*)codes) | Vector256.Create((byte)0x80), Vector256<byte>.AllBitsSet);

    /// <summary>Whether any of <paramref name="count"/> codes is a NaN code (0x7F / 0xFF). One pass at 32 bytes per
    /// compare, so kernels can pick the widening without per-element NaN handling when there is none.</summary>
    public static unsafe bool HasNaNCode(byte* codes, long count)
    {
        long i = 0;
        if (Avx2.IsSupported)
        {
            Vector256<byte> any = Vector256<byte>.Zero;
            for (; i + 32 <= count; i += 32) any |= NaNCodes32((sbyte*)codes + i);
            if (any != Vector256<byte>.Zero) return true;
        }
        for (; i < count; i++)
            if ((codes[i] & 0x7F) == 0x7F) return true;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<int> signExtended) =>
        (Avx2.ShiftLeftLogical(signExtended, 20) & Vector256.Create(unchecked((int)0x87F00000))).AsSingle() * Vector256.Create(Pow2To120);

    private const float Pow2To120 = 1.329227995784916e36f;   // 2^120
}
