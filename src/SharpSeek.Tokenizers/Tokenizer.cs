using System.Text;

namespace SharpSeek.Tokenizers;

/// <summary>Thrown when a token id to decode is not in the vocabulary.</summary>
public sealed class UnknownTokenIdException(int id, int vocabSize)
    : ArgumentException($"Token id {id} is not in the vocabulary (valid ids are 0..{vocabSize - 1}, excluding holes).")
{
    public int Id { get; } = id;
}

/// <summary>
/// A Hugging Face byte-level BPE tokenizer (tokenizer.json), exact to the Rust implementation:
/// added tokens are cut out first, the rest goes through the pre-tokenizer Sequence, each pre-token's UTF-8 bytes
/// through BPE. Thread-safe: per-thread scratch buffers and a per-thread pre-token cache.
/// </summary>
public sealed class Tokenizer
{
    private readonly string[] _idToToken;       // (VocabSize) token string per id ("" = hole)
    private readonly byte[][] _idToBytes;       // (VocabSize) bytes each id decodes to
    private readonly bool[] _isSpecial;         // (VocabSize)
    private readonly Dictionary<string, int> _tokenToId;
    private readonly AddedTokenMatcher _added;
    private readonly PreTokenizer _preTokenizer;
    private readonly BpeModel _bpe;
    private readonly bool _ignoreMerges;
    private readonly int[] _prefixIds, _suffixIds;
    private readonly ThreadLocal<Scratch> _scratch = new(() => new Scratch());

    /// <summary>Pre-tokens up to this many chars are cached (per thread) with their ids.</summary>
    public const int CacheMaxChars = 48;

    public Tokenizer(TokenizerJson.Parts parts)
    {
        _idToToken = parts.IdToToken;
        _tokenToId = new Dictionary<string, int>(parts.Vocab, StringComparer.Ordinal);
        foreach (AddedToken a in parts.AddedTokens) _tokenToId[a.Content] = a.Id;
        _isSpecial = new bool[_idToToken.Length];
        foreach (AddedToken a in parts.AddedTokens) _isSpecial[a.Id] = a.Special;
        _idToBytes = new byte[_idToToken.Length][];
        for (int id = 0; id < _idToToken.Length; id++) _idToBytes[id] = ByteLevel.DecodeToken(_idToToken[id]);
        _added = new AddedTokenMatcher(parts.AddedTokens);
        _preTokenizer = new PreTokenizer(parts.PreTokenizerSteps);
        _bpe = BuildBpe(parts.Vocab, parts.Merges);
        _ignoreMerges = parts.IgnoreMerges;
        _prefixIds = parts.PrefixIds;
        _suffixIds = parts.SuffixIds;
        BosToken = parts.BosToken;
        EosToken = parts.EosToken;
        ChatTemplateSource = parts.ChatTemplate;
        AddedTokens = parts.AddedTokens;
    }

    /// <summary>Loads <c>DIR/tokenizer.json</c> and, when present, <c>DIR/tokenizer_config.json</c>
    /// (or a tokenizer.json path directly).</summary>
    public static Tokenizer Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        if (!File.Exists(file))
            throw new FileNotFoundException($"No tokenizer.json at '{file}'. Pass a directory holding tokenizer.json " +
                "(and tokenizer_config.json), e.g. a Hugging Face model directory or one written by `sharpseek tokenizer train`.", file);
        string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, "tokenizer_config.json");
        return new Tokenizer(TokenizerJson.Parse(File.ReadAllBytes(file), File.Exists(config) ? File.ReadAllText(config) : null, file));
    }

    public static Tokenizer FromJson(string tokenizerJson, string? configJson, string source = "tokenizer.json") =>
        new(TokenizerJson.Parse(tokenizerJson, configJson, source));

    public int VocabSize => _idToToken.Length;
    public string? BosToken { get; }
    public string? EosToken { get; }
    public int? BosId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosId => EosToken is null ? null : TokenToId(EosToken);
    public string? ChatTemplateSource { get; }
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    public BpeModel Bpe => _bpe;
    public PreTokenizer PreTokenizer => _preTokenizer;

    /// <summary>The tokenizer_config.json chat template, parsed on first use; null when there is none.</summary>
    public ChatTemplate? ChatTemplate => ChatTemplateSource is null ? null
        : _chatTemplate ??= new ChatTemplate(ChatTemplateSource, BosToken, EosToken);
    private ChatTemplate? _chatTemplate;

    /// <summary>Renders <paramref name="messages"/> with the chat template and encodes the prompt (the template
    /// writes BOS itself, so no special tokens are added around it).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ChatTemplate template = ChatTemplate ?? throw new InvalidOperationException(
            "This tokenizer has no chat_template in tokenizer_config.json; pass a template or format the prompt yourself.");
        return Encode(template.Render(messages, addGenerationPrompt));
    }

    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length && _idToToken[id].Length > 0 ? _idToToken[id] : null;

    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids, addSpecialTokens);
        return ids.ToArray();
    }

    /// <summary>Appends the ids of <paramref name="text"/>. Unpaired surrogates are encoded as U+FFFD.
    /// <paramref name="addSpecialTokens"/> adds the post-processor's tokens (for DeepSeek-V3: BOS, as
    /// transformers' add_bos_token does); added tokens inside the text are always recognised.</summary>
    public void Encode(string text, List<int> output, bool addSpecialTokens = false)
    {
        text = CodePointText.ReplaceLoneSurrogates(text);
        if (addSpecialTokens) output.AddRange(_prefixIds);
        Scratch s = _scratch.Value!;
        _added.Split(text, s.Segments);
        var whole = CodePointText.Of(text);
        bool plain = ReferenceEquals(whole.View, whole.Source); // no supplementary code points: view == source
        foreach (Segment seg in s.Segments)
        {
            if (seg.TokenId >= 0) { output.Add(seg.TokenId); continue; }
            if (plain) EncodeView(whole, seg.Start, seg.Length, output, s);
            else
            {
                var cpt = CodePointText.Of(text.Substring(seg.Start, seg.Length));
                EncodeView(cpt, 0, cpt.View.Length, output, s);
            }
        }
        if (addSpecialTokens) output.AddRange(_suffixIds);
    }

    private void EncodeView(CodePointText text, int start, int length, List<int> output, Scratch s)
    {
        _preTokenizer.Split(text.View, start, length, s.Pieces, s.PiecesScratch);
        foreach (Piece p in s.Pieces)
        {
            int from = text.ToSource(p.Start), to = text.ToSource(p.Start + p.Length);
            EncodePiece(text.Source.AsSpan(from, to - from), p.PrefixSpace, output, s);
        }
    }

    private void EncodePiece(ReadOnlySpan<char> chars, bool prefixSpace, List<int> output, Scratch s)
    {
        bool cacheable = !prefixSpace && chars.Length <= CacheMaxChars;
        ulong hash = cacheable ? PieceCache.Hash(chars) : 0;
        if (cacheable && s.Cache.TryAppend(chars, hash, output)) return;
        int max = chars.Length * 3 + 1;
        if (s.Bytes.Length < max) s.Bytes = new byte[Math.Max(max, 2 * s.Bytes.Length)];
        int n = 0;
        if (prefixSpace) s.Bytes[n++] = (byte)' ';
        n += Encoding.UTF8.GetBytes(chars, s.Bytes.AsSpan(n));
        ReadOnlySpan<byte> word = s.Bytes.AsSpan(0, n);
        int first = output.Count;
        if (!(_ignoreMerges && TryWholeWord(word, output))) _bpe.EncodeWord(word, output);
        if (cacheable) s.Cache.Add(chars, hash, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[first..]);
    }

    private bool TryWholeWord(ReadOnlySpan<byte> word, List<int> output)
    {
        if (!_tokenToId.TryGetValue(ByteLevel.Encode(word), out int id)) return false;
        output.Add(id);
        return true;
    }

    /// <summary>Decodes ids to text as Hugging Face's ByteLevel decoder does (bytes joined, invalid UTF-8 becomes
    /// U+FFFD). An id outside the vocabulary throws <see cref="UnknownTokenIdException"/> (Hugging Face silently
    /// drops it; we prefer a loud error).</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        int total = 0;
        foreach (int id in ids) total += BytesOf(id).Length;
        byte[] buffer = total <= 4096 ? (_scratch.Value!.DecodeBytes ??= new byte[4096]) : new byte[total];
        int n = 0;
        foreach (int id in ids)
        {
            if (skipSpecialTokens && _isSpecial[id]) continue;
            byte[] b = _idToBytes[id];
            b.CopyTo(buffer, n);
            n += b.Length;
        }
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>The bytes <paramref name="id"/> decodes to; throws <see cref="UnknownTokenIdException"/>.</summary>
    internal byte[] BytesOf(int id)
    {
        if ((uint)id >= (uint)_idToToken.Length || _idToToken[id].Length == 0) throw new UnknownTokenIdException(id, VocabSize);
        return _idToBytes[id];
    }

    private static BpeModel BuildBpe(Dictionary<string, int> vocab, List<(int Left, int Right, int Merged)> merges)
    {
        var byteIds = new int[256];
        for (int b = 0; b < 256; b++) byteIds[b] = vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out int id) ? id : -1;
        var table = new PairTable(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
            table.TryAdd(BpeModel.PairKey(merges[rank].Left, merges[rank].Right), rank, merges[rank].Merged); // lowest rank wins
        return new BpeModel(byteIds, table);
    }

    private sealed class Scratch
    {
        public readonly List<Segment> Segments = new();
        public readonly List<Piece> Pieces = new();
        public readonly List<Piece> PiecesScratch = new();
        public readonly PieceCache Cache = new();
        public byte[] Bytes = new byte[256];
        public byte[]? DecodeBytes;
    }
}
