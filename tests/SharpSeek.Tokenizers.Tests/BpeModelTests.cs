using System.Text;
using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

[Collection(DeepSeekCollection.Name)]
public sealed class BpeModelTests(DeepSeekTokenizerFixture fixture)
{
    private readonly BpeModel _bpe = fixture.Tokenizer.Bpe;

    [Fact]
    public void EncodeWord_FastPaths_AgreeWithNaiveReference()
    {
        var rng = new Random(5);
        var fast = new List<int>();
        var naive = new List<int>();
        foreach (int length in new[] { 1, 2, 3, 7, 16, 64, 255, 256, 257, 600, 2000 })
            for (int trial = 0; trial < 20; trial++)
            {
                string word = PreTokenizerTests.RandomText(rng, length);
                if (rng.Next(2) == 0) word = string.Concat(Enumerable.Repeat("the ", length / 4 + 1)); // mergeable text
                byte[] bytes = Encoding.UTF8.GetBytes(word);
                fast.Clear(); naive.Clear();
                _bpe.EncodeWord(bytes, fast);
                _bpe.EncodeWordNaive(bytes, naive);
                Assert.Equal(naive, fast);
            }
    }

    [Fact]
    public void EncodeWord_MegabyteRun_IsOneLinearishPass()
    {
        // 1 MB of one letter is a single pre-token; the heap path must finish it (the naive path is O(n²)).
        var ids = new List<int>();
        _bpe.EncodeWord(Encoding.UTF8.GetBytes(new string('a', 1 << 20)), ids);
        Assert.InRange(ids.Count, 1, 1 << 17);
    }
}
