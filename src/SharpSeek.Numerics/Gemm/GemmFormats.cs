// Element decoders the GEMM packers use: BF16 (upper half of an FP32) and FP8 E4M3 through a 256-entry table.
namespace SharpSeek.Numerics;

internal static class GemmFormats
{
    /// <summary>FP32 value of every E4M3 code (index = the byte), used when packing FP8 panels.</summary>
    public static readonly float[] E4M3Table = BuildE4M3Table();

    public static float Bf16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static float E4M3ToFloat(byte code) => E4M3Table[code];

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
