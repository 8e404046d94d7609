using System.Text;
using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

public sealed class PreTokenizerTests
{
    // Characters from every class the DeepSeek patterns distinguish, incl. supplementary letters, digits, emoji.
    private static readonly string[] Alphabet =
    [
        "a", "Z", "é", "ß", "Ж", "ا", "中", "の", "カ", "한", "1", "٣", "²", "Ⅳ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0",
        "\u3000", "\u2028", "\u0085", "\u000b", "'", "\"", ".", ",", "!", "?", "-", "_", "(", "]", "{", "$", "+", "<", "=", "`",
        "~", "\\", "/", "@", "#", "€", "©", "…", "«", "、", "。", "\u0301", "\u0308", "\u200d", "\ufe0f", "\u0001", "\u007f",
        "\ufeff", "𠀀", "𪜀", "𝐀", "𝟎", "👍", "🏽", "🎉", "\U000e0041", "\U000f0000", "\u0378",
    ];

    public static string RandomText(Random rng, int pieces)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < pieces; i++)
        {
            string s = Alphabet[rng.Next(Alphabet.Length)];
            int repeat = rng.Next(4) == 0 ? rng.Next(1, 5) : 1;
            for (int r = 0; r < repeat; r++) sb.Append(s);
        }
        return sb.ToString();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void FastSplit_GivesTheSamePiecesAsTheRegex(int patternIndex)
    {
        string pattern = BpeTrainerOptions.DeepSeekV3Patterns[patternIndex];
        PreTokenizerStep fast = FastSplits.TryCreate(pattern, SplitBehavior.Isolated, invert: false)!;
        var regex = new RegexSplit(pattern, SplitBehavior.Isolated, invert: false);
        Assert.NotNull(fast);
        var rng = new Random(17 + patternIndex);
        var a = new List<Piece>();
        var b = new List<Piece>();
        for (int trial = 0; trial < 3000; trial++)
        {
            var text = CodePointText.Of(RandomText(rng, rng.Next(0, 30)));
            a.Clear(); b.Clear();
            fast.Split(text.View, new Piece(0, text.View.Length), a);
            regex.Split(text.View, new Piece(0, text.View.Length), b);
            Assert.True(a.SequenceEqual(b), $"pattern {patternIndex} differs on {Escape(text.Source)}:\n fast  {string.Join(" ", a)}\n regex {string.Join(" ", b)}");
        }
    }

    [Fact]
    public void FusedDeepSeekSplit_GivesTheSamePiecesAsTheThreeRegexes()
    {
        var fused = new PreTokenizer(FastSplits.Fuse(BpeTrainerOptions.DeepSeekV3Patterns
            .Select(p => FastSplits.TryCreate(p, SplitBehavior.Isolated, false)!).ToList()));
        Assert.IsType<DeepSeekV3Fused>(Assert.Single(fused.Steps));
        var regexes = new PreTokenizer(BpeTrainerOptions.DeepSeekV3Patterns
            .Select(p => (PreTokenizerStep)new RegexSplit(p, SplitBehavior.Isolated, false)).ToList());
        var rng = new Random(99);
        List<Piece> a = [], b = [], scratch = [];
        for (int trial = 0; trial < 3000; trial++)
        {
            var text = CodePointText.Of(RandomText(rng, rng.Next(0, 40)));
            fused.Split(text.View, 0, text.View.Length, a, scratch);
            regexes.Split(text.View, 0, text.View.Length, b, scratch);
            Assert.True(a.SequenceEqual(b), $"fused differs on {Escape(text.Source)}:\n fused {string.Join(" ", a)}\n regex {string.Join(" ", b)}");
        }
    }

    [Fact]
    public void CodePointView_MapsSupplementaryLettersToOneLetterChar()
    {
        var text = CodePointText.Of("a𠀀b👍");
        Assert.Equal(4, text.View.Length);
        Assert.True(char.IsLetter(text.View[1]));
        Assert.False(char.IsLetter(text.View[3]));
        Assert.Equal(new[] { 0, 1, 3, 4, 6 }, Enumerable.Range(0, 5).Select(text.ToSource));
    }

    [Fact]
    public void DigitGroups_SplitRunsIntoThreesFromTheLeft()
    {
        var step = FastSplits.TryCreate(BpeTrainerOptions.DeepSeekV3Patterns[0], SplitBehavior.Isolated, false)!;
        var pieces = new List<Piece>();
        const string text = "x1234567y𝟎𝟏";
        var view = CodePointText.Of(text);
        step.Split(view.View, new Piece(0, view.View.Length), pieces);
        Assert.Equal(new[] { "x", "123", "456", "7", "y", "𝟎𝟏" },
            pieces.Select(p => text[view.ToSource(p.Start)..view.ToSource(p.Start + p.Length)]));
    }

    [Fact]
    public void LoneSurrogates_AreReplacedWithReplacementChar()
    {
        Assert.Equal("a\uFFFDb\uFFFD", CodePointText.ReplaceLoneSurrogates("a\uD800b\uDC00"));
        Assert.Equal("𠀀", CodePointText.ReplaceLoneSurrogates("𠀀"));
    }

    [Theory]
    [InlineData(SplitBehavior.Removed, "a|b|c", "a b c")]
    [InlineData(SplitBehavior.Isolated, "a|b|c", "a | b | c")]
    [InlineData(SplitBehavior.MergedWithPrevious, "a|b|c", "a| b| c")]
    [InlineData(SplitBehavior.MergedWithNext, "a|b|c", "a |b |c")]
    [InlineData(SplitBehavior.Contiguous, "a||b|c", "a || b | c")]
    public void RegexSplit_Behaviors_MatchHuggingFace(SplitBehavior behavior, string text, string expected)
    {
        var split = new RegexSplit(@"\|", behavior, invert: false);
        var pieces = new List<Piece>();
        split.Split(text, new Piece(0, text.Length), pieces);
        Assert.Equal(expected, string.Join(" ", pieces.Select(p => text.Substring(p.Start, p.Length))));
    }

    private static string Escape(string s) => string.Concat(s.Select(c => c < 128 && !char.IsControl(c) ? c.ToString() : $"\\u{(int)c:x4}"));
}
