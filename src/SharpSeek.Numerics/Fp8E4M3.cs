// FP8 E4M3 ("e4m3fn", OCP FP8 v1.0): 1 sign, 4 exponent (bias 7), 3 mantissa bits, stored as a byte.
// Normals 2^-6 .. 448 (S.1111.110), subnormals m·2^-9, no infinities, NaN = S.1111.111 (0x7F / 0xFF).
// FromFloat rounds to nearest, ties to even, in saturating mode (OCP "SATFINITE"):
//   |x| that rounds above 448 -> ±448; ±inf -> ±448 (the format has no infinity); NaN -> 0x7F | sign.
// ToFloat is exact; both NaN codes decode to a quiet FP32 NaN with that sign.
namespace SharpSeek.Numerics;

public static class Fp8E4M3
{
    /// <summary>Largest finite value, 448.</summary>
    public const float MaxValue = 448f;
    /// <summary>Code of +448.</summary>
    public const byte MaxFiniteCode = 0x7E;
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
        private const uint MinNormalBits = (127 - 6) << 23;        // 2^-6
        private const uint SubnormalMagicBits = (127 + 14) << 23;  // 2^14: its ULP is 2^-9, the E4M3 subnormal step
        private const uint RebiasCodes = (127 - 7) << 3;           // FP32 exponent bias minus E4M3 bias, in code units

        public static V Encode<V>(V x) where V : unmanaged, IVec<V>
        {
            V sign = V.ShiftRightBits(V.And(x, V.Bits(0x8000_0000)), 24);
            V a = V.Min(V.And(x, V.Bits(0x7FFF_FFFF)), V.Broadcast(MaxValue));   // saturate first: 448 never rounds up
            // Normal range: round the FP32 mantissa to 3 bits (ties to even), then rebias the exponent.
            V lsb = V.And(V.ShiftRightBits(a, 20), V.Bits(1));
            V normal = V.SubBits(V.ShiftRightBits(V.AddBits(a, V.AddBits(lsb, V.Bits(0x7_FFFF))), 20), V.Bits(RebiasCodes));
            // Subnormal range: adding 2^14 rounds to a multiple of 2^-9 in hardware (ties to even); 8 becomes 2^-6.
            V subnormal = V.SubBits(V.Add(a, V.Bits(SubnormalMagicBits)), V.Bits(SubnormalMagicBits));
            V code = V.Select(V.LessThan(a, V.Bits(MinNormalBits)), subnormal, normal);
            code = V.Select(V.IsNaN(x), V.Bits(NaNCode), code);
            return V.Or(code, sign);
        }

        public static V Decode<V>(V code) where V : unmanaged, IVec<V>
        {
            V magnitude = V.And(code, V.Bits(0x7F));
            V normal = V.AddBits(V.ShiftLeftBits(magnitude, 20), V.Bits(RebiasCodes << 20));
            V subnormal = V.Mul(V.UIntToFloat(magnitude), V.Broadcast(1f / 512));    // m · 2^-9 (exponent field 0)
            V value = V.Select(V.LessThanBits(magnitude, V.Bits(0x08)), subnormal, normal);
            value = V.Select(V.EqualBits(magnitude, V.Bits(0x7F)), V.Bits(0x7FC0_0000), value);
            return V.Or(value, V.ShiftLeftBits(V.And(code, V.Bits(0x80)), 24));
        }
    }
}
