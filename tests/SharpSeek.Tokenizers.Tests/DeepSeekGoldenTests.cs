using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

/// <summary>DeepSeek-V3's tokenizer against ids Hugging Face tokenizers (Rust) produced for the same text.</summary>
[Collection(DeepSeekCollection.Name)]
public sealed class DeepSeekGoldenTests(DeepSeekTokenizerFixture fixture)
{
    private readonly Tokenizer _tok = fixture.Tokenizer;

    public static TheoryData<string> Categories() => new(TestFiles.Goldens("deepseek-v3-golden.jsonl")
        .Select(g => g.Category).Distinct());

    [Theory]
    [MemberData(nameof(Categories))]
    public void Encode_MatchesHuggingFaceIds(string category)
    {
        int checkedCount = 0;
        foreach (var (cat, text, ids) in TestFiles.Goldens("deepseek-v3-golden.jsonl"))
        {
            if (cat != category) continue;
            int[] actual = _tok.Encode(text);
            Assert.True(ids.SequenceEqual(actual),
                $"[{cat}] '{Shorten(text)}'\n expected {string.Join(",", ids.Take(40))}\n actual   {string.Join(",", actual.Take(40))}");
            checkedCount++;
        }
        Assert.True(checkedCount > 0);
    }

    [Theory]
    [MemberData(nameof(Categories))]
    public void Decode_OfEncode_ReturnsTheText(string category)
    {
        foreach (var (cat, text, ids) in TestFiles.Goldens("deepseek-v3-golden.jsonl"))
        {
            if (cat != category) continue;
            Assert.Equal(text, _tok.Decode(ids));
            Assert.Equal(text, _tok.Decode(_tok.Encode(text)));
        }
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
