// Generator — the generation loop for one prompt: prefill, then sample and decode until EOS or max tokens,
// streaming each token to a callback, with prefill and decode throughput.
using System.Diagnostics;

namespace SharpSeek.Inference;

public sealed record GenerationResult(int[] Tokens, bool StoppedAtEos, int PromptTokens, double PrefillSeconds,
    double DecodeSeconds, long KvBytesPerToken, long KvBytesUsed)
{
    public double PrefillTokensPerSecond => PromptTokens / Math.Max(PrefillSeconds, 1e-9);
    /// <summary>Decode steps after the first sampled token (each step is one forward).</summary>
    public double DecodeTokensPerSecond => Math.Max(0, Tokens.Length - 1) / Math.Max(DecodeSeconds, 1e-9);
}

public static class Generator
{
    /// <summary>Throws unless at least one token is asked for; callers check before they build an engine.</summary>
    public static void CheckMaxTokens(int maxTokens)
    {
        if (maxTokens < 1) throw new ArgumentException($"--max-tokens must be >= 1 (got {maxTokens}).");
    }

    public static GenerationResult Generate(InferenceEngine engine, int[] prompt, int maxTokens, SamplingOptions sampling,
        int? eosTokenId, Action<int>? onToken = null)
    {
        if (prompt.Length == 0) throw new ArgumentException("the prompt is empty.");
        CheckMaxTokens(maxTokens);
        if (prompt.Length + maxTokens > engine.MaxSeqLen)
            throw new ArgumentException($"prompt ({prompt.Length}) + max tokens ({maxTokens}) exceed the context of {engine.MaxSeqLen}.");
        var sampler = new Sampler(sampling);
        var logits = new float[engine.Vocab];
        engine.Reset(0);
        var sw = Stopwatch.StartNew();
        engine.Prefill([(0, prompt)], logits);
        double prefill = sw.Elapsed.TotalSeconds;
        var tokens = new List<int>();
        bool eos = false;
        sw.Restart();
        int[] slot = [0], next = [0];
        while (true)
        {
            int t = sampler.Next(logits);
            tokens.Add(t);
            onToken?.Invoke(t);
            if (t == eosTokenId) { eos = true; break; }
            if (tokens.Count >= maxTokens) break;
            next[0] = t;
            engine.Decode(slot, next, logits);
        }
        double decode = sw.Elapsed.TotalSeconds;
        return new GenerationResult([.. tokens], eos, prompt.Length, prefill, decode, engine.KvBytesPerToken,
            engine.KvBytesPerToken * engine.Length(0));
    }
}
