// BF16 (bfloat16) stored as ushort: the top 16 bits of an FP32.
// FromFloat rounds to nearest, ties to even. Policy (DESIGN: conversions saturate):
//   finite inputs stay finite — a finite float that would round past the largest BF16 (0x7F7F, 3.3895e38)
//   saturates to ±0x7F7F instead of becoming infinity; ±inf -> ±inf (0x7F80/0xFF80), the input was already
//   infinite; NaN -> quiet NaN with the input's sign and top payload bits (quiet bit 0x0040 set).
// ToFloat is exact (shift left by 16).
namespace SharpSeek.Numerics;

public static class Bf16
{
    /// <summary>Largest finite BF16 code (3.3895314e38).</summary>
    public const ushort MaxFiniteBits = 0x7F7F;

    public static ushort FromFloat(float value) => (ushort)VecScalar.EncodeOne<Codec>(value);

    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static void FromFloat(ReadOnlySpan<float> source, Span<ushort> destination, WorkerPool? pool = null) =>
        FromFloat(source, destination, Simd.Active, pool);

    public static void FromFloat(ReadOnlySpan<float> source, Span<ushort> destination, SimdLevel level, WorkerPool? pool = null) =>
        ConversionDriver.Encode<Codec, ushort, UShortStorage>(source, destination, level, pool);

    public static void ToFloat(ReadOnlySpan<ushort> source, Span<float> destination, WorkerPool? pool = null) =>
        ToFloat(source, destination, Simd.Active, pool);

    public static void ToFloat(ReadOnlySpan<ushort> source, Span<float> destination, SimdLevel level, WorkerPool? pool = null) =>
        ConversionDriver.Decode<Codec, ushort, UShortStorage>(source, destination, level, pool);

    internal readonly struct Codec : ICodec
    {
        public static V Encode<V>(V x) where V : unmanaged, IVec<V>
        {
            V lsb = V.And(V.ShiftRightBits(x, 16), V.Bits(1));
            V rounded = V.ShiftRightBits(V.AddBits(x, V.AddBits(lsb, V.Bits(0x7FFF))), 16);
            // A finite input that rounded up to infinity saturates to the largest finite code (same sign).
            V finite = V.LessThan(V.And(x, V.Bits(0x7FFF_FFFF)), V.Bits(0x7F80_0000));
            V roundedToInf = V.EqualBits(V.And(rounded, V.Bits(0x7FFF)), V.Bits(0x7F80));
            rounded = V.Select(V.And(finite, roundedToInf), V.SubBits(rounded, V.Bits(1)), rounded);
            V quietNaN = V.Or(V.ShiftRightBits(x, 16), V.Bits(0x0040));
            return V.Select(V.IsNaN(x), quietNaN, rounded);
        }

        public static V Decode<V>(V code) where V : unmanaged, IVec<V> => V.ShiftLeftBits(code, 16);
    }
}
