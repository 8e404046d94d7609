// Quantity — human counts on the command line: "14.8T" tokens, "500B", "2.5M", "119K", "1e12".
using System.Globalization;

namespace SharpSeek.Planner;

public static class Quantity
{
    /// <summary>Parses a count with an optional K/M/B/G/T/P suffix (powers of 1000; B and G both mean 10⁹)
    /// or in exponent form. Throws <see cref="FormatException"/> naming <paramref name="what"/> otherwise.</summary>
    public static double Parse(string text, string what = "count")
    {
        string s = text.Trim().Replace("_", "").Replace(",", "");
        double scale = 1;
        if (s.Length > 0 && char.IsLetter(s[^1]) && !s.EndsWith("e", StringComparison.OrdinalIgnoreCase))
        {
            scale = char.ToUpperInvariant(s[^1]) switch
            {
                'K' => 1e3,
                'M' => 1e6,
                'B' or 'G' => 1e9,
                'T' => 1e12,
                'P' => 1e15,
                _ => throw new FormatException($"{what} '{text}': unknown suffix '{s[^1]}' (use K, M, B, T or P, e.g. 14.8T)."),
            };
            s = s[..^1];
        }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new FormatException($"{what} '{text}' is not a number (examples: 14.8T, 500B, 1e12).");
        return v * scale;
    }

    /// <summary>Formats a count compactly: 1.48e13 → "14.8T".</summary>
    public static string Format(double v)
    {
        (double div, string suffix) = Math.Abs(v) switch
        {
            >= 1e15 => (1e15, "P"),
            >= 1e12 => (1e12, "T"),
            >= 1e9 => (1e9, "B"),
            >= 1e6 => (1e6, "M"),
            >= 1e3 => (1e3, "K"),
            _ => (1.0, ""),
        };
        return (v / div).ToString("G4", CultureInfo.InvariantCulture) + suffix;
    }
}
