// TokenizerEncoder — the project's Hugging Face tokenizer (SharpSeek.Tokenizers) as the data pipeline's encoder.
// The fingerprint is the SHA-256 of tokenizer.json (and tokenizer_config.json when present), so retraining or
// editing the tokenizer invalidates cached shards.
using System.Security.Cryptography;
using SharpSeek.Tokenizers;

namespace SharpSeek.Training.Data;

public sealed class TokenizerEncoder(Tokenizer tokenizer, string fingerprint) : ITokenEncoder
{
    public Tokenizer Tokenizer { get; } = tokenizer;
    public int VocabSize => Tokenizer.VocabSize;
    public int? EndOfDocumentId => Tokenizer.EosId;
    public string Fingerprint { get; } = fingerprint;

    public int[] Encode(string text) => Tokenizer.Encode(text);

    /// <summary>Loads DIR/tokenizer.json (+ tokenizer_config.json).</summary>
    public static TokenizerEncoder Load(string dir)
    {
        Tokenizer tok = Tokenizer.Load(dir);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string name in (ReadOnlySpan<string>)["tokenizer.json", "tokenizer_config.json"])
        {
            string path = Path.Combine(dir, name);
            if (File.Exists(path)) sha.AppendData(File.ReadAllBytes(path));
        }
        return new TokenizerEncoder(tok, "sha256:" + Convert.ToHexStringLower(sha.GetHashAndReset()));
    }
}
