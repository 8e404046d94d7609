using System.Collections.Concurrent;

namespace SharpSeek.Tokenizers;

/// <summary>Options for <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>DeepSeek's BOS and EOS names; as ids 0 and 1 they match the model configs' bos/eos_token_id.</summary>
    public static readonly string[] DeepSeekSpecialTokens = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"];

    /// <summary>Final vocabulary size: special tokens + 256 bytes + merges.</summary>
    public int VocabSize { get; init; } = 8192;

    /// <summary>Special tokens, ids 0..k-1. The first is BOS, the second (if any) EOS. They are cut out of the
    /// training text and never learned as pieces.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = DeepSeekSpecialTokens;

    /// <summary>Pairs seen fewer times than this are never merged (training may stop below VocabSize).</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>Split regexes (Isolated) applied in order before ByteLevel; default DeepSeek-V3's own three.</summary>
    public IReadOnlyList<string> SplitPatterns { get; init; } = DeepSeekV3Patterns;

    /// <summary>DeepSeek-V3's pre-tokenizer: digit groups of 1–3, CJK/kana runs, then a GPT-4-style word pattern.</summary>
    public static readonly string[] DeepSeekV3Patterns =
    [
        @"\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    ];
}

/// <summary>
/// Byte-level BPE training. Text is cut at special tokens, pre-tokenized (the same <see cref="PreTokenizer"/> the
/// resulting tokenizer uses) and counted as unique words; each word is a sequence of byte symbols. Every round
/// merges the most frequent adjacent pair (ties: the pair with the smaller ids, as Hugging Face's trainer).
/// Pair counts are kept incrementally: a merge touches only the words that contain the pair (an index from pair to
/// words), and a lazy max-heap holds candidate pairs (an entry whose count went stale is re-queued with its
/// current count when popped).
/// </summary>
public static class BpeTrainer
{
    public static BpeTrainingResult TrainFiles(IEnumerable<string> paths, BpeTrainerOptions options)
    {
        var texts = new List<string>();
        foreach (string p in paths)
        {
            if (!File.Exists(p)) throw new FileNotFoundException($"Training file '{p}' not found.", p);
            texts.AddRange(File.ReadLines(p).Select(l => l + "\n"));
        }
        return Train(texts, options);
    }

    /// <summary>Trains on <paramref name="texts"/> (documents or lines; newlines are part of the text).</summary>
    public static BpeTrainingResult Train(IReadOnlyList<string> texts, BpeTrainerOptions options)
    {
        int specials = options.SpecialTokens.Count;
        if (options.VocabSize < specials + 256)
            throw new ArgumentException($"--vocab-size {options.VocabSize} is too small: it must hold {specials} special tokens + 256 bytes.");
        if (options.SpecialTokens.Distinct().Count() != specials || options.SpecialTokens.Any(string.IsNullOrEmpty))
            throw new ArgumentException("Special tokens must be distinct and non-empty.");
        if (texts.Count == 0) throw new ArgumentException("There is no text to train on: the training files are empty.");

        var (wordCounts, bytes) = CountWords(texts, options);
        // Byte symbols: ids specials.. in character order of their byte-level characters, as Hugging Face orders its alphabet.
        var alphabet = Enumerable.Range(0, 256).OrderBy(b => ByteLevel.ByteToChar[b]).ToArray();
        var byteId = new int[256];
        var tokens = new List<string>(options.SpecialTokens);
        foreach (int b in alphabet) { byteId[b] = tokens.Count; tokens.Add(ByteLevel.ByteToChar[b].ToString()); }

        var words = new int[wordCounts.Count][];
        var counts = new long[wordCounts.Count];
        int w = 0;
        foreach (var (word, count) in wordCounts)
        {
            byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(word);
            words[w] = Array.ConvertAll(utf8, b => byteId[b]);
            counts[w++] = count;
        }
        var merges = RunMerges(words, counts, tokens, options);
        return new BpeTrainingResult(tokens.ToArray(), merges, options, wordCounts.Count, bytes);
    }

    private static (Dictionary<string, long> Words, long Bytes) CountWords(IReadOnlyList<string> texts, BpeTrainerOptions options)
    {
        var matcher = new AddedTokenMatcher(options.SpecialTokens.Select((t, i) => new AddedToken(i, t, Special: true)));
        var pre = new PreTokenizer(FastSplits.Fuse(options.SplitPatterns
            .Select(p => FastSplits.TryCreate(p, SplitBehavior.Isolated, false) ?? new RegexSplit(p, SplitBehavior.Isolated, false)).ToList()));
        var partials = new ConcurrentBag<Dictionary<string, long>>();
        long bytes = 0;
        Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, texts.Count, 4096),
            () => (Counts: new Dictionary<string, long>(StringComparer.Ordinal), Segs: new List<Segment>(), Pieces: new List<Piece>(), Scratch: new List<Piece>(), Bytes: 0L),
            (range, _, local) =>
            {
                var lookup = local.Counts.GetAlternateLookup<ReadOnlySpan<char>>();
                for (int i = range.Item1; i < range.Item2; i++)
                {
                    string text = CodePointText.ReplaceLoneSurrogates(texts[i]);
                    local.Bytes += System.Text.Encoding.UTF8.GetByteCount(text);
                    matcher.Split(text, local.Segs);
                    foreach (Segment seg in local.Segs)
                    {
                        if (seg.TokenId >= 0) continue;
                        var cpt = CodePointText.Of(text.Substring(seg.Start, seg.Length));
                        pre.Split(cpt.View, 0, cpt.View.Length, local.Pieces, local.Scratch);
                        foreach (Piece p in local.Pieces)
                        {
                            int from = cpt.ToSource(p.Start), to = cpt.ToSource(p.Start + p.Length);
                            ReadOnlySpan<char> piece = cpt.Source.AsSpan(from, to - from);
                            lookup[piece] = lookup.TryGetValue(piece, out long c) ? c + 1 : 1;
                        }
                    }
                }
                return local;
            },
            local => { partials.Add(local.Counts); Interlocked.Add(ref bytes, local.Bytes); });
        var total = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var part in partials)
            foreach (var (word, c) in part) total[word] = total.TryGetValue(word, out long t) ? t + c : c;
        return (total, bytes);
    }

    private static List<(int Left, int Right)> RunMerges(int[][] words, long[] counts, List<string> tokens, BpeTrainerOptions options)
    {
        var pairCounts = new Dictionary<long, long>(PairKeyComparer.Instance);
        var where = new Dictionary<long, List<int>>(PairKeyComparer.Instance);
        for (int w = 0; w < words.Length; w++)
            for (int i = 0; i + 1 < words[w].Length; i++)
            {
                long key = BpeModel.PairKey(words[w][i], words[w][i + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + counts[w];
                var list = where.TryGetValue(key, out var l) ? l : where[key] = new List<int>();
                if (list.Count == 0 || list[^1] != w) list.Add(w);
            }
        // Max-heap on count; ties: smaller pair key (smaller left id, then right id) first.
        var heap = new PriorityQueue<long, (long Count, long Key)>(Comparer<(long Count, long Key)>.Create(
            (a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Key.CompareTo(b.Key)));
        foreach (var (key, c) in pairCounts) heap.Enqueue(key, (c, key));

        var merges = new List<(int, int)>();
        var lengths = Array.ConvertAll(words, x => x.Length);
        var delta = new Dictionary<long, long>(PairKeyComparer.Instance);
        var visited = new int[words.Length];
        int stamp = 0;
        while (tokens.Count < options.VocabSize && heap.TryDequeue(out long pair, out var entry))
        {
            long current = pairCounts.GetValueOrDefault(pair);
            if (current != entry.Count) { if (current > 0) heap.Enqueue(pair, (current, pair)); continue; }
            if (current < options.MinFrequency) break;
            int left = (int)(pair >> 32), right = (int)(uint)pair, merged = tokens.Count;
            tokens.Add(tokens[left] + tokens[right]);
            merges.Add((left, right));
            delta.Clear();
            stamp++;
            foreach (int w in where[pair])
            {
                if (visited[w] == stamp) continue;
                visited[w] = stamp;
                MergeInWord(words[w], ref lengths[w], left, right, merged, counts[w], delta, where, w);
            }
            where.Remove(pair);
            foreach (var (key, d) in delta)
            {
                if (d == 0) continue;
                long c = pairCounts.GetValueOrDefault(key) + d;
                if (c <= 0) pairCounts.Remove(key); else pairCounts[key] = c;
                if (d > 0) heap.Enqueue(key, (c, key));
            }
        }
        return merges;
    }

    /// <summary>Merges every non-overlapping (left, right) in one word, left to right, and records the change
    /// in pair counts (weighted by the word's count) in <paramref name="delta"/>.</summary>
    private static void MergeInWord(int[] word, ref int length, int left, int right, int merged, long count,
        Dictionary<long, long> delta, Dictionary<long, List<int>> where, int wordIndex)
    {
        int n = length;
        for (int i = 0; i + 1 < n; i++) Add(delta, BpeModel.PairKey(word[i], word[i + 1]), -count);
        int o = 0;
        for (int i = 0; i < n; i++)
        {
            if (i + 1 < n && word[i] == left && word[i + 1] == right) { word[o++] = merged; i++; }
            else word[o++] = word[i];
        }
        length = n = o;
        for (int i = 0; i + 1 < n; i++)
        {
            long key = BpeModel.PairKey(word[i], word[i + 1]);
            Add(delta, key, count);
            if (word[i] == merged || word[i + 1] == merged)
            {
                var list = where.TryGetValue(key, out var l) ? l : where[key] = new List<int>();
                if (list.Count == 0 || list[^1] != wordIndex) list.Add(wordIndex);
            }
        }
    }

    private static void Add(Dictionary<long, long> d, long key, long value) =>
        d[key] = d.GetValueOrDefault(key) + value;
}
