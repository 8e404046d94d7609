using System.Globalization;
using System.Text;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Text as the pre-tokenizer regexes must see it: one UTF-16 char per Unicode code point.
/// Hugging Face runs its Split regexes (Oniguruma) over UTF-8 code points, so <c>\p{L}</c> matches 𠀀 (U+20000).
/// .NET Regex matches UTF-16 chars, and a supplementary-plane code point is two surrogate chars that match no
/// Unicode class. When the text has surrogate pairs, each pair is replaced in a view string by one BMP "proxy"
/// char of the same general category (so \p{L}, \p{N}, \p{P}, \p{S}, \p{M}, \s, \w behave as on the code point),
/// the regexes run on the view, and <see cref="ToSource"/> maps view offsets back to the source string.
/// Without surrogates (almost all text) the view is the source itself and nothing is copied.
/// Limitation: a pattern that names supplementary code points literally, or a BMP range that contains a proxy
/// char, would see the proxy; the loader rejects the first case and the proxies avoid ASCII, Latin-1 and CJK.
/// </summary>
public readonly struct CodePointText
{
    public readonly string Source;
    public readonly string View;
    private readonly int[]? _viewToSource; // (View.Length + 1) source offset of each view char, then Source.Length

    private CodePointText(string source, string view, int[]? viewToSource)
    {
        Source = source;
        View = view;
        _viewToSource = viewToSource;
    }

    /// <summary>Wraps text that must already be well-formed UTF-16 (see <see cref="ReplaceLoneSurrogates"/>).</summary>
    public static CodePointText Of(string source)
    {
        int first = source.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0) return new CodePointText(source, source, null);
        var view = new StringBuilder(source.Length);
        var map = new List<int>(source.Length + 1);
        for (int i = 0; i < source.Length;)
        {
            map.Add(i);
            if (char.IsHighSurrogate(source[i]) && i + 1 < source.Length && char.IsLowSurrogate(source[i + 1]))
            {
                int cp = char.ConvertToUtf32(source[i], source[i + 1]);
                view.Append(ProxyFor(CharUnicodeInfo.GetUnicodeCategory(cp)));
                i += 2;
            }
            else view.Append(source[i++]);
        }
        map.Add(source.Length);
        return new CodePointText(source, view.ToString(), map.ToArray());
    }

    public int ToSource(int viewOffset) => _viewToSource is null ? viewOffset : _viewToSource[viewOffset];

    /// <summary>Hugging Face works on Rust strings, which cannot hold an unpaired surrogate; a .NET string can.
    /// We replace each unpaired surrogate with U+FFFD, as UTF-8 encoding of such a string does.</summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        int first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0) return text;
        char[]? copy = null;
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            if (!char.IsSurrogate(c)) continue;
            copy ??= text.ToCharArray();
            copy[i] = '\uFFFD';
        }
        return copy is null ? text : new string(copy);
    }

    // One BMP char per general category, outside ASCII, Latin-1, kana and CJK (ranges tokenizer patterns list).
    private static readonly char[] Proxies = BuildProxies();

    private static char ProxyFor(UnicodeCategory category) => Proxies[(int)category];

    private static char[] BuildProxies()
    {
        var proxies = new char[32];
        Array.Fill(proxies, '\0');
        for (int c = 0x0100; c < 0xFFFE; c++)
        {
            if (c is >= 0x3040 and <= 0x30FF or >= 0x3400 and <= 0x9FFF or >= 0xD800 and <= 0xDFFF) continue;
            int cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (proxies[cat] == '\0') proxies[cat] = (char)c;
        }
        for (int cat = 0; cat < proxies.Length; cat++)
            if (proxies[cat] == '\0') proxies[cat] = '\uFFFD';
        return proxies;
    }
}
