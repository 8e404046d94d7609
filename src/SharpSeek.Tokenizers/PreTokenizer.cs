using System.Text.RegularExpressions;

namespace SharpSeek.Tokenizers;

/// <summary>A pre-token: a range of the code-point view (<see cref="CodePointText.View"/>), and whether the
/// ByteLevel step prepends a space to it.</summary>
public readonly record struct Piece(int Start, int Length, bool PrefixSpace = false);

/// <summary>What a Split step does with the delimiters its pattern matches (Hugging Face's SplitDelimiterBehavior).</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>One step of a pre-tokenizer Sequence: splits every current piece into smaller ones.</summary>
public abstract class PreTokenizerStep
{
    /// <summary>Appends the sub-pieces of <paramref name="piece"/> (view coordinates) to <paramref name="output"/>.</summary>
    public abstract void Split(string view, Piece piece, List<Piece> output);
}

/// <summary>Hugging Face <c>Split</c>: a regex (or literal) pattern, a delimiter behaviour and <c>invert</c>.</summary>
public sealed class RegexSplit : PreTokenizerStep
{
    private readonly Regex _regex;
    private readonly SplitBehavior _behavior;
    private readonly bool _invert;
    [ThreadStatic] private static List<(int Start, int End, bool IsMatch)>? t_spans;

    public RegexSplit(string pattern, SplitBehavior behavior, bool invert)
    {
        if (pattern.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 || pattern.Contains(@"\U", StringComparison.Ordinal))
            throw new NotSupportedException(
                $"Split pattern '{pattern}' names supplementary-plane code points; SharpSeek's regex runs on a " +
                "one-char-per-code-point view where those are category proxies. Use Unicode classes instead.");
        _regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        _behavior = behavior;
        _invert = invert;
    }

    public string Pattern => _regex.ToString();

    public override void Split(string view, Piece piece, List<Piece> output)
    {
        ReadOnlySpan<char> text = view.AsSpan(piece.Start, piece.Length);
        if (_behavior == SplitBehavior.Isolated)
        {
            // Matches and the gaps between them all become pieces; `invert` cannot change that.
            int prev = 0;
            foreach (ValueMatch m in _regex.EnumerateMatches(text))
            {
                if (m.Length == 0) continue;
                if (m.Index > prev) output.Add(new Piece(piece.Start + prev, m.Index - prev));
                output.Add(new Piece(piece.Start + m.Index, m.Length));
                prev = m.Index + m.Length;
            }
            if (prev < text.Length) output.Add(new Piece(piece.Start + prev, text.Length - prev));
            return;
        }
        var spans = t_spans ??= new List<(int, int, bool)>();
        spans.Clear();
        int last = 0;
        foreach (ValueMatch m in _regex.EnumerateMatches(text))
        {
            if (m.Length == 0) continue;
            if (m.Index > last) spans.Add((last, m.Index, _invert));
            spans.Add((m.Index, m.Index + m.Length, !_invert));
            last = m.Index + m.Length;
        }
        if (last < text.Length) spans.Add((last, text.Length, _invert));
        foreach (var (start, end) in ApplyBehavior(spans, _behavior))
            if (end > start) output.Add(new Piece(piece.Start + start, end - start));
    }

    /// <summary>Hugging Face's delimiter behaviours over (start, end, is delimiter) spans, in order.</summary>
    private static List<(int Start, int End)> ApplyBehavior(List<(int Start, int End, bool IsMatch)> spans, SplitBehavior behavior)
    {
        var result = new List<(int Start, int End)>(spans.Count);
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var s in spans) if (!s.IsMatch) result.Add((s.Start, s.End));
                break;
            case SplitBehavior.MergedWithPrevious:
                foreach (var s in spans)
                {
                    if (s.IsMatch && !previousMatch && result.Count > 0) result[^1] = (result[^1].Start, s.End);
                    else result.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var s = spans[i];
                    if (s.IsMatch && !previousMatch && result.Count > 0) result[^1] = (s.Start, result[^1].End);
                    else result.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                result.Reverse();
                break;
            case SplitBehavior.Contiguous:
                foreach (var s in spans)
                {
                    if (s.IsMatch == previousMatch && result.Count > 0) result[^1] = (result[^1].Start, s.End);
                    else result.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            default:
                foreach (var s in spans) result.Add((s.Start, s.End));
                break;
        }
        return result;
    }
}

/// <summary>Hugging Face <c>ByteLevel</c> pre-tokenizer: optionally a space before every piece that does not start
/// with one, optionally GPT-2's split regex; the byte-to-character mapping itself happens in the BPE step.</summary>
public sealed class ByteLevelStep : PreTokenizerStep
{
    /// <summary>GPT-2's pre-tokenizer pattern, as Hugging Face's ByteLevel uses it when <c>use_regex</c> is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly bool _addPrefixSpace;
    private readonly RegexSplit? _split;

    public ByteLevelStep(bool addPrefixSpace, bool useRegex)
    {
        _addPrefixSpace = addPrefixSpace;
        _split = useRegex ? new RegexSplit(Gpt2Pattern, SplitBehavior.Isolated, invert: false) : null;
    }

    public override void Split(string view, Piece piece, List<Piece> output)
    {
        bool prefix = _addPrefixSpace && !piece.PrefixSpace && (piece.Length == 0 || view[piece.Start] != ' ');
        if (_split is null || piece.Length == 0)
        {
            output.Add(piece with { PrefixSpace = piece.PrefixSpace || prefix });
            return;
        }
        int first = output.Count;
        if (prefix)
        {
            // The regex must see the prepended space: it glues to the first word (" ?\p{L}+").
            string withSpace = " " + view.Substring(piece.Start, piece.Length);
            var local = new List<Piece>();
            _split.Split(withSpace, new Piece(0, withSpace.Length), local);
            foreach (Piece p in local)
                output.Add(p.Start == 0 ? new Piece(piece.Start, p.Length - 1, PrefixSpace: true) : new Piece(piece.Start + p.Start - 1, p.Length));
            return;
        }
        _split.Split(view, piece, output);
        if (piece.PrefixSpace && output.Count > first) output[first] = output[first] with { PrefixSpace = true };
    }
}

/// <summary>A Hugging Face pre-tokenizer <c>Sequence</c>: each step splits the pieces the previous one produced.</summary>
public sealed class PreTokenizer
{
    private readonly PreTokenizerStep[] _steps;

    public PreTokenizer(IReadOnlyList<PreTokenizerStep> steps) => _steps = steps.ToArray();

    public IReadOnlyList<PreTokenizerStep> Steps => _steps;

    /// <summary>Splits <c>view[start..start+length]</c>; <paramref name="output"/> receives the final pieces.
    /// <paramref name="scratch"/> is reused between steps.</summary>
    public void Split(string view, int start, int length, List<Piece> output, List<Piece> scratch)
    {
        output.Clear();
        if (length == 0) return;
        output.Add(new Piece(start, length));
        foreach (PreTokenizerStep step in _steps)
        {
            scratch.Clear();
            foreach (Piece p in output) step.Split(view, p, scratch);
            output.Clear();
            output.AddRange(scratch);
        }
    }
}
