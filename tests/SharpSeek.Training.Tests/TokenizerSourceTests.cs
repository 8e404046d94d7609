using SharpSeek.Training.Data;

namespace SharpSeek.Training.Tests;

public class TokenizerSourceTests
{
    private static CorpusDocument[] Corpus() =>
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "TestData", "brown-ca01-head.txt"))
            .Select((line, i) => new CorpusDocument($"d{i}", line + "\n")).ToArray();

    [Fact]
    public void Default_TrainsBpeOnTrainSplit_CachesIt_AndEncodesThroughTheShardPipeline()
    {
        using var tmp = new TempDir();
        var docs = Corpus();
        var (enc, dir) = TokenizerSource.Resolve(null, docs, 320, tmp.Path, out bool trained);
        Assert.True(trained);
        Assert.Equal(320, enc.VocabSize);
        Assert.NotNull(enc.EndOfDocumentId);
        Assert.StartsWith(Path.Combine(tmp.Path, "tokenizers"), dir);
        string sentence = docs[0].Text;
        int[] ids = enc.Encode(sentence);
        Assert.True(ids.Length < sentence.Length, "merges should make the text shorter than its bytes");
        Assert.Equal(sentence, enc.Tokenizer.Decode(ids));

        var (again, dir2) = TokenizerSource.Resolve(null, docs, 320, tmp.Path, out bool trainedAgain);
        Assert.False(trainedAgain);
        Assert.Equal(dir, dir2);
        Assert.Equal(enc.Fingerprint, again.Fingerprint);

        using var shards = TokenShards.BuildOrOpen(docs, enc, tmp.Path);
        Assert.Equal(2, shards.Train.BytesPerToken);
        Assert.True(shards.Train.Count > 100);

        var (_, dirExplicit) = TokenizerSource.Resolve(dir, docs, 320, tmp.Path, out _);
        Assert.Equal(dir, dirExplicit);
        Assert.Throws<ArgumentException>(() => TokenizerSource.Resolve(dir, docs, 300, tmp.Path, out _));
    }
}

public class TokenizerEncoderTests
{
    [Fact]
    public void Fingerprint_ChangesWhenTokenizerJsonChanges()
    {
        using var tmp = new TempDir();
        var docs = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "TestData", "brown-ca01-head.txt"))
            .Select((l, i) => new CorpusDocument($"d{i}", l + "\n")).ToArray();
        var (enc, dir) = TokenizerSource.Resolve(null, docs, 300, tmp.Path, out _);
        string copy = Directory.CreateDirectory(Path.Combine(tmp.Path, "copy")).FullName;
        foreach (string f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        Assert.Equal(enc.Fingerprint, TokenizerEncoder.Load(copy).Fingerprint);
        var (other, _) = TokenizerSource.Resolve(null, docs, 310, tmp.Path, out _);
        Assert.NotEqual(enc.Fingerprint, other.Fingerprint);
        Assert.Equal(enc.Tokenizer.EosId, enc.EndOfDocumentId);
    }
}
