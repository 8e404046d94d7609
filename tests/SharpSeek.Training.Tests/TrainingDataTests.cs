using SharpSeek.Model;
using SharpSeek.Training.Data;

namespace SharpSeek.Training.Tests;

public class TrainingDataTests
{
    private static string Corpus(TempDir tmp, int copies)
    {
        string text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "brown-ca01-head.txt"));
        string path = Path.Combine(tmp.Path, "corpus.txt");
        File.WriteAllText(path, string.Concat(Enumerable.Repeat(text, copies)));
        return path;
    }

    [Fact]
    public void Prepare_FromDataFile_TrainsTokenizer_BuildsShards_ThenReusesThem()
    {
        using var tmp = new TempDir();
        var options = new TrainingOptions { Data = Corpus(tmp, 20), Seq = 16 };
        var config = AdamWTests.TinyForTests() with { VocabSize = 300 };
        var lines = new List<string>();
        using (var data = TrainingData.Prepare(options, config, Path.Combine(tmp.Path, "cache"), lines.Add))
        {
            Assert.Equal(300, data.Encoder.VocabSize);
            Assert.True(data.Train.Count > 10 * data.Validation.Count);
            Assert.True(data.Baseline.ValidationCrossEntropy > 2 && data.Baseline.ValidationCrossEntropy < Math.Log(300));
            Assert.Contains(lines, l => l.Contains("trained now"));
            Assert.Contains(lines, l => l.Contains("tokenized now"));
            var batch = new TokenBatch(2, 16, 1);
            new WindowSampler(data.Train, 1).Next(batch);
            WindowSampler.ValidationBatch(data.Validation, batch, 0);
        }
        lines.Clear();
        using (TrainingData.Prepare(options, config, Path.Combine(tmp.Path, "cache"), lines.Add))
        {
            Assert.Contains(lines, l => l.Contains("loaded"));
            Assert.Contains(lines, l => l.Contains("cached"));
        }
    }

    [Fact]
    public void Prepare_TooLittleValidationText_SaysWhatToDo()
    {
        using var tmp = new TempDir();
        var options = new TrainingOptions { Data = Corpus(tmp, 1), Seq = 256 };
        var e = Assert.Throws<InvalidDataException>(() =>
            TrainingData.Prepare(options, AdamWTests.TinyForTests() with { VocabSize = 300 }, Path.Combine(tmp.Path, "cache")));
        Assert.Contains("smaller --seq", e.Message);
    }
}
