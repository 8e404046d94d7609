using System.Buffers;

namespace SharpSeek.Tokenizers;

/// <summary>A Hugging Face added token (tokenizer.json <c>added_tokens</c>).</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized = false,
    bool LStrip = false, bool RStrip = false, bool SingleWord = false);

/// <summary>A segment of the input: either an added token (<see cref="TokenId"/> ≥ 0) or ordinary text.</summary>
public readonly record struct Segment(int Start, int Length, int TokenId);

/// <summary>
/// Finds added tokens in text before any pre-tokenization, as Hugging Face's AddedVocabulary does: leftmost match
/// first, the longest token at that position, non-overlapping, honouring <c>single_word</c>, <c>lstrip</c> and
/// <c>rstrip</c>. Tokens with <c>normalized: false</c> are matched first on the raw text, then tokens with
/// <c>normalized: true</c> on what is left (the supported normalizers are the identity).
/// </summary>
public sealed class AddedTokenMatcher
{
    private readonly TokenSet _raw;
    private readonly TokenSet _normalized;
    [ThreadStatic] private static List<Segment>? t_first;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        var all = tokens.ToArray();
        _raw = new TokenSet(all.Where(t => !t.Normalized));
        _normalized = new TokenSet(all.Where(t => t.Normalized));
    }

    /// <summary>Splits <paramref name="text"/> into segments; ordinary text segments have TokenId -1.</summary>
    public void Split(string text, List<Segment> output)
    {
        output.Clear();
        if (_raw.IsEmpty && _normalized.IsEmpty) { if (text.Length > 0) output.Add(new Segment(0, text.Length, -1)); return; }
        var first = t_first ??= new List<Segment>();
        first.Clear();
        _raw.Split(text, 0, text.Length, first);
        foreach (Segment s in first)
        {
            if (s.TokenId >= 0) output.Add(s);
            else _normalized.Split(text, s.Start, s.Length, output);
        }
    }

    private sealed class TokenSet
    {
        private readonly Dictionary<char, AddedToken[]> _byFirstChar; // candidates, longest first
        private readonly SearchValues<char> _firstChars;

        public TokenSet(IEnumerable<AddedToken> tokens)
        {
            _byFirstChar = tokens.Where(t => t.Content.Length > 0).GroupBy(t => t.Content[0])
                .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
            _firstChars = SearchValues.Create(_byFirstChar.Keys.ToArray());
        }

        public bool IsEmpty => _byFirstChar.Count == 0;

        public void Split(string text, int start, int length, List<Segment> output)
        {
            int end = start + length, emitted = start, pos = start;
            while (pos < end)
            {
                int hit = IsEmpty ? -1 : text.AsSpan(pos, end - pos).IndexOfAny(_firstChars);
                if (hit < 0) break;
                pos += hit;
                AddedToken? token = LongestAt(text, pos, end);
                if (token is null) { pos++; continue; }
                int matchEnd = pos + token.Content.Length;
                if (token.SingleWord && !IsSingleWord(text, start, end, pos, matchEnd)) { pos = matchEnd; continue; }
                int from = pos, to = matchEnd;
                if (token.LStrip) while (from > emitted && char.IsWhiteSpace(text[from - 1])) from--;
                if (token.RStrip) while (to < end && char.IsWhiteSpace(text[to])) to++;
                if (from > emitted) output.Add(new Segment(emitted, from - emitted, -1));
                output.Add(new Segment(from, to - from, token.Id));
                emitted = to;
                pos = Math.Max(matchEnd, to);
            }
            if (end > emitted) output.Add(new Segment(emitted, end - emitted, -1));
        }

        private AddedToken? LongestAt(string text, int pos, int end)
        {
            ReadOnlySpan<char> rest = text.AsSpan(pos, end - pos);
            foreach (AddedToken t in _byFirstChar[text[pos]])
                if (rest.StartsWith(t.Content, StringComparison.Ordinal)) return t;
            return null;
        }

        private static bool IsSingleWord(string text, int start, int end, int from, int to)
        {
            static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
            bool startOk = from == start || !IsWordChar(text[from - 1]);
            bool endOk = to == end || !IsWordChar(text[to]);
            return startOk && endOk;
        }
    }
}
