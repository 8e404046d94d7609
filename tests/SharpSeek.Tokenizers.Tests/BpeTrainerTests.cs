using System.Text.Json;
using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

public sealed class BpeTrainerTests
{
    private static readonly BpeTrainerOptions Options600 = new() { VocabSize = 600 };

    private static readonly Lazy<BpeTrainingResult> Trained600 = new(() => BpeTrainer.TrainFiles([TestFiles.Path("trainer/train.txt")], Options600));

    private static BpeTrainingResult Train600() => Trained600.Value; // trained once; the result is immutable

    [Fact]
    public void TrainedTokenizer_EncodesLikeHuggingFaceReadingTheSameFile()
    {
        // golden-600.jsonl: ids Hugging Face tokenizers produced after loading the tokenizer.json this trainer wrote.
        string dir = Path.Combine(Path.GetTempPath(), "sharpseek-trainer-" + Guid.NewGuid().ToString("N"));
        try
        {
            Train600().Save(dir);
            Tokenizer tok = Tokenizer.Load(dir);
            int n = 0;
            foreach (string line in File.ReadLines(TestFiles.Path("trainer/golden-600.jsonl")))
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                string text = root.GetProperty("text").GetString()!;
                int[] ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                int[] withSpecial = root.GetProperty("ids_special").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                Assert.Equal(ids, tok.Encode(text));
                Assert.Equal(withSpecial, tok.Encode(text, addSpecialTokens: true));
                Assert.Equal(text, tok.Decode(ids));
                n++;
            }
            Assert.True(n > 100);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("bytelevel_gpt2")]
    [InlineData("merged_with_next")]
    [InlineData("merged_with_previous_literal")]
    [InlineData("removed")]
    [InlineData("contiguous_inverted")]
    public void PreTokenizerVariants_EncodeLikeHuggingFace(string variant)
    {
        // The trained vocabulary with another pre_tokenizer swapped in: exercises ByteLevel use_regex and
        // add_prefix_space, String patterns, and every Split behaviour with and without invert against HF.
        var json = System.Text.Json.Nodes.JsonNode.Parse(Train600().ToTokenizerJson())!;
        var variants = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TestFiles.Path("trainer/pre-tokenizer-variants.json")))!;
        json["pre_tokenizer"] = variants[variant]!.DeepClone();
        Tokenizer tok = Tokenizer.FromJson(json.ToJsonString(), null, variant);
        int n = 0;
        foreach (string line in File.ReadLines(TestFiles.Path("trainer/pre-tokenizer-variants-golden.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.GetProperty("variant").GetString() != variant) continue;
            string text = root.GetProperty("text").GetString()!;
            int[] ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.True(ids.SequenceEqual(tok.Encode(text)), $"{variant}: '{text}'\n expected {string.Join(",", ids)}\n actual   {string.Join(",", tok.Encode(text))}");
            n++;
        }
        Assert.Equal(60, n);
    }

    [Fact]
    public void Train_PutsSpecialTokensFirst_BytesNext_AndReachesTheVocabSize()
    {
        BpeTrainingResult r = Train600();
        Assert.Equal(600, r.VocabSize);
        Assert.Equal("<｜begin▁of▁sentence｜>", r.Tokens[0]);
        Assert.Equal("<｜end▁of▁sentence｜>", r.Tokens[1]);
        Assert.Equal(256, r.Tokens.Skip(2).Take(256).Distinct().Count(t => t.Length == 1));
        Tokenizer tok = r.ToTokenizer();
        Assert.Equal(0, tok.BosId);
        Assert.Equal(1, tok.EosId);
        // The special token in the training text was cut out, never learned as pieces.
        Assert.DoesNotContain(r.Tokens.Skip(2), t => t.Contains("｜"));
    }

    [Fact]
    public void Train_IsDeterministic_AndMergesMostFrequentPairFirst()
    {
        string[] texts = ["aaab aaab aaab ab ab", "aaab"];
        var options = new BpeTrainerOptions { VocabSize = 2 + 256 + 3, MinFrequency = 1 };
        BpeTrainingResult a = BpeTrainer.Train(texts, options), b = BpeTrainer.Train(texts, options);
        Assert.Equal(a.ToTokenizerJson(), b.ToTokenizerJson());
        // Words: "aaab" x3, " aaab" x3 (with the leading space), " ab" x2. Most frequent pair: (a, a) 12 times.
        Assert.Equal("aa", a.Tokens[258]);
    }

    [Fact]
    public void Train_WithNoText_SaysSo()
    {
        // an empty training file had failed inside the parallel word count: "toExclusive ('0') must be greater than '0'"
        var e = Assert.Throws<ArgumentException>(() => BpeTrainer.Train([], new BpeTrainerOptions { VocabSize = 300 }));
        Assert.Contains("no text to train on", e.Message);
    }

    [Fact]
    public void Train_RoundTripsEveryTrainingLine()
    {
        Tokenizer tok = Train600().ToTokenizer();
        foreach (string line in File.ReadLines(TestFiles.Path("trainer/train.txt")))
            Assert.Equal(line, tok.Decode(tok.Encode(line)));
    }

    [Fact]
    public void Train_RejectsAVocabularyTooSmallForTheBytes()
    {
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions { VocabSize = 100 }));
    }
}
