// CorpusSource — the documents to train on: `--data FILE` (one document), `--data DIR` (every *.txt below it, in
// ordinal path order, one document each), or by default the Brown corpus (BrownCorpus, 500 documents).
//
// Train/validation split (deterministic, documented in docs/DESIGN.md "Training"): with ≥ 100 documents, every
// document whose index i has i % 100 == 99 is validation (1% of the documents, spread over all genres); with fewer,
// the last 1% of all non-empty lines of the corpus (at least one line, when it has two or more) is validation.
using System.Text;

namespace SharpSeek.Training.Data;

public static class CorpusSource
{
    public const int ValidationEvery = 100;

    /// <summary>The default cache root: $SHARPSEEK_CACHE, else ~/.cache/sharpseek.</summary>
    public static string DefaultCacheRoot =>
        Environment.GetEnvironmentVariable("SHARPSEEK_CACHE") is { Length: > 0 } env ? env
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sharpseek");

    /// <summary>Documents of <paramref name="data"/> (file or directory), or of the Brown corpus when null.</summary>
    public static IReadOnlyList<CorpusDocument> Load(string? data, string cacheRoot)
    {
        if (data is null) return BrownCorpus.Load(Path.Combine(cacheRoot, "corpus"));
        if (File.Exists(data)) return WithText(data, [new CorpusDocument(Path.GetFileName(data), File.ReadAllText(data))]);
        if (Directory.Exists(data))
        {
            string[] files = Directory.GetFiles(data, "*.txt", SearchOption.AllDirectories);
            Array.Sort(files, StringComparer.Ordinal);
            if (files.Length == 0) throw new FileNotFoundException($"--data {data}: the directory holds no .txt files.");
            return WithText(data, files.Select(f => new CorpusDocument(Path.GetRelativePath(data, f), File.ReadAllText(f))).ToArray());
        }
        throw new FileNotFoundException($"--data {data}: no such file or directory; pass a .txt file or a directory of .txt files.");
    }

    /// <summary>The documents, unless none holds anything but white space (a tokenizer cannot be trained on that).</summary>
    private static CorpusDocument[] WithText(string data, CorpusDocument[] docs) =>
        docs.Any(d => !string.IsNullOrWhiteSpace(d.Text)) ? docs
            : throw new InvalidDataException($"--data {data}: no text in {(docs.Length == 1 ? "the file" : $"any of its {docs.Length} .txt files")}.");

    /// <summary>Splits documents into (train, validation) texts by the rule in the header.</summary>
    public static (List<string> Train, List<string> Validation) Split(IReadOnlyList<CorpusDocument> docs)
    {
        var train = new List<string>();
        var val = new List<string>();
        if (docs.Count >= ValidationEvery)
        {
            for (int i = 0; i < docs.Count; i++)
                (i % ValidationEvery == ValidationEvery - 1 ? val : train).Add(docs[i].Text);
            return (train, val);
        }
        // Few documents: the last 1% of all non-empty lines (at least one), kept grouped by document.
        var lines = new List<(int Doc, string Line)>();
        for (int d = 0; d < docs.Count; d++)
            foreach (string line in docs[d].Text.Split('\n'))
                if (line.Length > 0) lines.Add((d, line));
        int held = lines.Count < 2 ? 0 : Math.Max(1, lines.Count / ValidationEvery);
        Group(lines.Take(lines.Count - held), train);
        Group(lines.Skip(lines.Count - held), val);
        return (train, val);
    }

    private static void Group(IEnumerable<(int Doc, string Line)> lines, List<string> into)
    {
        foreach (var doc in lines.GroupBy(l => l.Doc))
            into.Add(string.Concat(doc.Select(l => l.Line + "\n")));
    }

    /// <summary>SHA-256 (hex) over the documents' names and texts, in order: the corpus half of the shard cache key.</summary>
    public static string ContentHash(IReadOnlyList<CorpusDocument> docs)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Span<byte> len = stackalloc byte[8];
        foreach (CorpusDocument d in docs)
        {
            foreach (string part in (ReadOnlySpan<string>)[d.Name, d.Text])
            {
                byte[] bytes = Encoding.UTF8.GetBytes(part);
                BitConverter.TryWriteBytes(len, (long)bytes.Length); // length-prefixed: ("ab","c") ≠ ("a","bc")
                sha.AppendData(len);
                sha.AppendData(bytes);
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
