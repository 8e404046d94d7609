using System.Text.Json;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> (and optionally <c>tokenizer_config.json</c>) into the parts
/// <see cref="Tokenizer"/> is built from. Supported: model BPE (byte-level: every byte is a vocab entry),
/// normalizer none or an empty Sequence, pre-tokenizers Sequence / Split (Regex or String pattern, any behaviour,
/// invert) / ByteLevel, post-processors ByteLevel / TemplateProcessing, decoder ByteLevel. Anything else is
/// rejected with <see cref="NotSupportedException"/> naming the component, never silently ignored.
/// </summary>
public static class TokenizerJson
{
    /// <summary>Everything a tokenizer is built from, as read from the files.</summary>
    public sealed record Parts(
        string[] IdToToken,            // (vocab + added) token string of each id; null-free, "" for holes
        Dictionary<string, int> Vocab,
        List<(int Left, int Right, int Merged)> Merges, // in rank order
        bool IgnoreMerges,
        List<AddedToken> AddedTokens,
        List<PreTokenizerStep> PreTokenizerSteps,
        int[] PrefixIds, int[] SuffixIds, // post-processor template around a single sequence
        string? BosToken, string? EosToken,
        string? ChatTemplate);

    public static Parts Parse(string tokenizerJson, string? configJson, string source) =>
        Parse(System.Text.Encoding.UTF8.GetBytes(tokenizerJson), configJson, source);

    /// <summary>Parses UTF-8 tokenizer.json bytes (no transcoding of the multi-megabyte file). A file that is not
    /// UTF-8 JSON of the expected shape throws <see cref="InvalidDataException"/> naming the file.</summary>
    public static Parts Parse(ReadOnlyMemory<byte> tokenizerJson, string? configJson, string source)
    {
        // JsonDocument checks UTF-8 only when a string is read, and its accessors throw InvalidOperationException /
        // FormatException on a value of the wrong kind: neither would say which file is broken.
        if (!System.Text.Unicode.Utf8.IsValid(tokenizerJson.Span))
        {
            int at = 0;
            while (System.Text.Rune.DecodeFromUtf8(tokenizerJson.Span[at..], out _, out int used) == System.Buffers.OperationStatus.Done) at += used;
            throw new InvalidDataException($"{source}: not valid UTF-8 (byte {at}); the file is corrupt.");
        }
        try
        {
            return ParseJson(tokenizerJson, configJson, source);
        }
        catch (Exception e) when (IsMalformedJson(e))
        {
            throw Malformed(source, e);
        }
    }

    private static bool IsMalformedJson(Exception e) => e is JsonException or InvalidOperationException or FormatException;

    private static InvalidDataException Malformed(string file, Exception e) =>
        new(e is JsonException ? $"{file}: not valid JSON ({e.Message})" : $"{file}: a value is not of the expected kind ({e.Message})", e);

    private static Parts ParseJson(ReadOnlyMemory<byte> tokenizerJson, string? configJson, string source)
    {
        using var doc = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { MaxDepth = 256 });
        JsonElement root = doc.RootElement;
        JsonElement model = Required(root, "model", source);
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "BPE";
        if (type != "BPE") throw new NotSupportedException($"{source}: model type '{type}' is not supported; only BPE is.");
        foreach (string key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() != "")
                throw new NotSupportedException($"{source}: BPE '{key}' is not supported (byte-level BPE does not use it).");
        if (model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{source}: BPE byte_fallback (SentencePiece-style) is not supported.");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty p in Required(model, "vocab", source).EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();
        var merges = new List<(int, int, int)>();
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (JsonElement m in Required(model, "merges", source).EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.Array) merges.Add(ResolveMerge(lookup, m[0].GetString()!, m[1].GetString()!, merges.Count, source));
            else
            {
                string merge = m.GetString()!;
                int space = merge.IndexOf(' ', 1); // a merge half is never empty; byte-level halves contain no spaces
                if (space < 0) throw new InvalidDataException($"{source}: merge '{merge}' is not two tokens separated by a space.");
                merges.Add(ResolveMerge(lookup, merge.AsSpan(0, space), merge.AsSpan(space + 1), merges.Count, source));
            }
        }
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (JsonElement a in at.EnumerateArray())
                added.Add(new AddedToken(a.GetProperty("id").GetInt32(), a.GetProperty("content").GetString()!,
                    Bool(a, "special"), Bool(a, "normalized"), Bool(a, "lstrip"), Bool(a, "rstrip"), Bool(a, "single_word")));

        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        var idToToken = new string[size];
        Array.Fill(idToToken, "");
        foreach (var (tok, id) in vocab) idToToken[id] = tok;
        foreach (AddedToken a in added) idToToken[a.Id] = a.Content;

        CheckNormalizer(root, source);
        var steps = new List<PreTokenizerStep>();
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object) AddSteps(pre, steps, source);
        steps = FastSplits.Fuse(steps);
        CheckDecoder(root, source);
        var (prefix, suffix) = PostProcessor(root, source);

        string? bos = null, eos = null, chatTemplate = null;
        if (configJson is not null)
        {
            try
            {
                using var cfg = JsonDocument.Parse(configJson);
                JsonElement c = cfg.RootElement;
                bos = TokenContent(c, "bos_token");
                eos = TokenContent(c, "eos_token");
                chatTemplate = ChatTemplateOf(c);
                // transformers' Llama-style fast tokenizers rebuild the post-processor from these two flags.
                bool hasFlags = c.TryGetProperty("add_bos_token", out _) || c.TryGetProperty("add_eos_token", out _);
                if (hasFlags)
                {
                    prefix = Bool(c, "add_bos_token") && bos is not null ? [IdOf(bos, vocab, added, source)] : [];
                    suffix = Bool(c, "add_eos_token") && eos is not null ? [IdOf(eos, vocab, added, source)] : [];
                }
            }
            catch (Exception e) when (IsMalformedJson(e))
            {
                throw Malformed($"tokenizer_config.json beside {source}", e);
            }
        }
        return new Parts(idToToken, vocab, merges, ignoreMerges, added, steps, prefix, suffix, bos, eos, chatTemplate);
    }

    private static (int, int, int) ResolveMerge(Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocab,
        ReadOnlySpan<char> left, ReadOnlySpan<char> right, int rank, string source)
    {
        Span<char> both = left.Length + right.Length <= 256 ? stackalloc char[left.Length + right.Length] : new char[left.Length + right.Length];
        left.CopyTo(both);
        right.CopyTo(both[left.Length..]);
        if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r) || !vocab.TryGetValue(both, out int merged))
            throw new InvalidDataException($"{source}: merge #{rank} '{left} {right}' refers to a token missing from the vocabulary.");
        return (l, r, merged);
    }

    private static void CheckNormalizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return;
        string type = n.GetProperty("type").GetString()!;
        if (type == "Sequence" && n.GetProperty("normalizers").GetArrayLength() == 0) return;
        throw new NotSupportedException($"{source}: normalizer '{type}' is not supported (only none or an empty Sequence).");
    }

    private static void AddSteps(JsonElement pre, List<PreTokenizerStep> steps, string source)
    {
        string type = pre.GetProperty("type").GetString()!;
        switch (type)
        {
            case "Sequence":
                foreach (JsonElement p in pre.GetProperty("pretokenizers").EnumerateArray()) AddSteps(p, steps, source);
                break;
            case "Split":
                JsonElement pattern = pre.GetProperty("pattern");
                string regex = pattern.TryGetProperty("Regex", out var r) ? r.GetString()!
                    : System.Text.RegularExpressions.Regex.Escape(pattern.GetProperty("String").GetString()!);
                string behavior = pre.GetProperty("behavior").GetString()!;
                if (!Enum.TryParse(behavior, out SplitBehavior b))
                    throw new NotSupportedException($"{source}: Split behavior '{behavior}' is unknown.");
                steps.Add(FastSplits.TryCreate(regex, b, Bool(pre, "invert")) ?? new RegexSplit(regex, b, Bool(pre, "invert")));
                break;
            case "ByteLevel":
                steps.Add(new ByteLevelStep(Bool(pre, "add_prefix_space"), !pre.TryGetProperty("use_regex", out var ur) || ur.GetBoolean()));
                break;
            default:
                throw new NotSupportedException($"{source}: pre-tokenizer '{type}' is not supported (Sequence, Split and ByteLevel are).");
        }
    }

    private static void CheckDecoder(JsonElement root, string source)
    {
        if (!root.TryGetProperty("decoder", out var d) || d.ValueKind == JsonValueKind.Null) return;
        string type = d.GetProperty("type").GetString()!;
        if (type != "ByteLevel") throw new NotSupportedException($"{source}: decoder '{type}' is not supported (ByteLevel is).");
    }

    private static (int[] Prefix, int[] Suffix) PostProcessor(JsonElement root, string source)
    {
        if (!root.TryGetProperty("post_processor", out var p) || p.ValueKind == JsonValueKind.Null) return ([], []);
        string type = p.GetProperty("type").GetString()!;
        if (type == "ByteLevel") return ([], []);
        if (type != "TemplateProcessing")
            throw new NotSupportedException($"{source}: post-processor '{type}' is not supported (ByteLevel, TemplateProcessing are).");
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        JsonElement specials = p.GetProperty("special_tokens");
        foreach (JsonElement item in p.GetProperty("single").EnumerateArray())
        {
            if (item.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
            string name = item.GetProperty("SpecialToken").GetProperty("id").GetString()!;
            foreach (JsonElement id in specials.GetProperty(name).GetProperty("ids").EnumerateArray())
                (seenSequence ? suffix : prefix).Add(id.GetInt32());
        }
        return (prefix.ToArray(), suffix.ToArray());
    }

    private static string? ChatTemplateOf(JsonElement config)
    {
        if (!config.TryGetProperty("chat_template", out var ct)) return null;
        if (ct.ValueKind == JsonValueKind.String) return ct.GetString();
        if (ct.ValueKind == JsonValueKind.Array)
            foreach (JsonElement named in ct.EnumerateArray())
                if (named.GetProperty("name").GetString() == "default") return named.GetProperty("template").GetString();
        return null;
    }

    private static string? TokenContent(JsonElement config, string key)
    {
        if (!config.TryGetProperty(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object => v.GetProperty("content").GetString(),
            _ => null,
        };
    }

    private static int IdOf(string token, Dictionary<string, int> vocab, List<AddedToken> added, string source)
    {
        foreach (AddedToken a in added) if (a.Content == token) return a.Id;
        if (vocab.TryGetValue(token, out int id)) return id;
        throw new InvalidDataException($"{source}: tokenizer_config names '{token}', which is not in the vocabulary.");
    }

    private static bool Bool(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;

    private static JsonElement Required(JsonElement e, string key, string source) =>
        e.TryGetProperty(key, out var v) ? v : throw new InvalidDataException($"{source}: missing '{key}'.");
}
