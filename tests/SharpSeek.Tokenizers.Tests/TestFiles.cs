using System.IO.Compression;
using System.Text.Json;
using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

/// <summary>Paths and loaders for the committed test data (see TestData/README.md).</summary>
public static class TestFiles
{
    public static string Path(string relative) => System.IO.Path.Combine(AppContext.BaseDirectory, "TestData", relative);

    public static string ReadGzip(string relative)
    {
        using var gz = new GZipStream(File.OpenRead(Path(relative)), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        return reader.ReadToEnd();
    }

    /// <summary>Golden lines: text and the ids Hugging Face tokenizers produced for it.</summary>
    public static IEnumerable<(string Category, string Text, int[] Ids)> Goldens(string relative)
    {
        foreach (string line in File.ReadLines(Path(relative)))
        {
            if (line.Length == 0) continue;
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            yield return (root.GetProperty("category").GetString()!, root.GetProperty("text").GetString()!,
                root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }
    }
}

/// <summary>Test classes in this collection share one DeepSeek-V3 tokenizer (loading it takes about a second).</summary>
[CollectionDefinition(Name)]
public sealed class DeepSeekCollection : ICollectionFixture<DeepSeekTokenizerFixture>
{
    public const string Name = "deepseek-v3 tokenizer";
}

/// <summary>DeepSeek-V3's tokenizer, loaded once for the whole <see cref="DeepSeekCollection"/>.</summary>
public sealed class DeepSeekTokenizerFixture
{
    public Tokenizer Tokenizer { get; } = Tokenizer.FromJson(
        TestFiles.ReadGzip("deepseek-v3/tokenizer.json.gz"),
        File.ReadAllText(TestFiles.Path("deepseek-v3/tokenizer_config.json")),
        "deepseek-v3/tokenizer.json");
}
