// FP8 E5M2 (OCP FP8 v1.0): 1 sign, 5 exponent (bias 15), 2 mantissa bits, stored as a byte.
// Normals 2^-14 .. 57344 (S.11110.11), subnormals m·2^-16, ±inf = S.11111.00, NaN = S.11111.{01,10,11}.
// FromFloat rounds to nearest, ties to even, in saturating mode (OCP "SATFINITE", as cuda_fp8's __NV_SATFINITE):
//   |x| that rounds above 57344 -> ±57344; ±inf -> ±57344 too (saturation clamps infinities to max finite);
//   NaN -> 0x7F | sign. ToFloat is exact: infinity codes decode to ±inf, NaN codes to a quiet FP32 NaN.
namespace SharpSeek.Numerics;

public static class Fp8E5M2
{
    /// <summary>Largest finite value, 57344.</summary>
    public const float MaxValue = 57344f;
    /// <summary>Code of +57344.</summary>
    public const byte MaxFiniteCode = 0x7B;
    /// <summary>Code of +infinity (only ever decoded; FromFloat saturates).</summary>
    public const byte PositiveInfinityCode = 0x7C;
    /// <summary>Canonical (positive) NaN code.</summary>
    public const byte NaNCode = 0x7F;

    private static readonly float[] DecodeTable = ConversionDriver.DecodeTable<Codec>();

    public static byte FromFloat(float value) => (byte)VecScalar.EncodeOne<Codec>(value);

    public static float ToFloat(byte code) => DecodeTable[code];

    public static void FromFloat(ReadOnlySpan<float> source, Span<byte> destination, WorkerPool? pool = null) =>
        FromFloat(source, destination, Simd.Active, pool);

    public static void FromFloat(ReadOnlySpan<float> source, Span<byte> destination, SimdLevel level, WorkerPool? pool = null) =>
        ConversionDriver.Encode<Codec, byte, ByteStorage>(source, destination, level, pool);

    public static void ToFloat(ReadOnlySpan<byte> source, Span<float> destination, WorkerPool? pool = null) =>
        ToFloat(source, destination, Simd.Active, pool);

    public static void ToFloat(ReadOnlySpan<byte> source, Span<float> destination, SimdLevel level, WorkerPool? pool = null) =>
        ConversionDriver.Decode<Codec, byte, ByteStorage>(source, destination, level, pool);


    internal readonly struct Codec : ICodec
    {
        private const uint MinNormalBits = (127 - 14) << 23;      // 2^-14
        private const uint SubnormalMagicBits = (127 + 7) << 23;  // 2^7: its ULP is 2^-16, the E5M2 subnormal step
        private const uint RebiasCodes = (127 - 15) << 2;         // FP32 exponent bias minus E5M2 bias, in code units

        public static V Encode<V>(V x) where V : unmanaged, IVec<V>
        {
            V sign = V.ShiftRightBits(V.And(x, V.Bits(0x8000_0000)), 24);
            V a = V.Min(V.And(x, V.Bits(0x7FFF_FFFF)), V.Broadcast(MaxValue));   // saturate first (inf too)
            V lsb = V.And(V.ShiftRightBits(a, 21), V.Bits(1));
            V normal = V.SubBits(V.ShiftRightBits(V.AddBits(a, V.AddBits(lsb, V.Bits(0xF_FFFF))), 21), V.Bits(RebiasCodes));
            V subnormal = V.SubBits(V.Add(a, V.Bits(SubnormalMagicBits)), V.Bits(SubnormalMagicBits));
            V code = V.Select(V.LessThan(a, V.Bits(MinNormalBits)), subnormal, normal);
            code = V.Select(V.IsNaN(x), V.Bits(NaNCode), code);
            return V.Or(code, sign);
        }

        public static V Decode<V>(V code) where V : unmanaged, IVec<V>
        {
            V magnitude = V.And(code, V.Bits(0x7F));
            V normal = V.AddBits(V.ShiftLeftBits(magnitude, 21), V.Bits(RebiasCodes << 21));
            V subnormal = V.Mul(V.UIntToFloat(magnitude), V.Broadcast(1f / 65536));   // m · 2^-16 (exponent field 0)
            V value = V.Select(V.LessThanBits(magnitude, V.Bits(0x04)), subnormal, normal);
            V special = V.Select(V.EqualBits(magnitude, V.Bits(PositiveInfinityCode)), V.Bits(0x7F80_0000), V.Bits(0x7FC0_0000));
            value = V.Select(V.LessThanBits(magnitude, V.Bits(PositiveInfinityCode)), value, special);
            return V.Or(value, V.ShiftLeftBits(V.And(code, V.Bits(0x80)), 24));
        }
    }
}
