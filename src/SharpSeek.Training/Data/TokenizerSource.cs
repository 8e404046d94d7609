// TokenizerSource — the run's tokenizer: `--tokenizer DIR` (a Hugging Face tokenizer.json), or by default a
// byte-level BPE with the preset's vocabulary size trained on the TRAINING split of the corpus (never on the
// validation documents), cached at `<cache>/tokenizers/<key[..16]>/` where key = SHA-256(corpus hash, vocab size).
using System.Security.Cryptography;
using System.Text;
using SharpSeek.Tokenizers;

namespace SharpSeek.Training.Data;

public static class TokenizerSource
{
    /// <summary>The encoder and the directory holding its tokenizer files (copied into checkpoints).
    /// <paramref name="trained"/> says whether a BPE was trained by this call.</summary>
    public static (TokenizerEncoder Encoder, string Directory) Resolve(string? tokenizerDir, IReadOnlyList<CorpusDocument> docs,
        int vocabSize, string cacheRoot, out bool trained)
    {
        trained = false;
        if (tokenizerDir is not null)
        {
            var given = TokenizerEncoder.Load(tokenizerDir);
            if (given.VocabSize > vocabSize)
                throw new ArgumentException($"--tokenizer {tokenizerDir} has {given.VocabSize} tokens but the model's vocab_size is {vocabSize}; use a config with vocab_size ≥ {given.VocabSize}.");
            return (given, tokenizerDir);
        }
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"corpus={CorpusSource.ContentHash(docs)}\nvocab={vocabSize}\nsplit=train\nbpe=v1\n")))[..16];
        string dir = Path.Combine(cacheRoot, "tokenizers", key);
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
        {
            var (train, _) = CorpusSource.Split(docs);
            BpeTrainingResult result = BpeTrainer.Train(train, new BpeTrainerOptions { VocabSize = vocabSize });
            string tmp = dir + $".tmp-{Environment.ProcessId}";
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            result.Save(tmp);
            Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); // an incomplete earlier attempt
            Directory.Move(tmp, dir);
            trained = true;
        }
        return (TokenizerEncoder.Load(dir), dir);
    }
}
