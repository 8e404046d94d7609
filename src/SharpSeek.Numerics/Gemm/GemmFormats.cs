// Element decoders the GEMM packers use: BF16 (upper half of an FP32) and FP8 E4M3 through a 256-entry table.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

internal static class GemmFormats
{
    /// <summary>FP32 value of every E4M3 code (index = the byte), used when packing FP8 panels.</summary>
    public static readonly float[] E4M3Table = BuildE4M3Table();

    public static float Bf16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static float E4M3ToFloat(byte code) => E4M3Table[code];

    /// <summary>Eight E4M3 codes to FP32 with AVX2 bit manipulation: sign-extend each byte to 32 bits, move the
    /// 7 magnitude bits into the FP32 exponent/mantissa fields (shift 20), keep the sign, and rescale by
    /// 2^(127-7) — exact for normals and subnormals. S.1111.111 becomes NaN.</summary>
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

    // TEMPORARY decoder until numerics-core's Fp8E4M3 lands; then the table is built from Fp8E4M3.ToFloat.
    private static float[] BuildE4M3Table()
    {
        var table = new float[256];
        for (int code = 0; code < 256; code++)
        {
            int exponent = (code >> 3) & 15, mantissa = code & 7;
            float magnitude = exponent == 15 && mantissa == 7 ? float.NaN
                : exponent == 0 ? mantissa / 8f * MathF.Pow(2, -6)
                : (1 + mantissa / 8f) * MathF.Pow(2, exponent - 7);
            table[code] = (code & 0x80) != 0 ? -magnitude : magnitude;
        }
        return table;
    }
}
