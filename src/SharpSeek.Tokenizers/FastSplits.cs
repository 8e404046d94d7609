using System.Globalization;
using System.Runtime.CompilerServices;

namespace SharpSeek.Tokenizers;

/// <summary>Unicode class flags per UTF-16 char (the code-point view's chars), as .NET Regex defines the classes.</summary>
internal static class CharClass
{
    public const byte L = 1, M = 2, N = 4, P = 8, S = 16, Space = 32;
    private static readonly byte[] Table = Build(); // (65536)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Of(char c) => Table[c];

    private static byte[] Build()
    {
        var t = new byte[65536];
        for (int c = 0; c < 65536; c++)
        {
            byte f = CharUnicodeInfo.GetUnicodeCategory((char)c) switch
            {
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => L,
                UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => M,
                UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => N,
                UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                    or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                    or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => P,
                UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                    or UnicodeCategory.OtherSymbol => S,
                _ => 0,
            };
            if (char.IsWhiteSpace((char)c)) f |= Space;
            t[c] = f;
        }
        return t;
    }
}

/// <summary>Hand-written equivalents of DeepSeek-V3's three Split regexes (Isolated, not inverted). Each gives
/// exactly the pieces <see cref="RegexSplit"/> gives for its pattern (tests compare them on random text) at a
/// fraction of the cost. <see cref="TryCreate"/> returns one only for the exact pattern strings.</summary>
public static class FastSplits
{
    /// <summary>Replaces the three DeepSeek-V3 steps, when they appear in order, by <see cref="DeepSeekV3Fused"/>.</summary>
    public static List<PreTokenizerStep> Fuse(List<PreTokenizerStep> steps)
    {
        var result = new List<PreTokenizerStep>(steps.Count);
        for (int i = 0; i < steps.Count; i++)
        {
            if (i + 2 < steps.Count && steps[i] is DigitGroups && steps[i + 1] is CjkKanaRuns && steps[i + 2] is DeepSeekWords)
            {
                result.Add(new DeepSeekV3Fused());
                i += 2;
            }
            else result.Add(steps[i]);
        }
        return result;
    }

    public static PreTokenizerStep? TryCreate(string pattern, SplitBehavior behavior, bool invert)
    {
        if (behavior != SplitBehavior.Isolated || invert) return null;
        if (pattern == BpeTrainerOptions.DeepSeekV3Patterns[0]) return new DigitGroups();
        if (pattern == BpeTrainerOptions.DeepSeekV3Patterns[1]) return new CjkKanaRuns();
        if (pattern == BpeTrainerOptions.DeepSeekV3Patterns[2]) return new DeepSeekWords();
        return null;
    }

    /// <summary>Base for steps that find non-overlapping matches left to right; gaps become pieces too.</summary>
    public abstract class IsolatedSplit : PreTokenizerStep
    {
        /// <summary>The end of the match starting exactly at <paramref name="i"/>, or -1.</summary>
        protected abstract int MatchAt(string view, int i, int end);

        public override void Split(string view, Piece piece, List<Piece> output)
        {
            int end = piece.Start + piece.Length, gap = piece.Start, i = piece.Start;
            while (i < end)
            {
                int m = MatchAt(view, i, end);
                if (m < 0) { i++; continue; }
                if (i > gap) output.Add(new Piece(gap, i - gap));
                output.Add(new Piece(i, m - i));
                gap = i = m;
            }
            if (end > gap) output.Add(new Piece(gap, end - gap));
        }
    }

    /// <summary><c>\p{N}{1,3}</c></summary>
    public sealed class DigitGroups : IsolatedSplit
    {
        protected override int MatchAt(string view, int i, int end)
        {
            int j = i;
            while (j < end && j - i < 3 && (CharClass.Of(view[j]) & CharClass.N) != 0) j++;
            return j > i ? j : -1;
        }
    }

    /// <summary><c>[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+</c></summary>
    public sealed class CjkKanaRuns : IsolatedSplit
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool In(char c) => c is >= '\u4e00' and <= '\u9fa5' or >= '\u3040' and <= '\u309f' or >= '\u30a0' and <= '\u30ff';

        protected override int MatchAt(string view, int i, int end)
        {
            int j = i;
            while (j < end && In(view[j])) j++;
            return j > i ? j : -1;
        }

        public override void Split(string view, Piece piece, List<Piece> output)
        {
            // Most pieces hold no CJK or kana at all: one vectorised scan decides.
            if (view.AsSpan(piece.Start, piece.Length).IndexOfAnyInRange('\u3040', '\u9fa5') < 0)
            {
                if (piece.Length > 0) output.Add(piece);
                return;
            }
            base.Split(view, piece, output);
        }
    }

    /// <summary>The word pattern, alternatives tried in order at each position as a backtracking engine does:
    /// <code>
    /// A1 [ASCII punctuation][A-Za-z]+
    /// A2 [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
    /// A3  ?[\p{P}\p{S}]+[\r\n]*
    /// A4 \s*[\r\n]+        (backtracks to the last \r or \n of the whitespace run)
    /// A5 \s+(?!\S)         (the whitespace run, minus its last char when a non-space follows)
    /// A6 \s+
    /// </code></summary>
    public sealed class DeepSeekWords : IsolatedSplit
    {
        private const byte LM = CharClass.L | CharClass.M, PS = CharClass.P | CharClass.S;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool AsciiLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool AsciiPunct(char c) => c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~';

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int RunOf(string view, int j, int end, byte flags)
        {
            while (j < end && (CharClass.Of(view[j]) & flags) != 0) j++;
            return j;
        }

        protected override int MatchAt(string view, int i, int end) => Match(view, i, end);

        /// <summary>End of the word-pattern match starting at <paramref name="i"/>, or -1.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Match(string view, int i, int end)
        {
            char c = view[i];
            byte f = CharClass.Of(c);
            // A1
            if (AsciiPunct(c) && i + 1 < end && AsciiLetter(view[i + 1]))
            {
                int j = i + 2;
                while (j < end && AsciiLetter(view[j])) j++;
                return j;
            }
            // A2: the optional char is anything but \r, \n, L, P, S (so spaces, digits, marks, controls qualify).
            if (c != '\r' && c != '\n' && (f & (CharClass.L | PS)) == 0 && i + 1 < end && (CharClass.Of(view[i + 1]) & LM) != 0)
                return RunOf(view, i + 2, end, LM);
            if ((f & LM) != 0) return RunOf(view, i + 1, end, LM);
            // A3
            if (c == ' ' && i + 1 < end && (CharClass.Of(view[i + 1]) & PS) != 0) return CrLfRun(view, RunOf(view, i + 2, end, PS), end);
            if ((f & PS) != 0) return CrLfRun(view, RunOf(view, i + 1, end, PS), end);
            if ((f & CharClass.Space) == 0) return -1;
            int ws = RunOf(view, i + 1, end, CharClass.Space);
            // A4
            for (int k = ws - 1; k >= i; k--)
                if (view[k] is '\r' or '\n') return k + 1;
            // A5, A6
            if (ws == end || ws - 1 == i) return ws;
            return ws - 1;
        }

        private static int CrLfRun(string view, int j, int end)
        {
            while (j < end && view[j] is '\r' or '\n') j++;
            return j;
        }
    }
}

/// <summary>
/// DeepSeek-V3's three Split steps in one pass. Step 1 cuts digit runs into groups of up to 3; step 2 cuts CJK/kana
/// runs out of what is left; step 3 applies the word pattern inside the remaining stretches, which therefore never
/// contain a digit or a CJK/kana char. So: walk the text; emit digit groups and CJK runs directly; run the word
/// matcher over each maximal stretch of other chars (gaps between its matches are pieces too).
/// </summary>
public sealed class DeepSeekV3Fused : PreTokenizerStep
{
    public override void Split(string view, Piece piece, List<Piece> output)
    {
        int end = piece.Start + piece.Length, i = piece.Start;
        while (i < end)
        {
            char c = view[i];
            if ((CharClass.Of(c) & CharClass.N) != 0)
            {
                int j = i + 1;
                while (j < end && j - i < 3 && (CharClass.Of(view[j]) & CharClass.N) != 0) j++;
                output.Add(new Piece(i, j - i));
                i = j;
            }
            else if (FastSplits.CjkKanaRuns.In(c))
            {
                int j = i + 1;
                while (j < end && FastSplits.CjkKanaRuns.In(view[j])) j++;
                output.Add(new Piece(i, j - i));
                i = j;
            }
            else
            {
                int stop = i + 1;
                while (stop < end && (CharClass.Of(view[stop]) & CharClass.N) == 0 && !FastSplits.CjkKanaRuns.In(view[stop])) stop++;
                Words(view, i, stop, output);
                i = stop;
            }
        }
    }

    private static void Words(string view, int start, int end, List<Piece> output)
    {
        int gap = start, i = start;
        while (i < end)
        {
            int m = FastSplits.DeepSeekWords.Match(view, i, end);
            if (m < 0) { i++; continue; }
            if (i > gap) output.Add(new Piece(gap, i - gap));
            output.Add(new Piece(i, m - i));
            gap = i = m;
        }
        if (end > gap) output.Add(new Piece(gap, end - gap));
    }
}
