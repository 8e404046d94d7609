namespace SharpSeek.Numerics.Tests;

/// <summary>
/// An independent FP8 model written from the OCP definition (fields and Math.ScaleB, in double):
/// decode by formula; encode by searching the nearest finite code, ties to the even code, which also saturates.
/// </summary>
public sealed class Fp8Oracle
{
    public static readonly Fp8Oracle E4M3 = new(exponentBits: 4, bias: 7, hasInfinity: false);
    public static readonly Fp8Oracle E5M2 = new(exponentBits: 5, bias: 15, hasInfinity: true);

    private readonly int _mantissaBits;
    private readonly int _bias;
    private readonly bool _hasInfinity;
    private readonly double[] _finiteMagnitudes;   // value of code c for c = 0 .. max finite code (ascending)

    private Fp8Oracle(int exponentBits, int bias, bool hasInfinity)
    {
        _mantissaBits = 7 - exponentBits;
        _bias = bias;
        _hasInfinity = hasInfinity;
        var list = new List<double>();
        for (int c = 0; c < 128 && !IsSpecial(c); c++) list.Add(Decode(c));
        _finiteMagnitudes = list.ToArray();
    }

    public int MaxFiniteCode => _finiteMagnitudes.Length - 1;

    public bool IsNaN(int code)
    {
        int m = code & 0x7F;
        int e = m >> _mantissaBits, f = m & ((1 << _mantissaBits) - 1);
        int maxE = (1 << (7 - _mantissaBits)) - 1;
        return _hasInfinity ? e == maxE && f != 0 : m == 0x7F;
    }

    public bool IsInfinity(int code) => _hasInfinity && (code & 0x7F) == (0x7F & ~((1 << _mantissaBits) - 1));

    private bool IsSpecial(int code) => IsNaN(code) || IsInfinity(code);

    public double Decode(int code)
    {
        double sign = (code & 0x80) != 0 ? -1 : 1;
        if (IsNaN(code)) return double.NaN;
        if (IsInfinity(code)) return sign * double.PositiveInfinity;
        int m = code & 0x7F;
        int e = m >> _mantissaBits, f = m & ((1 << _mantissaBits) - 1);
        double fraction = f / (double)(1 << _mantissaBits);
        return e == 0
            ? sign * Math.ScaleB(fraction, 1 - _bias)
            : sign * Math.ScaleB(1 + fraction, e - _bias);
    }

    public byte Encode(float x)
    {
        int sign = float.IsNegative(x) ? 0x80 : 0;
        if (float.IsNaN(x)) return (byte)(0x7F | sign);
        double a = Math.Abs((double)x);
        int hi = Array.BinarySearch(_finiteMagnitudes, a);
        if (hi >= 0) return (byte)(hi | sign);
        hi = ~hi;                                         // first code above a
        if (hi == _finiteMagnitudes.Length) return (byte)(MaxFiniteCode | sign);
        int lo = hi - 1;
        double dLo = a - _finiteMagnitudes[lo], dHi = _finiteMagnitudes[hi] - a;
        int code = dLo < dHi ? lo : dHi < dLo ? hi : (lo % 2 == 0 ? lo : hi);
        return (byte)(code | sign);
    }

    /// <summary>Magnitudes of consecutive finite codes (c, c + 1) for every c below the max.</summary>
    public IEnumerable<(int Code, double Low, double High)> ConsecutivePairs()
    {
        for (int c = 0; c < MaxFiniteCode; c++) yield return (c, _finiteMagnitudes[c], _finiteMagnitudes[c + 1]);
    }
}
