using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Tokenizers;

/// <summary>A trained byte-level BPE vocabulary; writes Hugging Face tokenizer.json / tokenizer_config.json.</summary>
public sealed class BpeTrainingResult
{
    internal BpeTrainingResult(string[] tokens, List<(int Left, int Right)> merges, BpeTrainerOptions options,
        long uniqueWords, long trainingBytes)
    {
        Tokens = tokens;
        Merges = merges;
        Options = options;
        UniqueWords = uniqueWords;
        TrainingBytes = trainingBytes;
    }

    /// <summary>(VocabSize) token string per id: special tokens, the 256 byte characters, then one per merge.</summary>
    public IReadOnlyList<string> Tokens { get; }
    public IReadOnlyList<(int Left, int Right)> Merges { get; }
    public BpeTrainerOptions Options { get; }
    public long UniqueWords { get; }
    public long TrainingBytes { get; }
    public int VocabSize => Tokens.Count;

    /// <summary>The Hugging Face tokenizer.json text.</summary>
    public string ToTokenizerJson()
    {
        var specials = Options.SpecialTokens;
        var added = new JsonArray();
        for (int i = 0; i < specials.Count; i++)
            added.Add(new JsonObject
            {
                ["id"] = i, ["content"] = specials[i], ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        var steps = new JsonArray();
        foreach (string p in Options.SplitPatterns)
            steps.Add(new JsonObject
            {
                ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = p }, ["behavior"] = "Isolated", ["invert"] = false,
            });
        steps.Add(new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false });
        var vocab = new JsonObject();
        for (int id = 0; id < Tokens.Count; id++) vocab[Tokens[id]] = id;
        var merges = new JsonArray();
        foreach (var (l, r) in Merges) merges.Add($"{Tokens[l]} {Tokens[r]}"); // byte-level tokens contain no spaces
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Sequence", ["pretokenizers"] = steps },
            ["post_processor"] = PostProcessor(),
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = merges,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    // BOS before each sequence (transformers' add_bos_token); a no-op post-processor without special tokens.
    private JsonNode PostProcessor()
    {
        if (Options.SpecialTokens.Count == 0)
            return new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true };
        string bos = Options.SpecialTokens[0];
        JsonObject Special() => new() { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } };
        JsonObject Seq(string id) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = 0 } };
        return new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(Special(), Seq("A")),
            ["pair"] = new JsonArray(Special(), Seq("A"), Special(), Seq("B")),
            ["special_tokens"] = new JsonObject
            {
                [bos] = new JsonObject { ["id"] = bos, ["ids"] = new JsonArray(0), ["tokens"] = new JsonArray(bos) },
            },
        };
    }

    /// <summary>The tokenizer_config.json text: bos/eos names and add_bos_token, as transformers reads them.</summary>
    public string ToTokenizerConfigJson()
    {
        var specials = Options.SpecialTokens;
        var config = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["add_bos_token"] = specials.Count > 0,
            ["add_eos_token"] = false,
            ["bos_token"] = specials.Count > 0 ? specials[0] : null,
            ["eos_token"] = specials.Count > 1 ? specials[1] : null,
            ["pad_token"] = specials.Count > 1 ? specials[1] : null,
            ["clean_up_tokenization_spaces"] = false,
            ["model_max_length"] = 1_000_000,
        };
        return config.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>Writes DIR/tokenizer.json and DIR/tokenizer_config.json (UTF-8, no BOM).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var utf8 = new UTF8Encoding(false);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), ToTokenizerJson(), utf8);
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), ToTokenizerConfigJson(), utf8);
    }

    /// <summary>The trained tokenizer, loaded through the same path as a file on disk.</summary>
    public Tokenizer ToTokenizer() => Tokenizer.FromJson(ToTokenizerJson(), ToTokenizerConfigJson(), "trained tokenizer");
}
