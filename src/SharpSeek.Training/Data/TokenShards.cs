// TokenShards — tokenize a corpus once into train/validation TokenShards, cached by a content hash of the corpus
// and the tokenizer: `<cache>/shards/<key[..16]>/{train,val}.tokens`. A second run with the same corpus and
// tokenizer maps the existing files; any change to either yields a new key (and a rebuild).
using System.Security.Cryptography;
using System.Text;

namespace SharpSeek.Training.Data;

public sealed class TokenShards : IDisposable
{
    public TokenShard Train { get; }
    public TokenShard Validation { get; }
    public string Directory { get; }
    public bool FromCache { get; }

    private TokenShards(TokenShard train, TokenShard val, string dir, bool fromCache) =>
        (Train, Validation, Directory, FromCache) = (train, val, dir, fromCache);

    /// <summary>The 32-byte cache key: SHA-256 of the corpus hash, the tokenizer fingerprint, the split rule and
    /// the shard format version.</summary>
    public static byte[] CacheKey(string corpusHash, ITokenEncoder encoder) =>
        SHA256.HashData(Encoding.UTF8.GetBytes(
            $"corpus={corpusHash}\ntokenizer={encoder.Fingerprint}\nvocab={encoder.VocabSize}\neod={encoder.EndOfDocumentId}\n" +
            $"split=every-{CorpusSource.ValidationEvery}th-document\nshard=v{TokenShard.Version}\n"));

    /// <summary>Opens the cached shards for (corpus, tokenizer) or builds them.</summary>
    public static TokenShards BuildOrOpen(IReadOnlyList<CorpusDocument> docs, ITokenEncoder encoder, string cacheRoot)
    {
        byte[] key = CacheKey(CorpusSource.ContentHash(docs), encoder);
        string dir = Path.Combine(cacheRoot, "shards", Convert.ToHexStringLower(key)[..16]);
        string trainPath = Path.Combine(dir, "train.tokens"), valPath = Path.Combine(dir, "val.tokens");
        if (TryOpen(trainPath, key) is { } cachedTrain)
        {
            if (TryOpen(valPath, key) is { } cachedVal) return new TokenShards(cachedTrain, cachedVal, dir, true);
            cachedTrain.Dispose();
        }
        var (train, val) = CorpusSource.Split(docs);
        if (val.Count == 0) throw new InvalidDataException("the corpus is too small to hold out a validation split; give it at least two lines of text.");
        TokenShard.Write(trainPath, Encode(train, encoder), encoder.VocabSize, key);
        TokenShard.Write(valPath, Encode(val, encoder), encoder.VocabSize, key);
        return new TokenShards(TokenShard.Open(trainPath), TokenShard.Open(valPath), dir, false);
    }

    private static TokenShard? TryOpen(string path, byte[] key)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var shard = TokenShard.Open(path);
            if (shard.KeyHash.AsSpan().SequenceEqual(key)) return shard;
            shard.Dispose();
        }
        catch (InvalidDataException) { } // a damaged cache file is rebuilt
        return null;
    }

    /// <summary>Encodes documents in parallel, concatenated in document order, each followed by the EOD id.</summary>
    internal static int[] Encode(IReadOnlyList<string> texts, ITokenEncoder encoder)
    {
        var parts = new int[texts.Count][];
        Parallel.For(0, texts.Count, i => parts[i] = encoder.Encode(texts[i]));
        int eod = encoder.EndOfDocumentId is null ? 0 : 1;
        long total = parts.Sum(p => (long)p.Length + eod);
        if (total > Array.MaxLength) throw new InvalidDataException($"the corpus has {total} tokens; shards are limited to {Array.MaxLength} per split.");
        var all = new int[total];
        int at = 0;
        foreach (int[] p in parts)
        {
            p.CopyTo(all, at);
            at += p.Length;
            if (encoder.EndOfDocumentId is { } id) all[at++] = id;
        }
        return all;
    }

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
    }
}
