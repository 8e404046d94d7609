// UnigramBaseline — the loss a model that ignores context would reach: the cross-entropy of the validation tokens
// under the training split's unigram distribution (add-one smoothed, so unseen tokens cost log(N + V), not ∞).
// A trained model's validation loss is judged against this number (issue 5: "far below the unigram entropy").
namespace SharpSeek.Training.Data;

public sealed record UnigramBaseline(double TrainEntropy, double ValidationCrossEntropy)
{
    public static UnigramBaseline Of(TokenShard train, TokenShard validation)
    {
        int vocab = Math.Max(train.VocabSize, validation.VocabSize);
        var counts = new long[vocab];
        var chunk = new int[1 << 16];
        ForEachChunk(train, chunk, part => { foreach (int t in part) counts[t]++; });
        double n = train.Count;
        double entropy = 0;
        foreach (long c in counts)
            if (c > 0) entropy -= c / n * Math.Log(c / n);
        double denominator = n + vocab, total = 0;
        ForEachChunk(validation, chunk, part => { foreach (int t in part) total -= Math.Log((counts[t] + 1) / denominator); });
        return new UnigramBaseline(entropy, validation.Count == 0 ? double.NaN : total / validation.Count);
    }

    private delegate void ChunkAction(ReadOnlySpan<int> part);

    private static void ForEachChunk(TokenShard shard, int[] buffer, ChunkAction action)
    {
        for (long start = 0; start < shard.Count; start += buffer.Length)
        {
            int len = (int)Math.Min(buffer.Length, shard.Count - start);
            shard.Read(start, buffer.AsSpan(0, len));
            action(buffer.AsSpan(0, len));
        }
    }
}
